"""The application layer: the one thing chat adapters (Telegram, the terminal chat, Discord next) call.

:class:`CrateApp` holds the use cases — link, sync, import, train, score a text / photo / typed barcode,
feedback, settings, stats, digest, forget — and the policy around them (when a sync retrains, which texts a user
sees); :class:`Operations` holds those of the shell (``crate``: import a file, train, link by OAuth, sync,
retrain, roll back) and :mod:`core.app.evaluation` the evaluation and the demo. They return plain results
(replies with their score cards and choices, texts, progress through a callback) that an adapter renders in its
own widgets; they never know which platform asked.
"""
from __future__ import annotations

from core.app.cards import ATTRIBUTION, render_card, render_chat_card, render_why
from core.app.chat_cards import CardRef, CardRegistry
from core.app.conversation import Reply
from core.app.discover import EXPIRED, KIND_LABELS, PickPage, pick_card, render_picks
from core.app.group import Group, GroupAnswer, TasteMatch
from core.app.inbox import DurableInbox
from core.app.jobs import WorkerDied, jobs_for
from core.app.operations import DATABASE_BUSY, BarcodeAnswer, OAuthFlow, Operations, Refusal, database_busy
from core.app.service import CURRENCIES, FORGET_ASK, NOT_KNOWN, NOT_SYNCED, OFFLINE, CrateApp, SyncOutcome

# what adapters may use besides the use cases: the result types they render, the helpers that render them, and
# the two things every adapter must do with secrets (register a token so logs redact it)
from core.barcode import typed_code
from core.config import ConfigError, get_config
from core.discogs.gateway import Candidate, DiscogsError
from core.domain.refs import find_refs
from core.picks import Pick, Picks
from core.recommender import Recommender, ScoreCard
from core.secrets import SecretError, install_redaction, register_secret
from core.storage import Store

__all__ = ["jobs_for", "WorkerDied", "CrateApp", "Group", "GroupAnswer", "TasteMatch",
           "SyncOutcome", "DurableInbox", "Operations", "Refusal", "OAuthFlow", "BarcodeAnswer",
           "ConfigError", "SecretError", "DATABASE_BUSY", "database_busy",
           "get_config", "CURRENCIES", "FORGET_ASK", "NOT_KNOWN", "NOT_SYNCED", "OFFLINE",
           "Reply", "ScoreCard", "Candidate", "CardRef", "CardRegistry", "DiscogsError", "Recommender", "Store",
           "ATTRIBUTION", "render_card", "render_chat_card", "render_why", "find_refs", "typed_code",
           "install_redaction", "register_secret",
           "EXPIRED", "KIND_LABELS", "PickPage", "Pick", "Picks", "pick_card", "render_picks"]
