"""The application layer: the one thing chat adapters (Telegram, the terminal chat, Discord next) call.

:class:`CrateApp` holds the use cases — link, sync, import, train, score a text / photo / typed barcode,
feedback, settings, stats, digest, forget — and the policy around them (when a sync retrains, which texts a user
sees); :class:`Operations` holds those of the shell (``crate``: import a file, train, link by OAuth, sync,
retrain, roll back) and :mod:`core.app.evaluation` the evaluation and the demo. They return plain results
(replies with their score cards and choices, texts, progress through a callback) that an adapter renders in its
own widgets; they never know which platform asked.
"""
from __future__ import annotations

# what adapters may use besides the use cases: the result types they render, the helpers that render them, and
# the two things every adapter must do with secrets (register a token so logs redact it)
from ..barcode import typed_code
from ..cards import ATTRIBUTION, render_card, render_chat_card, render_why
from ..chat_cards import CardRef, CardRegistry
from ..config import ConfigError, get_config
from ..conversation import Reply
from ..discogs.gateway import Candidate, DiscogsError
from ..recommender import Recommender, ScoreCard
from ..refs import find_refs
from ..secrets import install_redaction, register_secret
from ..storage import Store
from .operations import BarcodeAnswer, OAuthFlow, Operations, Refusal
from .service import CURRENCIES, FORGET_ASK, NOT_KNOWN, NOT_SYNCED, OFFLINE, CrateApp, SyncOutcome

__all__ = ["CrateApp", "SyncOutcome", "Operations", "Refusal", "OAuthFlow", "BarcodeAnswer", "ConfigError",
           "get_config", "CURRENCIES", "FORGET_ASK", "NOT_KNOWN", "NOT_SYNCED", "OFFLINE",
           "Reply", "ScoreCard", "Candidate", "CardRef", "CardRegistry", "DiscogsError", "Recommender", "Store",
           "ATTRIBUTION", "render_card", "render_chat_card", "render_why", "find_refs", "typed_code",
           "install_redaction", "register_secret"]
