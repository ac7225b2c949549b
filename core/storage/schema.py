"""The tables, their helpers and the engine of the store (see :mod:`core.storage`)."""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, SQLModel, create_engine

from core.config import database_url, private_dir
from core.domain.release import Release

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

LIST_NAMES: tuple[str, ...] = ("collection", "wantlist")
EXPLICIT_KINDS: tuple[str, ...] = ("like", "dislike", "bought")
IMPLICIT_KINDS: tuple[str, ...] = ("implicit_bought", "weak_negative")
FEEDBACK_KINDS: tuple[str, ...] = EXPLICIT_KINDS + IMPLICIT_KINDS
PURCHASE_KINDS: tuple[str, ...] = ("bought", "implicit_bought")
#: one row per (user, score, slot): a later 👍/👎 on the same score replaces the vote; "bought" is its own slot
FEEDBACK_SLOTS: dict[str, str] = {"like": "vote", "dislike": "vote", "bought": "bought",
                                  "implicit_bought": "bought", "weak_negative": "weak"}
FEEDBACK_SOURCES: tuple[str, ...] = ("telegram", "discord", "cli", "chat", "implicit")
MODEL_STATUSES: tuple[str, ...] = ("active", "retired", "rejected", "candidate")
MAX_REASON_CHARS = 500
MAX_EVENT_ID_CHARS = 200
DIGEST_SETTING = "last_digest_at"
AUTH_KINDS: tuple[str, ...] = ("username", "token", "oauth")
#: release ids: BIGINT on PostgreSQL (a pasted id may be any size; INTEGER would refuse the query), SQLite's INTEGER
RELEASE_ID = BigInteger().with_variant(Integer(), "sqlite")
_CHUNK = 500  # ids per IN (...) clause: stays under every backend's bound-parameter limit


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware-UTC timestamps on any backend (SQLite keeps no offset; values are stored and read as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.utcoffset() is None else value.astimezone(timezone.utc)


def _json_default(o: Any) -> Any:
    """Serialise numpy scalars/arrays, dates and anything else JSON does not know."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (date, datetime)):
        return o.isoformat()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, sort_keys=True)


def _loads(text: str | None, fallback: Any) -> Any:
    if not text:
        return fallback
    try:
        return json.loads(text)
    except ValueError:
        log.warning("unreadable JSON in database: %.80r", text)
        return fallback


def _as_utc(value: datetime) -> datetime:
    """Aware UTC (a naive value is taken as UTC)."""
    return value.replace(tzinfo=timezone.utc) if value.utcoffset() is None else value.astimezone(timezone.utc)


def _clean_text(value: Any, limit: int) -> str | None:
    """Whitespace-collapsed text, cut to ``limit`` characters; ``None`` when empty."""
    if value is None:
        return None
    out = " ".join(str(value).split())
    return out[:limit] or None


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


# --------------------------------------------------------------------------------------------- tables


class User(SQLModel, table=True):
    """A bot user (collector)."""

    __tablename__ = "users"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    settings: str | None = Field(default=None, sa_type=Text)  # JSON object

    @property
    def settings_dict(self) -> dict[str, Any]:
        return _loads(self.settings, {})


class CachedRelease(SQLModel, table=True):
    """A normalised :class:`Release`, stored as ``Release.to_dict()`` JSON."""

    __tablename__ = "cached_releases"

    release_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False}, sa_type=RELEASE_ID)
    data: str = Field(sa_type=Text)
    source: str = ""
    fetched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def release(self) -> Release:
        d = _loads(self.data, {})
        d["id"] = self.release_id
        return Release.from_dict(d)


class CollectionEntry(SQLModel, table=True):
    """One release in a user's collection or wantlist."""

    __tablename__ = "collection_entries"
    __table_args__ = (UniqueConstraint("user_id", "release_id", "list_name", name="uq_entry_user_release_list"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    release_id: int = Field(index=True, sa_type=RELEASE_ID)
    list_name: str = "collection"
    date_added: date | None = None
    rating: int | None = None
    source: str = ""
    price_paid: float | None = None
    currency: str | None = None
    # when the bot first stored this (release, list) entry, set by the store's writes and kept across re-imports.
    # NULL for entries stored by versions that did not record it (unknown), so they never count as newly added.
    # No column default: a kept NULL must stay NULL.
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # what the user's own file said about the release (JSON): theirs alone. The shared release cache holds only
    # what Discogs said (the sync, look-ups, the catalogue), so one user's import never changes another's card.
    release_data: str | None = None


class StagedEntry(SQLModel, table=True):
    """A collection entry of an import still being written (``batch``), in short transactions so that other users'
    writes never wait long; one short transaction then moves the batch into :class:`CollectionEntry`. Rows of an
    import killed half-way are swept by the next import (they are never read)."""

    __tablename__ = "collection_staging"

    id: int | None = Field(default=None, primary_key=True)
    batch: str = Field(index=True)
    user_id: int = Field(index=True)
    release_id: int = Field(sa_type=RELEASE_ID)
    list_name: str = "collection"
    date_added: date | None = None
    rating: int | None = None
    source: str = ""
    price_paid: float | None = None
    currency: str | None = None
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    release_data: str | None = None
    staged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ScoreServed(SQLModel, table=True):
    """A score shown to a user, so later feedback can refer to it."""

    __tablename__ = "scores_served"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    release_id: int = Field(index=True, sa_type=RELEASE_ID)
    probability: float
    label: str
    score_type: str
    reasons: str = Field(default="[]", sa_type=Text)  # JSON list of strings
    model_version: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def reasons_list(self) -> list[str]:
        return _loads(self.reasons, [])


_IMPLICIT_ROW = text("score_id IS NULL AND kind IN ('implicit_bought', 'weak_negative')")


class Feedback(SQLModel, table=True):
    """A user's reaction to a release (optionally to a specific served score).

    ``kind``: like / dislike / bought (explicit) or implicit_bought / weak_negative (inferred). ``slot`` groups
    kinds that replace each other: at most one row per (user, score, slot) and, for implicit rows without a
    score, per (user, release, slot). ``event_id`` is the platform's update/interaction id of the event that
    created the row (unique per user: a redelivered event is recognised). ``probability`` is the served score
    copied at write time; ``disagreement`` marks a 👎 on a score at or above ``scoring.buy_threshold`` or a 👍
    below ``scoring.maybe_threshold``.
    """

    __tablename__ = "feedback"
    # unique indexes (not table constraints) so that databases migrated from older versions get the very same
    # objects; NULLs are distinct on SQLite and PostgreSQL, so rows without a score/event are not constrained
    __table_args__ = (
        Index("uq_feedback_user_score_slot", "user_id", "score_id", "slot", unique=True),
        Index("uq_feedback_user_event", "user_id", "event_id", unique=True),
        Index("uq_feedback_user_release_implicit", "user_id", "release_id", "slot", unique=True,
              sqlite_where=_IMPLICIT_ROW, postgresql_where=_IMPLICIT_ROW),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    release_id: int = Field(index=True, sa_type=RELEASE_ID)
    score_id: int | None = Field(default=None, foreign_key="scores_served.id")
    kind: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=Text)
    source: str = Field(default="chat", sa_column_kwargs={"server_default": "chat"})
    event_id: str | None = None
    slot: str = Field(default="vote", sa_column_kwargs={"server_default": "vote"})
    probability: float | None = None
    disagreement: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    updated_at: datetime | None = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ModelVersion(SQLModel, table=True):
    """A trained per-user model artefact; at most one per user is active.

    ``status`` is the decision taken on the version: ``active`` (in service: one per user), ``retired`` (served
    until a newer version replaced it; a rollback target), ``candidate`` (stored, not activated) or
    ``rejected`` (failed a quality gate, or marked bad). ``active`` says whether it serves now, ``was_active``
    whether it ever did (rollback targets).
    """

    __tablename__ = "model_versions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    version: str
    path: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    metrics: str = Field(default="{}", sa_type=Text)  # JSON object
    n_positives: int = 0
    n_negatives: int = 0
    active: bool = False
    status: str = Field(default="active", sa_column_kwargs={"server_default": "active"})
    note: str | None = Field(default=None, sa_type=Text)
    was_active: bool = Field(default=False, sa_column_kwargs={"server_default": false()})

    @property
    def metrics_dict(self) -> dict[str, Any]:
        return _loads(self.metrics, {})


class LinkedAccount(SQLModel, table=True):
    """A user's Discogs account: username, how the bot authenticates, encrypted credentials and sync progress.

    ``auth_kind`` is ``username`` (public data only, no secrets), ``token`` (personal access token in
    ``token_enc``) or ``oauth`` (``oauth_token_enc`` + ``oauth_secret_enc``). The ``*_enc`` columns hold
    :meth:`core.secrets.SecretBox.encrypt` output, never plaintext.
    """

    __tablename__ = "linked_accounts"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", unique=True, index=True)
    discogs_username: str
    auth_kind: str = "username"
    token_enc: str | None = Field(default=None, sa_type=Text, repr=False)
    oauth_token_enc: str | None = Field(default=None, sa_type=Text, repr=False)
    oauth_secret_enc: str | None = Field(default=None, sa_type=Text, repr=False)
    currency: str = "EUR"
    linked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_sync_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sync_state: str = Field(default="{}", sa_type=Text)  # JSON object (newest date_added seen, counts, ...)

    @property
    def sync_state_dict(self) -> dict[str, Any]:
        return _loads(self.sync_state, {})

    @property
    def has_secrets(self) -> bool:
        """Whether any encrypted credential is stored."""
        return any((self.token_enc, self.oauth_token_enc, self.oauth_secret_enc))


class InboxEvent(SQLModel, table=True):
    """An update a chat platform delivered, kept (encrypted) from before the platform is told it arrived until
    every handler of it finished: a crash in between replays it on restart (see :mod:`core.app.inbox`)."""

    __tablename__ = "inbox_events"
    __table_args__ = (UniqueConstraint("platform", "event_id", name="uq_inbox_platform_event"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    event_id: str
    payload_enc: str = Field(sa_type=Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ServerShare(SQLModel, table=True):
    """A member's choice to be shown in one server (Discord guild, Telegram group): their name on a ranking and
    their taste. Keyed by the product's own user and the server, never by a platform's member cache. No row: not
    shown."""

    __tablename__ = "server_shares"
    __table_args__ = (UniqueConstraint("platform", "server_id", "user_id", name="uq_share_server_user"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    server_id: str = Field(index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    display_name: str = ""   # how the server knows them (bounded; shown on rankings)
    shared: bool = True
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChatCard(SQLModel, table=True):
    """One score card as sent in a chat (which message shows which card: see :mod:`core.app.chat_cards`). Defined
    here, with every other table, so the schema never depends on which modules were imported."""

    __tablename__ = "chat_cards"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "message_id", name="uq_chat_card_message"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    chat_id: str
    message_id: str
    user_name: str = Field(index=True)
    score_id: int | None = Field(default=None, index=True)
    text: str = Field(default="", sa_type=Text)
    why: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReleaseAudio(SQLModel, table=True):
    """What a release's previews sound like (shared, like :class:`CachedRelease`: a fact about the release, not
    about anyone). Only features and the services' track ids and pages are kept, never audio.

    ``status``: ``ok`` (features), ``none`` (no service has a preview), ``later`` (a service was down or over its
    quota: asked again on the next run)."""

    __tablename__ = "release_audio"

    release_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False}, sa_type=RELEASE_ID)
    status: str = "ok"
    source: str = ""                                   # deezer | itunes
    album_id: str = ""
    tracks: int = 0                                    # previews analysed
    features: str = Field(default="{}", sa_type=Text)  # tempo_bpm, energy, brightness, valence, arousal
    vector: str = Field(default="[]", sa_type=Text)    # the standardised vector (core.audio.features.VECTOR_NAMES)
    track_refs: str = Field(default="[]", sa_type=Text)   # [{id, title, page}] of the tracks analysed
    note: str = ""
    checked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def features_dict(self) -> dict[str, Any]:
        return dict(_loads(self.features, {}))

    @property
    def track_refs_list(self) -> list[dict[str, str]]:
        return list(_loads(self.track_refs, []))

    @property
    def vector_array(self) -> "np.ndarray":
        import numpy as np

        return np.asarray(_loads(self.vector, []), dtype=np.float32)


#: the scheduler's job table (APScheduler's SQLAlchemyJobStore, in the same database) and its per-user job ids
JOBS_TABLE = "apscheduler_jobs"
USER_JOB_PREFIXES = ("retrain:",)


@dataclass
class ForgetReport:
    """What :meth:`Store.forget_user` deleted: rows per table and the model artefact paths the caller should
    delete from disk (the store does not touch files)."""

    user_name: str
    found: bool
    deleted: dict[str, int] = field(default_factory=dict)
    model_paths: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- store


class Lease(SQLModel, table=True):
    """A named lease held by one process until ``expires_at`` (renewed while it lives): which of several bot
    processes on one database runs the scheduled jobs (:mod:`core.learning.leader`)."""

    __tablename__ = "leases"
    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=200)
    acquired_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class Watch(SQLModel, table=True):
    """A record a collector watches on the marketplace: marked on a card or with ``/watch`` (``source`` "watch"),
    or on their Discogs wantlist ("wantlist"). What the poller last saw is kept with it, and the price an alert
    last went out at, so the same price never alerts twice."""

    __tablename__ = "watches"
    __table_args__ = (UniqueConstraint("user_id", "release_id", name="uq_watch_user_release"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    release_id: int = Field(index=True, sa_type=RELEASE_ID)
    source: str = Field(default="watch", max_length=20)        # watch | wantlist
    max_price: float | None = None                            # in ``currency``; None: any price that is a drop
    currency: str = Field(default="EUR", max_length=3)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lowest_price: float | None = None                         # what the marketplace said at ``checked_at``
    num_for_sale: int | None = None
    blocked: bool = False                                     # Discogs bars the release from sale
    gone: bool = False                                        # the release was deleted from Discogs
    alerted_price: float | None = None                        # the price the last alert went out at
    alerted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PriceHistory(SQLModel, table=True):
    """A release's lowest marketplace price over time, in one currency (shared: a fact about the market, not
    about anyone): the first seen, the lowest seen and the last."""

    __tablename__ = "price_history"

    release_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False}, sa_type=RELEASE_ID)
    currency: str = Field(primary_key=True, max_length=3)
    first_price: float | None = None
    first_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lowest_price: float | None = None
    lowest_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_price: float | None = None
    last_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    checks: int = 0


class WatchAlert(SQLModel, table=True):
    """An alert sent to a collector about a watched record (the daily cap counts them; the digest lists them)."""

    __tablename__ = "watch_alerts"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    release_id: int = Field(sa_type=RELEASE_ID)
    price: float | None = None
    currency: str = Field(default="EUR", max_length=3)
    reason: str = Field(default="", max_length=40)            # back | below_max | drop
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")  # a no-op ("memory") for in-memory databases
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA secure_delete=ON")  # zero deleted content (unlinked credentials, forgotten users)
    finally:
        cur.close()


def _private_file(path: Path) -> None:
    """The database file 0600 in a folder the bot creates 0700 (collections and feedback are personal; SQLite
    gives its -wal and -shm files the database file's mode)."""
    if not path.parent.exists():
        private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    elif os.name == "posix" and path.stat().st_mode & 0o077:
        try:
            path.chmod(0o600)
        except OSError:   # not ours to change: leave it, but say so
            log.warning("database %s is readable by other users; chmod 600 it", path)


def make_engine(url: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url`` (default: the configured database), with SQLite pragmas installed."""
    if url is None:
        url = database_url()
    u = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if u.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False}
        if u.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        else:
            _private_file(Path(u.database).expanduser())
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
