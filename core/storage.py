"""Persistence layer: users, cached releases, collections, served scores, feedback, model versions and linked
Discogs accounts.

SQLModel over SQLite by default (URL from :func:`core.config.database_url`); ``DATABASE_URL`` may select
PostgreSQL, so only portable SQL is used (no dialect-specific upserts; upserts are read-then-write in one
transaction). Every public method uses its own short-lived session; every multi-row write runs in ONE
transaction, so an exception part-way leaves the previous state intact.

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

from sqlalchemy import DateTime, Text, TypeDecorator, UniqueConstraint, event, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, create_engine, delete, select

from core.release import CollectionItem, Release

if TYPE_CHECKING:
    from core.secrets import SecretBox

log = logging.getLogger(__name__)

LIST_NAMES: tuple[str, ...] = ("collection", "wantlist")
FEEDBACK_KINDS: tuple[str, ...] = ("like", "dislike", "bought")
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


class Feedback(SQLModel, table=True):
    """A user's reaction to a release (optionally to a specific served score)."""

    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    release_id: int = Field(index=True)
    score_id: int | None = Field(default=None, foreign_key="scores_served.id")
    kind: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ModelVersion(SQLModel, table=True):
    """A trained per-user model artefact; at most one per user is active."""

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

    def __init__(self, url: str | Engine | None = None, echo: bool = False) -> None:
        self.engine: Engine = url if isinstance(url, Engine) else make_engine(url, echo=echo)
        if isinstance(url, Engine) and self.engine.dialect.name == "sqlite":
            if not event.contains(self.engine, "connect", _sqlite_pragmas):
                event.listen(self.engine, "connect", _sqlite_pragmas)
        SQLModel.metadata.create_all(self.engine)
        log.debug("store ready on %s", self.engine.url.render_as_string(hide_password=True))

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
    def _dedupe(items: Iterable[CollectionItem], list_name: str | None, source: str) -> dict[tuple[int, str], CollectionEntry]:
        """Entries keyed by (release id, list); duplicate copies merge (earliest date, first rating/price)."""
        out: dict[tuple[int, str], CollectionEntry] = {}
        dupes = 0
        for it in items:
            ln = list_name or it.list_name or "collection"
            if ln not in LIST_NAMES:
                raise ValueError(f"list_name must be one of {LIST_NAMES}, got {ln!r}")
            rid = int(it.release.id)
            e = CollectionEntry(
                user_id=0, release_id=rid, list_name=ln, date_added=it.date_added,
                rating=it.rating or None, source=it.source or source,
                price_paid=it.price_paid, currency=it.currency,
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
            q = (select(CollectionEntry, CachedRelease)
                 .join(CachedRelease, CachedRelease.release_id == CollectionEntry.release_id, isouter=True)
                 .where(CollectionEntry.user_id == user.id))
            if list_name is not None:
                q = q.where(CollectionEntry.list_name == list_name)
            rows = s.exec(q.order_by(CollectionEntry.id)).all()
        out: list[CollectionItem] = []
        for e, cr in rows:
            rel = cr.release if cr is not None else Release(id=e.release_id)
            out.append(CollectionItem(release=rel, date_added=e.date_added, rating=e.rating, source=e.source,
                                      list_name=e.list_name, price_paid=e.price_paid, currency=e.currency))
        return out

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

    def add_feedback(self, user_name: str, release_id: int, kind: str, score_id: int | None = None) -> Feedback:
        """Record feedback; ``kind`` is like/dislike/bought, ``score_id`` must be this user's score for it."""
        if kind not in FEEDBACK_KINDS:
            raise ValueError(f"feedback kind must be one of {FEEDBACK_KINDS}, got {kind!r}")
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            if score_id is not None:
                score = s.get(ScoreServed, int(score_id))
                if score is None:
                    raise ValueError(f"no served score {score_id}")
                if score.user_id != user.id or score.release_id != int(release_id):
                    raise ValueError(f"score {score_id} was not served to {user_name!r} for release {release_id}")
            fb = Feedback(user_id=user.id, release_id=int(release_id), score_id=score_id, kind=kind)
            s.add(fb)
            s.flush()
            return fb

    def feedback(self, user_name: str) -> list[Feedback]:
        """The user's feedback, oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = select(Feedback).where(Feedback.user_id == user.id).order_by(Feedback.created_at, Feedback.id)
            return list(s.exec(q).all())

    # -- models

    def register_model(self, user_name: str, version: str, path: str, metrics: dict[str, Any],
                       n_pos: int, n_neg: int) -> ModelVersion:
        """Store a trained model and make it the user's only active one (one transaction)."""
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            s.exec(update(ModelVersion).where(ModelVersion.user_id == user.id, ModelVersion.active.is_(True))
                   .values(active=False))
            mv = ModelVersion(user_id=user.id, version=version, path=str(path), metrics=_dumps(metrics),
                              n_positives=int(n_pos), n_negatives=int(n_neg), active=True)
            s.add(mv)
            s.flush()
        log.info("registered model %s for %s (%d+/%d-)", version, user_name, n_pos, n_neg)
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

    def models(self, user_name: str) -> list[ModelVersion]:
        """All the user's registered models, oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            return list(s.exec(select(ModelVersion).where(ModelVersion.user_id == user.id)
                               .order_by(ModelVersion.id)).all())

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

    def forget_user(self, user_name: str) -> ForgetReport:
        """Delete every row of the user (feedback, served scores, collection entries, model versions, linked
        account, the user) in ONE transaction. Shared cached releases stay. Model artefact files are not touched:
        their paths are returned in the report for the caller to delete."""
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
        self._scrub_sqlite()
        log.info("forgot user %s: %s", user_name, report.deleted)
        return report
