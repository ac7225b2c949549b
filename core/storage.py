"""Persistence layer: users, cached releases, collections, served scores, feedback, model versions and linked
Discogs accounts.

SQLModel over SQLite by default (URL from :func:`core.config.database_url`); ``DATABASE_URL`` may select
PostgreSQL, so only portable SQL is used (no dialect-specific upserts; upserts are read-then-write in one
transaction). Every public method uses its own short-lived session; every multi-row write runs in ONE
transaction, so an exception part-way leaves the previous state intact.

Feedback is written exactly once per event and per (user, score, slot) (see :meth:`Store.record_feedback`);
implicit evidence (scored-then-bought, scored-often-never-bought) is derived from served scores and the
collection. Databases created by older versions are upgraded on open by a light, additive migration (missing
columns added and backfilled, missing indexes created; see :meth:`Store._migrate`).

JSON payloads (release data, settings, reasons, metrics) are stored as text. Timestamps are timezone-aware
UTC on every backend (naive values given to the store are taken as UTC).

Discogs credentials are stored only encrypted (by a :class:`core.secrets.SecretBox` the caller passes in); the
plaintext never reaches the database. On SQLite, ``secure_delete`` is on (deleted/overwritten content is zeroed)
and removing credentials or a user checkpoints and truncates the WAL, so unlinked secrets do not linger in the
file.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    event,
    false,
    func,
    inspect,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateColumn
from sqlmodel import Field, Session, SQLModel, create_engine, delete, select

from core.release import CollectionItem, Release

if TYPE_CHECKING:
    from core.secrets import SecretBox

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
MODEL_STATUSES: tuple[str, ...] = ("active", "rejected", "candidate")
MAX_REASON_CHARS = 500
MAX_EVENT_ID_CHARS = 200
DIGEST_SETTING = "last_digest_at"
AUTH_KINDS: tuple[str, ...] = ("username", "token", "oauth")
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

    release_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
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
    release_id: int = Field(index=True)
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


class ScoreServed(SQLModel, table=True):
    """A score shown to a user, so later feedback can refer to it."""

    __tablename__ = "scores_served"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    release_id: int = Field(index=True)
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
    release_id: int = Field(index=True)
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

    ``status`` is the decision taken on the version: ``active`` (put into service; it stays ``active`` after a
    newer version supersedes it), ``candidate`` (stored, not activated) or ``rejected`` (failed a quality gate,
    or marked bad). ``active`` says whether it serves now, ``was_active`` whether it ever did (rollback targets).
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


class ChatCard(SQLModel, table=True):
    """One score card as sent in a chat (which message shows which card: see :mod:`core.chat_cards`). Defined
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


