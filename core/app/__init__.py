"""The application layer: the one thing the adapters (Telegram, Discord, the terminal chat, the ``crate`` shell)
call.

:func:`build_app` (the composition root) makes a :class:`CrateApp`: the use cases, one service per concern —
``accounts`` (link, sync, import, train, stats, settings, forget), ``scoring``, ``barcodes``, ``learning``
(feedback), ``picks`` (discover), groups — and the typed entry points buttons, reactions and numbers call
(``feedback``, ``open_pick``, ``score_release``) beside free text (``handle``). Every answer is a typed reply
(:mod:`core.app.replies`) that each adapter renders in its own widgets; a use case that cannot do what was asked
raises :class:`Refusal`. :class:`Operations` adds what only the shell does (catalogue, models, enrichment) and
:mod:`core.app.evaluation` the evaluation and the demo.
"""
from __future__ import annotations

from core.app.accounts import SyncOutcome
from core.app.barcodes import BarcodeAnswer
from core.app.cards import ATTRIBUTION, percent, render_card, render_chat_card, render_why
from core.app.chat_cards import CardRef, CardRegistry
from core.app.conversation import Context, watch_command
from core.app.discover import EXPIRED, KIND_LABELS, PickPage, pick_card, render_picks
from core.app.feedback import KINDS
from core.app.group import Group, GroupAnswer, TasteMatch
from core.app.inbox import DurableInbox
from core.app.jobs import WorkerDied, jobs_for
from core.app.operations import (
    DATABASE_BUSY,
    OAuthFlow,
    Operations,
    database_busy,
    database_unreachable,
    upgrade_database,
)
from core.app.replies import (
    FEEDBACK_SHORT,
    CardReply,
    Choice,
    Confirm,
    Noted,
    Notice,
    PicksReply,
    Refusal,
    Reply,
    SettingsReply,
)
from core.app.root import build_app, build_operations
from core.app.service import CrateApp
from core.app.watching import AlertOut, Watching, WatchRefused, WatchRow
from core.app.words import (
    BUSY,
    BUY_SHARES,
    CURRENCIES,
    FORGET_ASK,
    NOT_KNOWN,
    NOT_LINKED,
    NOT_SYNCED,
    OFFLINE,
    SERVER_ONLY,
    SETTING_NAMES,
    SYNC_STOPPED,
)

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
from core.storage.migrate import SchemaTooNew

__all__ = ["build_app", "build_operations", "jobs_for", "WorkerDied", "CrateApp", "Group", "GroupAnswer",
           "TasteMatch", "SyncOutcome", "DurableInbox", "Operations", "Refusal", "OAuthFlow", "BarcodeAnswer",
           "ConfigError", "SecretError", "DATABASE_BUSY", "database_busy",
           "database_unreachable", "upgrade_database", "SchemaTooNew", "get_config", "BUY_SHARES", "CURRENCIES",
           "FORGET_ASK",
           "NOT_KNOWN", "NOT_LINKED", "BUSY", "SYNC_STOPPED", "NOT_SYNCED", "OFFLINE", "SERVER_ONLY", "SETTING_NAMES",
           "KINDS",
           "Context",
           "Reply", "Notice", "CardReply", "Choice", "Noted", "PicksReply", "SettingsReply", "Confirm",
           "FEEDBACK_SHORT", "ScoreCard", "Candidate", "CardRef", "CardRegistry", "DiscogsError", "Recommender",
           "Store", "ATTRIBUTION", "percent", "render_card", "render_chat_card", "render_why", "find_refs",
           "typed_code", "install_redaction", "register_secret",
           "EXPIRED", "KIND_LABELS", "PickPage", "Pick", "Picks", "pick_card", "render_picks",
           "AlertOut", "Watching", "WatchRefused", "WatchRow", "watch_command"]