def make_engine(url: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url`` (default: the configured database), with SQLite pragmas installed."""
    if url is None:
        from core.config import database_url

        url = database_url()
    u = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if u.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False}
        if u.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool  # one shared in-memory database
        else:
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Store:
    """All persistence for the bot. ``Store(url)``, ``Store(engine)`` or ``Store()`` (configured URL)."""

    def __init__(self, url: str | Engine | None = None, echo: bool = False, *, buy_threshold: float | None = None,
                 maybe_threshold: float | None = None) -> None:
        """``buy_threshold``/``maybe_threshold`` (for feedback disagreement flags) default to the configured
        ``scoring`` thresholds, read when first needed."""
        self.engine: Engine = url if isinstance(url, Engine) else make_engine(url, echo=echo)
        if isinstance(url, Engine) and self.engine.dialect.name == "sqlite":
            if not event.contains(self.engine, "connect", _sqlite_pragmas):
                event.listen(self.engine, "connect", _sqlite_pragmas)
        self._buy_threshold = buy_threshold
        self._maybe_threshold = maybe_threshold
        SQLModel.metadata.create_all(self.engine)
        self.migrations: list[str] = self._migrate()
        log.debug("store ready on %s", self.engine.url.render_as_string(hide_password=True))

    # -- schema migration

    def _migrate(self) -> list[str]:
        """Bring tables created by older versions up to date; returns what was done (empty when nothing).

        Light and additive only: missing columns are added with ``ALTER TABLE ... ADD COLUMN`` (nullable or with
        a server default) and backfilled, then missing indexes (the unique ones included) are created. Runs in
        one transaction (on SQLite, DDL may commit on its own; every step checks first, so a rerun completes an
        interrupted migration except for the one-off backfills).
        """
        done: list[str] = []
        dialect = self.engine.dialect
        prep = dialect.identifier_preparer
        with self.engine.begin() as conn:
            insp = inspect(conn)
            tables = set(insp.get_table_names())
            for table in SQLModel.metadata.sorted_tables:
                if table.name not in tables:
                    continue
                have = {c["name"] for c in insp.get_columns(table.name)}
                added: set[str] = set()
                for col in table.columns:
                    if col.name in have:
                        continue
                    if not col.nullable and col.server_default is None:  # a programming error, not a data one
                        raise RuntimeError(f"cannot add NOT NULL column {table.name}.{col.name} without a default")
                    ddl = CreateColumn(col).compile(dialect=dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {ddl}")
                    added.add(col.name)
                if added:
                    done.append(f"{table.name}: added {', '.join(sorted(added))}")
                    self._backfill(conn, table.name, added, done)
            for table in SQLModel.metadata.sorted_tables:
                if table.name not in tables:
                    continue
                names = {i["name"] for i in insp.get_indexes(table.name)}
                names |= {u["name"] for u in insp.get_unique_constraints(table.name)}
                for idx in sorted(table.indexes, key=lambda i: str(i.name)):
                    if idx.name in names:
                        continue
                    if idx.unique and idx.dialect_kwargs.get(f"{dialect.name}_where") is None:
                        self._drop_duplicates(conn, table.name, [c.name for c in idx.columns], done)
                    idx.create(conn)
                    done.append(f"{table.name}: created index {idx.name}")
        for step in done:
            log.info("schema migration: %s", step)
        return done

    def _backfill(self, conn: Connection, table: str, added: set[str], done: list[str]) -> None:
        """Fill columns just added to an old table with what the old rows imply."""
        if table == "feedback":
            fb = Feedback.__table__  # type: ignore[attr-defined]
            if "slot" in added:
                conn.execute(update(fb).where(fb.c.kind == "bought").values(slot="bought"))
            if "updated_at" in added:
                conn.execute(update(fb).values(updated_at=fb.c.created_at))
            if "probability" in added:
                ss = ScoreServed.__table__  # type: ignore[attr-defined]
                served = select(ss.c.probability).where(ss.c.id == fb.c.score_id).scalar_subquery()
                conn.execute(update(fb).where(fb.c.score_id.is_not(None)).values(probability=served))
            if "disagreement" in added:
                try:
                    buy, maybe = self._thresholds()
                except Exception as e:  # never block start-up on configuration
                    log.warning("disagreement flags not backfilled (no thresholds: %s)", e)
                else:
                    res = conn.execute(update(fb).where(fb.c.probability.is_not(None), (
                        (fb.c.kind == "dislike") & (fb.c.probability >= buy)) | (
                        (fb.c.kind == "like") & (fb.c.probability < maybe))).values(disagreement=True))
                    if res.rowcount:
                        done.append(f"feedback: flagged {res.rowcount} disagreements")
        elif table == "model_versions" and "was_active" in added:
            mv = ModelVersion.__table__  # type: ignore[attr-defined]
            conn.execute(update(mv).values(was_active=True))  # older versions activated every model they stored

    @staticmethod
    def _drop_duplicates(conn: Connection, table: str, columns: list[str], done: list[str]) -> None:
        """Before a unique index goes onto old data: keep the newest row (highest id) of each duplicate group."""
        same = " AND ".join(f"d.{c} = {table}.{c}" for c in columns)
        not_null = " AND ".join(f"{table}.{c} IS NOT NULL" for c in columns)
        res = conn.execute(text(f"DELETE FROM {table} WHERE {not_null} AND EXISTS "
                                f"(SELECT 1 FROM {table} d WHERE {same} AND d.id > {table}.id)"))
        if res.rowcount:
            log.warning("schema migration: removed %d superseded duplicate rows from %s (%s)", res.rowcount,
                        table, ", ".join(columns))
            done.append(f"{table}: removed {res.rowcount} duplicates of ({', '.join(columns)})")

    def _thresholds(self, buy: float | None = None, maybe: float | None = None) -> tuple[float, float]:
        """(buy, maybe) thresholds: the arguments, else the store's, else the configured ``scoring`` ones."""
        buy = buy if buy is not None else self._buy_threshold
        maybe = maybe if maybe is not None else self._maybe_threshold
        if buy is None or maybe is None:
            from core.config import get_config

            sc = get_config()["scoring"]
            buy = float(sc["buy_threshold"]) if buy is None else buy
            maybe = float(sc["maybe_threshold"]) if maybe is None else maybe
        return float(buy), float(maybe)

    # -- plumbing

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _find_user(s: Session, name: str) -> User | None:
        return s.exec(select(User).where(User.name == name)).first()

    def _scrub_sqlite(self) -> None:
        """SQLite: checkpoint and truncate the WAL so removed secrets leave no old page copies in ``-wal``.

        Best effort: with other connections reading, the checkpoint may be partial (the WAL is then truncated by
        a later checkpoint or when the last connection closes). ``secure_delete`` already zeroes the pages.
        """
        if self.engine.dialect.name != "sqlite" or self.engine.url.database in (None, "", ":memory:"):
            return
        try:
            with self.engine.connect() as conn:
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
            if busy and busy[0]:
                log.debug("WAL checkpoint incomplete (database busy); it will be truncated later")
        except Exception as e:  # never fail the (already committed) removal because of it
            log.debug("WAL checkpoint failed: %s", e)

    @classmethod
    def _ensure_user(cls, s: Session, name: str) -> User:
        if not name or not str(name).strip():
            raise ValueError("user name must be non-empty")
        user = cls._find_user(s, name)
        if user is None:
            user = User(name=name)
            s.add(user)
            s.flush()
        return user

    # -- users

    def get_or_create_user(self, name: str) -> User:
        """The user called ``name``, created if new."""
        try:
            with self._session() as s, s.begin():
                return self._ensure_user(s, name)
        except IntegrityError:  # created concurrently by someone else
            with self._session() as s:
                user = self._find_user(s, name)
                if user is None:
                    raise
                return user

    def users(self) -> list[str]:
        """All user names, sorted."""
        with self._session() as s:
            return list(s.exec(select(User.name).order_by(User.name)).all())

    def get_settings(self, user_name: str) -> dict[str, Any]:
        """The user's settings (empty for unknown users)."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            return user.settings_dict if user else {}

    def set_settings(self, user_name: str, settings: dict[str, Any]) -> None:
        """Replace the user's settings."""
        with self._session() as s, s.begin():
            self._ensure_user(s, user_name).settings = _dumps(settings)

    def last_digest_at(self, user_name: str) -> datetime | None:
        """When the user's last digest was sent (setting ``last_digest_at``), aware UTC; ``None`` if never."""
        raw = self.get_settings(user_name).get(DIGEST_SETTING)
        if not raw:
            return None
        try:
            when = datetime.fromisoformat(str(raw))
        except ValueError:
            log.warning("unreadable %s setting for %s: %.40r", DIGEST_SETTING, user_name, raw)
            return None
        return _as_utc(when)

    def set_last_digest_at(self, user_name: str, when: datetime | None = None) -> None:
        """Record when a digest was sent (default now), keeping the other settings (one transaction)."""
        stamp = _as_utc(when or utcnow())
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            settings = user.settings_dict
            settings[DIGEST_SETTING] = stamp.isoformat()
            user.settings = _dumps(settings)
            s.add(user)

    # -- releases

    @staticmethod
    def _upsert_releases(s: Session, releases: Iterable[Release], source: str) -> int:
        """Insert or merge releases (new values win, existing ones fill the gaps) inside session ``s``."""
        by_id: dict[int, Release] = {}
        for r in releases:
            rid = int(r.id)
            by_id[rid] = by_id[rid].merged_with(r) if rid in by_id else r
        if not by_id:
            return 0
        ids = list(by_id)
        existing: dict[int, CachedRelease] = {}
        for chunk in _chunks(ids):
            for row in s.exec(select(CachedRelease).where(CachedRelease.release_id.in_(chunk))):
                existing[row.release_id] = row
        now = utcnow()
        changed = 0
        for rid, rel in by_id.items():
            row = existing.get(rid)
            if row is None:
                s.add(CachedRelease(release_id=rid, data=_dumps(rel.to_dict()), source=source, fetched_at=now))
                changed += 1
                continue
            old = row.release
            merged = rel.merged_with(old)
            if merged.to_dict() != old.to_dict():
                row.data = _dumps(merged.to_dict())
                row.source = source or row.source
                row.fetched_at = now
                s.add(row)
                changed += 1
        log.debug("releases: %d given, %d inserted/updated", len(by_id), changed)
        return len(by_id)

    def cache_releases(self, releases: list[Release], source: str = "") -> int:
        """Upsert releases into the cache (one transaction); returns the number of distinct ids."""
        with self._session() as s, s.begin():
            return self._upsert_releases(s, releases, source)

    def get_release(self, release_id: int) -> Release | None:
        """A cached release, or ``None``."""
        with self._session() as s:
            row = s.get(CachedRelease, int(release_id))
            return row.release if row else None

    def get_releases(self, ids: Iterable[int]) -> dict[int, Release]:
        """Cached releases by id (missing ids are simply absent)."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, Release] = {}
        with self._session() as s:
            for chunk in _chunks(wanted):
                for row in s.exec(select(CachedRelease).where(CachedRelease.release_id.in_(chunk))):
                    out[row.release_id] = row.release
        return out

    def releases_older_than(self, age: timedelta, ids: Iterable[int] | None = None, *,
                            now: datetime | None = None) -> list[int]:
        """Ids of cached releases fetched more than ``age`` ago (among ``ids`` if given), oldest fetch first.

        For a refresh policy: ids that are not cached at all are not returned (they need a first fetch, not a
        refresh). Note that :meth:`cache_releases` keeps ``fetched_at`` when the data did not change; call
        :meth:`touch_releases` after re-fetching from the source so unchanged releases count as fresh.
        """
        if age < timedelta(0):
            raise ValueError("age must not be negative")
        cutoff = (now or utcnow()) - age
        rows: list[tuple[int, datetime]] = []
        with self._session() as s:
            base = select(CachedRelease.release_id, CachedRelease.fetched_at).where(CachedRelease.fetched_at < cutoff)
            if ids is None:
                rows.extend(s.exec(base).all())
            else:
                wanted = list(dict.fromkeys(int(i) for i in ids))
                for chunk in _chunks(wanted):
                    rows.extend(s.exec(base.where(CachedRelease.release_id.in_(chunk))).all())
        rows.sort(key=lambda r: (r[1], r[0]))
        return [rid for rid, _ in rows]

    def touch_releases(self, ids: Iterable[int], when: datetime | None = None) -> int:
        """Mark cached releases as fetched at ``when`` (default now), one transaction; returns rows updated."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        stamp = when or utcnow()
        n = 0
        with self._session() as s, s.begin():
            for chunk in _chunks(wanted):
                res = s.exec(update(CachedRelease).where(CachedRelease.release_id.in_(chunk))
                             .values(fetched_at=stamp))
                n += res.rowcount or 0
        return n

    # -- collections

    @staticmethod
    def _dedupe(items: Iterable[CollectionItem], list_name: str | None,
                source: str) -> dict[tuple[int, str], CollectionEntry]:
        """Entries keyed by (release id, list); duplicate copies merge (earliest date, first rating/price)."""
        out: dict[tuple[int, str], CollectionEntry] = {}
        dupes = 0
        now = utcnow()
        for it in items:
            ln = list_name or it.list_name or "collection"
            if ln not in LIST_NAMES:
                raise ValueError(f"list_name must be one of {LIST_NAMES}, got {ln!r}")
            rid = int(it.release.id)
            e = CollectionEntry(
                user_id=0, release_id=rid, list_name=ln, date_added=it.date_added,
                rating=it.rating or None, source=it.source or source,
                price_paid=it.price_paid, currency=it.currency, created_at=now,
            )
            prev = out.get((rid, ln))
            if prev is None:
                out[(rid, ln)] = e
                continue
            dupes += 1
            if e.date_added and (prev.date_added is None or e.date_added < prev.date_added):
                prev.date_added = e.date_added
            for f in ("rating", "price_paid", "currency"):
                if getattr(prev, f) is None:
                    setattr(prev, f, getattr(e, f))
        if dupes:
            log.info("merged %d duplicate collection rows (same release, same list)", dupes)
        return out

    def _write_items(self, user_name: str, items: list[CollectionItem], list_name: str | None,
                     source: str, replace: bool) -> int:
        entries = self._dedupe(items, list_name, source)
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            if replace:
                # entries that survive the re-import keep the time the bot first stored them
                first_seen = {(rid, ln): at for rid, ln, at in s.exec(
                    select(CollectionEntry.release_id, CollectionEntry.list_name, CollectionEntry.created_at)
                    .where(CollectionEntry.user_id == user.id, CollectionEntry.list_name == list_name)).all()}
                for key, e in entries.items():
                    if key in first_seen:
                        e.created_at = first_seen[key]
                s.exec(delete(CollectionEntry).where(CollectionEntry.user_id == user.id,
                                                     CollectionEntry.list_name == list_name))
                existing: dict[tuple[int, str], CollectionEntry] = {}
            else:
                existing = {}
                ids = sorted({rid for rid, _ in entries})
                for chunk in _chunks(ids):
                    q = select(CollectionEntry).where(CollectionEntry.user_id == user.id,
                                                      CollectionEntry.release_id.in_(chunk))
                    for row in s.exec(q):
                        existing[(row.release_id, row.list_name)] = row
            for key, e in entries.items():
                row = existing.get(key)
                if row is None:
                    e.user_id = user.id
                    s.add(e)
                else:  # upsert: new non-empty values win
                    for f in ("date_added", "rating", "price_paid", "currency"):
                        v = getattr(e, f)
                        if v is not None:
                            setattr(row, f, v)
                    row.source = e.source or row.source
                    s.add(row)
            self._upsert_releases(s, (it.release for it in items), source)
        log.info("%s %d %s entries for %s", "replaced" if replace else "upserted", len(entries),
                 list_name or "collection/wantlist", user_name)
        return len(entries)

    def replace_collection(self, user_name: str, items: list[CollectionItem], list_name: str = "collection",
                           source: str = "") -> int:
        """Atomically replace the user's ``list_name`` entries with ``items``; returns the entries stored.

        Every item is stored under ``list_name``; copies of one release collapse into one entry. Releases are
        upserted into the cache, merged with any richer data already there. ``source`` is the fallback for
        items with no source of their own, and the cache's source label.
        """
        if list_name not in LIST_NAMES:
            raise ValueError(f"list_name must be one of {LIST_NAMES}, got {list_name!r}")
        return self._write_items(user_name, items, list_name, source, replace=True)

    def add_items(self, user_name: str, items: list[CollectionItem], list_name: str | None = None,
                  source: str = "") -> int:
        """Upsert entries without deleting others (``list_name=None``: each item's own list); returns the count.

        Existing entries keep their values where the new item has none.
        """
        if list_name is not None and list_name not in LIST_NAMES:
            raise ValueError(f"list_name must be one of {LIST_NAMES}, got {list_name!r}")
        return self._write_items(user_name, items, list_name, source, replace=False)

    def collection(self, user_name: str, list_name: str | None = None) -> list[CollectionItem]:
        """The user's entries (one list or both) in insertion order, releases rebuilt from the cache."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = self._entries(user.id, list_name)
            rows = s.exec(q.order_by(CollectionEntry.id)).all()
        return self._items(rows)

    @staticmethod
    def _entries(user_id: int | None, list_name: str | None) -> Any:
        """Collection entries of a user (one list or both) with their cached releases."""
        q = (select(CollectionEntry, CachedRelease)
             .join(CachedRelease, CachedRelease.release_id == CollectionEntry.release_id, isouter=True)
             .where(CollectionEntry.user_id == user_id))
        return q if list_name is None else q.where(CollectionEntry.list_name == list_name)

    @staticmethod
    def _items(rows: Iterable[tuple[CollectionEntry, CachedRelease | None]]) -> list[CollectionItem]:
        out: list[CollectionItem] = []
        for e, cr in rows:
            rel = cr.release if cr is not None else Release(id=e.release_id)
            out.append(CollectionItem(release=rel, date_added=e.date_added, rating=e.rating, source=e.source,
                                      list_name=e.list_name, price_paid=e.price_paid, currency=e.currency))
        return out

    def collection_added_since(self, user_name: str, when: datetime,
                               list_name: str | None = "collection") -> list[CollectionItem]:
        """Entries the bot first stored at or after ``when`` (oldest first), e.g. for a digest.

        Based on the entry's ``created_at``, which re-imports keep for unchanged (release, list) pairs; entries
        stored before the column existed have none and are never returned. ``list_name=None``: both lists.
        """
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = self._entries(user.id, list_name).where(CollectionEntry.created_at >= when)
            rows = s.exec(q.order_by(CollectionEntry.created_at, CollectionEntry.id)).all()
        return self._items(rows)

    # -- scores and feedback

    def record_score(self, user_name: str, release_id: int, probability: float, label: str, score_type: str,
                     reasons: list[str], model_version: str | None = None) -> int:
        """Log a served score; returns its id (for feedback to refer to)."""
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            row = ScoreServed(user_id=user.id, release_id=int(release_id), probability=float(probability),
                              label=label, score_type=score_type, reasons=_dumps(list(reasons)),
                              model_version=model_version)
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def get_score(self, score_id: int) -> ScoreServed | None:
        """A served score by id."""
        with self._session() as s:
            return s.get(ScoreServed, int(score_id))

    def last_score(self, user_name: str) -> ScoreServed | None:
        """The most recent score served to the user."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None
            q = (select(ScoreServed).where(ScoreServed.user_id == user.id)
                 .order_by(ScoreServed.created_at.desc(), ScoreServed.id.desc()).limit(1))
            return s.exec(q).first()

    def scores(self, user_name: str, since: datetime | None = None) -> list[ScoreServed]:
        """Scores served to the user (at or after ``since`` if given), oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = select(ScoreServed).where(ScoreServed.user_id == user.id)
            if since is not None:
                q = q.where(ScoreServed.created_at >= since)
            return list(s.exec(q.order_by(ScoreServed.created_at, ScoreServed.id)).all())

    def record_feedback(self, user_name: str, kind: str, *, score_id: int | None = None,
                        release_id: int | None = None, reason: str | None = None, source: str = "chat",
                        event_id: str | int | None = None, buy_threshold: float | None = None,
                        maybe_threshold: float | None = None) -> tuple[Feedback, bool]:
        """Record feedback exactly once, in one transaction (call it before acknowledging the event).

        Returns ``(row, changed)``; ``changed`` is False when nothing was written. Rules:

        * ``event_id`` (the platform's update/interaction id): an event already recorded for this user is a
          no-op returning its row. A row keeps the id of the event that created it (an update fills it only
          when empty), so an in-order replay of redelivered events ends in the same state.
        * with ``score_id`` (this user's served score; ``release_id``, if given, must match it): one row per
          (user, score, slot). 👍 then 👎 updates the one "vote" row to the latest kind (``updated_at`` bumped,
          ``disagreement`` recomputed, the reason replaced); the same kind again is a no-op unless a new reason
          comes with it. "bought" is its own slot, so a 👍 and a purchase coexist.
        * without ``score_id``, ``release_id`` is required; implicit kinds (implicit_bought, weak_negative) are
          then unique per (user, release, slot); explicit kinds without a score are stored as given.

        ``probability`` is copied from the score (without one: the latest score served for the release, if any);
        disagreement thresholds default to the store's (see :class:`Store`). Raises ``ValueError`` for an unknown
        kind/source, a missing release id, or a score that does not exist or was not served to this user.
        """
        if kind not in FEEDBACK_KINDS:
            raise ValueError(f"feedback kind must be one of {FEEDBACK_KINDS}, got {kind!r}")
        if source not in FEEDBACK_SOURCES:
            raise ValueError(f"feedback source must be one of {FEEDBACK_SOURCES}, got {source!r}")
        if score_id is None and release_id is None:
            raise ValueError("feedback without a score_id needs a release_id")
        reason = _clean_text(reason, MAX_REASON_CHARS)
        event = _clean_text(event_id, MAX_EVENT_ID_CHARS)
        for attempt in (1, 2):
            try:
                with self._session() as s, s.begin():
                    return self._write_feedback(s, user_name, kind, score_id, release_id, reason, source, event,
                                                buy_threshold, maybe_threshold)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.debug("feedback for %s written concurrently; re-reading", user_name)
        raise AssertionError("unreachable")

    def _write_feedback(self, s: Session, user_name: str, kind: str, score_id: int | None,
                        release_id: int | None, reason: str | None, source: str, event_id: str | None,
                        buy_threshold: float | None, maybe_threshold: float | None) -> tuple[Feedback, bool]:
        user = self._ensure_user(s, user_name)
        if event_id is not None:
            seen = s.exec(select(Feedback).where(Feedback.user_id == user.id, Feedback.event_id == event_id)).first()
            if seen is not None:
                return seen, False
        slot = FEEDBACK_SLOTS[kind]
        target = None
        if score_id is not None:
            score = s.get(ScoreServed, int(score_id))
            if score is None:
                raise ValueError(f"no served score {score_id}")
            if score.user_id != user.id or (release_id is not None and score.release_id != int(release_id)):
                raise ValueError(f"score {score_id} was not served to {user_name!r} for release {release_id}")
            rid, sid, probability = score.release_id, score.id, score.probability
            target = s.exec(select(Feedback).where(Feedback.user_id == user.id, Feedback.score_id == sid,
                                                   Feedback.slot == slot)).first()
        else:
            rid, sid = int(release_id), None  # type: ignore[arg-type]
            probability = self._latest_probability(s, user.id, rid)
            if kind in IMPLICIT_KINDS:
                target = s.exec(select(Feedback).where(
                    Feedback.user_id == user.id, Feedback.release_id == rid, Feedback.slot == slot,
                    Feedback.score_id.is_(None), Feedback.kind.in_(IMPLICIT_KINDS))).first()
        now = utcnow()
        if target is None:
            row = Feedback(user_id=user.id, release_id=rid, score_id=sid, kind=kind, reason=reason, source=source,
                           event_id=event_id, slot=slot, probability=probability, created_at=now, updated_at=now,
                           disagreement=self._disagrees(kind, probability, buy_threshold, maybe_threshold))
            s.add(row)
            s.flush()
            return row, True
        if event_id is not None and target.event_id is None:
            target.event_id = event_id  # a redelivery of this event is then recognised as such
            s.add(target)
        if target.kind == kind and (reason is None or reason == target.reason):
            s.flush()
            return target, False
        target.kind, target.reason, target.source, target.updated_at = kind, reason, source, now
        if probability is not None:
            target.probability = probability
        target.disagreement = self._disagrees(kind, target.probability, buy_threshold, maybe_threshold)
        s.add(target)
        s.flush()
        return target, True

    @staticmethod
    def _latest_probability(s: Session, user_id: int | None, release_id: int) -> float | None:
        return s.exec(select(ScoreServed.probability)
                      .where(ScoreServed.user_id == user_id, ScoreServed.release_id == release_id)
                      .order_by(ScoreServed.created_at.desc(), ScoreServed.id.desc()).limit(1)).first()

    def _disagrees(self, kind: str, probability: float | None, buy: float | None = None,
                   maybe: float | None = None) -> bool:
        """👎 on a score >= buy threshold, or 👍 on a score < maybe threshold."""
        if probability is None or kind not in ("like", "dislike"):
            return False
        buy, maybe = self._thresholds(buy, maybe)
        return probability >= buy if kind == "dislike" else probability < maybe

    def add_feedback(self, user_name: str, release_id: int, kind: str, score_id: int | None = None) -> Feedback:
        """Record feedback (see :meth:`record_feedback`); ``score_id`` must be this user's score for the release."""
        return self.record_feedback(user_name, kind, score_id=score_id, release_id=release_id)[0]

    @staticmethod
    def _feedback_query(user_id: int | None, since: datetime | None):  # type: ignore[no-untyped-def]
        q = select(Feedback).where(Feedback.user_id == user_id)
        if since is not None:
            q = q.where(func.coalesce(Feedback.updated_at, Feedback.created_at) >= since)
        return q

    def feedback(self, user_name: str, since: datetime | None = None) -> list[Feedback]:
        """The user's feedback, oldest first; ``since``: rows created or changed at or after that time."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = self._feedback_query(user.id, since).order_by(Feedback.created_at, Feedback.id)
            return list(s.exec(q).all())

    def feedback_counts(self, user_name: str, since: datetime | None = None) -> dict[str, int]:
        """Rows per kind (every kind present, zeros included); ``since`` as in :meth:`feedback`."""
        counts = dict.fromkeys(FEEDBACK_KINDS, 0)
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return counts
            sub = self._feedback_query(user.id, since).subquery()
            for kind, n in s.exec(select(sub.c.kind, func.count()).group_by(sub.c.kind)).all():
                counts[kind] = int(n)
        return counts

    def disagreements(self, user_name: str, since: datetime | None = None) -> int:
        """How many of the user's feedback rows disagree with the served score; ``since`` as in :meth:`feedback`."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return 0
            sub = self._feedback_query(user.id, since).where(Feedback.disagreement.is_(True)).subquery()
            return int(s.exec(select(func.count()).select_from(sub)).one())

    @staticmethod
    def _unbought_query(user_id: int | None, min_times: int):  # type: ignore[no-untyped-def]
        purchased = select(Feedback.release_id).where(Feedback.user_id == user_id,
                                                      Feedback.kind.in_(PURCHASE_KINDS))
        listed = select(CollectionEntry.release_id).where(CollectionEntry.user_id == user_id)
        return (select(ScoreServed.release_id)
                .where(ScoreServed.user_id == user_id, ScoreServed.release_id.not_in(purchased),
                       ScoreServed.release_id.not_in(listed))
                .group_by(ScoreServed.release_id).having(func.count() >= int(min_times))
                .order_by(ScoreServed.release_id))

    def score_counts_without_purchase(self, user_name: str, min_times: int = 3) -> list[int]:
        """Release ids scored for the user at least ``min_times`` times that were never bought (no bought /
        implicit_bought feedback) and are in neither of the user's lists (collection or wantlist), ascending."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            return list(s.exec(self._unbought_query(user.id, min_times)).all())

    def record_implicit_purchases(self, user_name: str) -> int:
        """Turn scored releases that have since appeared in the user's collection into ``implicit_bought``
        feedback (source ``implicit``), once per release, in one transaction; returns how many rows are new.

        A release counts when its collection entry was first stored at or after the first time it was scored
        (so a record scored while already owned is not a purchase) and it has no bought/implicit_bought row yet.
        """
        for attempt in (1, 2):
            try:
                with self._session() as s, s.begin():
                    user = self._find_user(s, user_name)
                    if user is None:
                        return 0
                    purchased = select(Feedback.release_id).where(Feedback.user_id == user.id,
                                                                  Feedback.kind.in_(PURCHASE_KINDS))
                    q = (select(CollectionEntry.release_id, CollectionEntry.created_at,
                                func.min(ScoreServed.created_at))
                         .join(ScoreServed, and_(ScoreServed.user_id == CollectionEntry.user_id,
                                                 ScoreServed.release_id == CollectionEntry.release_id))
                         .where(CollectionEntry.user_id == user.id, CollectionEntry.list_name == "collection",
                                CollectionEntry.created_at.is_not(None),
                                CollectionEntry.release_id.not_in(purchased))
                         .group_by(CollectionEntry.release_id, CollectionEntry.created_at)
                         .order_by(CollectionEntry.release_id))
                    new = [rid for rid, added, first_scored in s.exec(q).all()
                           if added is not None and first_scored is not None and added >= first_scored]
                    return self._add_implicit(s, user.id, new, "implicit_bought")
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def record_weak_negatives(self, user_name: str, min_times: int = 3) -> int:
        """Turn releases of :meth:`score_counts_without_purchase` into ``weak_negative`` feedback (source
        ``implicit``), once per release, in one transaction; returns how many rows are new. Releases the user
        already voted on (👍/👎) are left alone: an explicit vote says more."""
        for attempt in (1, 2):
            try:
                with self._session() as s, s.begin():
                    user = self._find_user(s, user_name)
                    if user is None:
                        return 0
                    voted = set(s.exec(select(Feedback.release_id).where(
                        Feedback.user_id == user.id,
                        Feedback.kind.in_(("like", "dislike", "weak_negative")))).all())
                    ids = [rid for rid in s.exec(self._unbought_query(user.id, min_times)).all() if rid not in voted]
                    return self._add_implicit(s, user.id, ids, "weak_negative")
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _add_implicit(self, s: Session, user_id: int | None, release_ids: list[int], kind: str) -> int:
        now = utcnow()
        for rid in release_ids:
            s.add(Feedback(user_id=user_id, release_id=rid, score_id=None, kind=kind, source="implicit",
                           slot=FEEDBACK_SLOTS[kind], probability=self._latest_probability(s, user_id, rid),
                           created_at=now, updated_at=now))
        s.flush()
        if release_ids:
            log.info("recorded %d %s feedback rows", len(release_ids), kind)
        return len(release_ids)

    # -- models

    @staticmethod
    def _find_model(s: Session, user_id: int | None, version: str) -> ModelVersion | None:
        return s.exec(select(ModelVersion).where(ModelVersion.user_id == user_id, ModelVersion.version == version)
                      .order_by(ModelVersion.id.desc()).limit(1)).first()

    @staticmethod
    def _activate(s: Session, user_id: int | None, mv: ModelVersion) -> None:
        s.exec(update(ModelVersion).where(ModelVersion.user_id == user_id, ModelVersion.active.is_(True))
               .values(active=False))
        mv.active, mv.was_active, mv.status = True, True, "active"
        s.add(mv)

    def register_model(self, user_name: str, version: str, path: str, metrics: dict[str, Any],
                       n_pos: int, n_neg: int, *, activate: bool | None = None, status: str | None = None,
                       note: str | None = None) -> ModelVersion:
        """Store a trained model (one transaction); when activated it becomes the user's only active one.

        ``activate`` omitted: True unless ``status`` is ``rejected`` or ``candidate``. An activated model's
        status is ``active``; one that is not activated keeps the given status, ``active`` (or none) becoming
        ``candidate`` as it does not serve. Activating a ``rejected`` model, or registering a version the user
        already has, raises ``ValueError``.
        """
        if status is not None and status not in MODEL_STATUSES:
            raise ValueError(f"model status must be one of {MODEL_STATUSES}, got {status!r}")
        if activate is None:
            activate = status in (None, "active")
        if activate and status == "rejected":
            raise ValueError("a rejected model cannot be activated")
        status = "active" if activate else ("candidate" if status in (None, "active") else status)
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            if self._find_model(s, user.id, version) is not None:
                raise ValueError(f"model version {version!r} is already registered for {user_name!r}")
            mv = ModelVersion(user_id=user.id, version=version, path=str(path), metrics=_dumps(metrics),
                              n_positives=int(n_pos), n_negatives=int(n_neg), status=status,
                              note=_clean_text(note, 2000))
            if activate:
                self._activate(s, user.id, mv)
            s.add(mv)
            s.flush()
        log.info("registered model %s for %s (%d+/%d-, %s)", version, user_name, n_pos, n_neg, status)
        return mv

    def activate_model(self, user_name: str, version: str) -> ModelVersion:
        """Make ``version`` the user's only active model (one transaction), e.g. to roll back; its status becomes
        ``active``. Raises ``LookupError`` if the user has no such version."""
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            mv = self._find_model(s, user.id, version) if user else None
            if mv is None:
                raise LookupError(f"{user_name!r} has no model version {version!r}")
            self._activate(s, user.id, mv)
            s.flush()
        log.info("activated model %s for %s", version, user_name)
        return mv

    def set_model_status(self, user_name: str, version: str, status: str, note: str | None = None) -> ModelVersion:
        """Set a version's status (and note, when given), e.g. reject a model that was rolled back so it is no
        rollback target any more. The active model cannot be rejected or made a candidate (activate another one
        first); ``active`` is only set by activation. Raises ``LookupError`` for an unknown version."""
        if status not in MODEL_STATUSES:
            raise ValueError(f"model status must be one of {MODEL_STATUSES}, got {status!r}")
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            mv = self._find_model(s, user.id, version) if user else None
            if mv is None:
                raise LookupError(f"{user_name!r} has no model version {version!r}")
            if status == "active" and not mv.was_active:
                raise ValueError("use activate_model to put a model into service")
            if mv.active and status != "active":
                raise ValueError(f"model {version!r} is active: activate another version first")
            mv.status = status
            if note is not None:
                mv.note = _clean_text(note, 2000)
            s.add(mv)
            s.flush()
        return mv

    def active_model(self, user_name: str) -> ModelVersion | None:
        """The user's active model, if any."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None
            q = (select(ModelVersion).where(ModelVersion.user_id == user.id, ModelVersion.active.is_(True))
                 .order_by(ModelVersion.id.desc()).limit(1))
            return s.exec(q).first()

    def serving_state(self, user_name: str) -> tuple[ModelVersion | None, dict[str, Any]]:
        """(active model, settings) in one session: what every reply needs (``active_model`` + ``get_settings``)."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None, {}
            q = (select(ModelVersion).where(ModelVersion.user_id == user.id, ModelVersion.active.is_(True))
                 .order_by(ModelVersion.id.desc()).limit(1))
            return s.exec(q).first(), user.settings_dict

    def models(self, user_name: str) -> list[ModelVersion]:
        """All the user's registered models, oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            return list(s.exec(select(ModelVersion).where(ModelVersion.user_id == user.id)
                               .order_by(ModelVersion.id)).all())

    def model_version(self, user_name: str, version: str) -> ModelVersion | None:
        """The user's model ``version``, or ``None``."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            return self._find_model(s, user.id, version) if user else None

    def previous_model(self, user_name: str) -> ModelVersion | None:
        """The rollback target: the most recently registered inactive version that was once active and has not
        been rejected since, or ``None``."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None
            q = (select(ModelVersion).where(ModelVersion.user_id == user.id, ModelVersion.active.is_(False),
                                            ModelVersion.was_active.is_(True), ModelVersion.status != "rejected")
                 .order_by(ModelVersion.id.desc()).limit(1))
            return s.exec(q).first()

    def prune_models(self, user_name: str, keep: int) -> list[str]:
        """Delete the rows of all but the user's ``keep`` newest versions, never the active one (one transaction).

        Returns the artefact paths of the deleted rows that no remaining row uses, for the caller to delete (the
        store does not touch files).
        """
        if keep < 0:
            raise ValueError("keep must not be negative")
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            if user is None:
                return []
            rows = list(s.exec(select(ModelVersion).where(ModelVersion.user_id == user.id)
                               .order_by(ModelVersion.id.desc())).all())
            kept = [mv for i, mv in enumerate(rows) if i < keep or mv.active]
            kept_ids = {mv.id for mv in kept}
            gone = [mv for mv in rows if mv.id not in kept_ids]
            if not gone:
                return []
            for chunk in _chunks([mv.id for mv in gone]):
                s.exec(delete(ModelVersion).where(ModelVersion.id.in_(chunk)))
            still_used = {mv.path for mv in kept}
            paths = list(dict.fromkeys(mv.path for mv in gone if mv.path not in still_used))
        log.info("pruned %d model versions of %s", len(gone), user_name)
        return paths

    # -- linked Discogs accounts

    @staticmethod
    def _find_link(s: Session, user_id: int | None) -> LinkedAccount | None:
        return s.exec(select(LinkedAccount).where(LinkedAccount.user_id == user_id)).first()

    def link_account(self, user_name: str, discogs_username: str, auth_kind: str, *, token: str | None = None,
                     oauth_token: str | None = None, oauth_secret: str | None = None,
                     box: SecretBox | None = None, currency: str | None = None) -> LinkedAccount:
        """Link (or re-link) the user's Discogs account, replacing any previous link; returns the stored row.

        ``auth_kind``: ``username`` (no secrets), ``token`` (needs ``token``) or ``oauth`` (needs ``oauth_token``
        and ``oauth_secret``). Secrets are encrypted with ``box`` before anything is written (required whenever a
        secret is given); credentials of the previous link are dropped. Re-linking the same Discogs username keeps
        the sync state and currency; another username starts afresh. ``currency`` (ISO code) defaults to the
        previous link's, else EUR.
        """
        if auth_kind not in AUTH_KINDS:
            raise ValueError(f"auth_kind must be one of {AUTH_KINDS}, got {auth_kind!r}")
        discogs_username = (discogs_username or "").strip()
        if not discogs_username:
            raise ValueError("discogs_username must be non-empty")
        given = {k: (v.strip() if isinstance(v, str) else v)
                 for k, v in (("token", token), ("oauth_token", oauth_token), ("oauth_secret", oauth_secret))}
        needed = {"username": set(), "token": {"token"}, "oauth": {"oauth_token", "oauth_secret"}}[auth_kind]
        missing = sorted(k for k in needed if not given[k])
        extra = sorted(k for k, v in given.items() if v is not None and k not in needed)
        if missing:
            raise ValueError(f"auth_kind {auth_kind!r} needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"auth_kind {auth_kind!r} takes no {', '.join(extra)}")
        if needed and box is None:
            raise ValueError("a SecretBox is needed to store Discogs credentials")
        enc = {k: (box.encrypt(given[k]) if k in needed and box is not None else None) for k in given}
        if currency is not None and not currency.strip():
            raise ValueError("currency must be non-empty")
        replaced_secrets = False
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            row = self._find_link(s, user.id)
            if row is None:
                row = LinkedAccount(user_id=user.id, discogs_username=discogs_username, auth_kind=auth_kind)
            else:
                replaced_secrets = row.has_secrets
                if row.discogs_username.casefold() != discogs_username.casefold():
                    row.sync_state, row.last_sync_at = "{}", None
            row.discogs_username, row.auth_kind = discogs_username, auth_kind
            row.token_enc, row.oauth_token_enc, row.oauth_secret_enc = (
                enc["token"], enc["oauth_token"], enc["oauth_secret"])
            if currency is not None:
                row.currency = currency.strip().upper()
            row.linked_at = utcnow()
            s.add(row)
            s.flush()
        if replaced_secrets:
            self._scrub_sqlite()
        log.info("linked %s to Discogs user %s (%s)", user_name, discogs_username, auth_kind)
        return row

    def linked_account(self, user_name: str) -> LinkedAccount | None:
        """The user's linked Discogs account (credentials still encrypted), or ``None``."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            return self._find_link(s, user.id) if user else None

    def linked_users(self) -> list[str]:
        """Names of users with a linked Discogs account, sorted (e.g. for a periodic sync)."""
        with self._session() as s:
            q = select(User.name).join(LinkedAccount, LinkedAccount.user_id == User.id).order_by(User.name)
            return list(s.exec(q).all())

    def account_secrets(self, user_name: str, box: SecretBox) -> dict[str, str | None]:
        """Decrypted credentials: ``{"token", "oauth_token", "oauth_secret"}`` (``None`` where absent, all
        ``None`` if not linked). Raises :class:`core.secrets.SecretError` if ``box`` holds the wrong key."""
        row = self.linked_account(user_name)
        out: dict[str, str | None] = {"token": None, "oauth_token": None, "oauth_secret": None}
        if row is None:
            return out
        for key, value in (("token", row.token_enc), ("oauth_token", row.oauth_token_enc),
                           ("oauth_secret", row.oauth_secret_enc)):
            out[key] = box.decrypt(value) if value else None
        return out

    def unlink_account(self, user_name: str, *, keep_username: bool = False) -> bool:
        """Remove the user's Discogs credentials; returns whether there was a link.

        ``keep_username=False`` deletes the link entirely; ``True`` keeps the username (and sync state) as a
        public-data-only link (``auth_kind="username"``). Either way no ciphertext remains in the row, and on
        SQLite the zeroed pages are checkpointed out of the WAL.
        """
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            row = self._find_link(s, user.id) if user else None
            if row is None:
                return False
            if keep_username:
                row.token_enc = row.oauth_token_enc = row.oauth_secret_enc = None
                row.auth_kind = "username"
                s.add(row)
            else:
                s.exec(delete(LinkedAccount).where(LinkedAccount.id == row.id))
        self._scrub_sqlite()
        log.info("unlinked Discogs account of %s%s", user_name, " (username kept)" if keep_username else "")
        return True

    def set_sync_state(self, user_name: str, state: dict[str, Any], last_sync_at: datetime | None = None) -> None:
        """Replace the linked account's sync state (JSON) and set ``last_sync_at`` (default now).

        Raises ``ValueError`` if the user has no linked account.
        """
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            row = self._find_link(s, user.id) if user else None
            if row is None:
                raise ValueError(f"{user_name!r} has no linked Discogs account")
            row.sync_state = _dumps(state)
            row.last_sync_at = last_sync_at or utcnow()
            s.add(row)

    # -- erasure

    def _forget_jobs(self, s: Session, user_name: str) -> int:
        """Delete the user's rows of the scheduler's job table (when it exists: the scheduler creates it)."""
        if JOBS_TABLE not in inspect(s.connection()).get_table_names():
            return 0
        table = Table(JOBS_TABLE, MetaData(), Column("id", String, primary_key=True))
        ids = [f"{prefix}{user_name}" for prefix in USER_JOB_PREFIXES]
        return int(s.connection().execute(table.delete().where(table.c.id.in_(ids))).rowcount or 0)

    def forget_user(self, user_name: str) -> ForgetReport:
        """Delete every row of the user (feedback, served scores, collection entries, model versions, linked
        account, the user, the chat messages showing their cards, their scheduled jobs) in ONE transaction.
        Shared cached releases stay. Model artefact files are not touched: their paths are returned in the report
        for the caller to delete."""
        report = ForgetReport(user_name=user_name, found=False)
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            if user is None:
                return report
            uid = user.id
            report.found = True
            report.model_paths = list(s.exec(select(ModelVersion.path).where(ModelVersion.user_id == uid)).all())
            own_scores = select(ScoreServed.id).where(ScoreServed.user_id == uid)
            # defensive: another user's feedback pointing at this user's scores loses the reference, not the row
            s.exec(update(Feedback).where(Feedback.user_id != uid, Feedback.score_id.in_(own_scores))
                   .values(score_id=None))
            for table, model in (("feedback", Feedback), ("scores_served", ScoreServed),
                                 ("collection_entries", CollectionEntry), ("model_versions", ModelVersion),
                                 ("linked_accounts", LinkedAccount)):
                res = s.exec(delete(model).where(model.user_id == uid))
                report.deleted[table] = res.rowcount or 0
            res = s.exec(delete(User).where(User.id == uid))
            report.deleted["users"] = res.rowcount or 0
            # keyed by name, not id: the chat messages showing the user's cards, the user's scheduled jobs
            res = s.exec(delete(ChatCard).where(ChatCard.user_name == user_name))
            report.deleted["chat_cards"] = res.rowcount or 0
            report.deleted[JOBS_TABLE] = self._forget_jobs(s, user_name)
        self._scrub_sqlite()
        log.info("forgot user %s: %s", user_name, report.deleted)
        return report
