"""The database: engine, schema creation and migration, sessions, the user row every repository keys on."""
from __future__ import annotations

import logging

from sqlalchemy import (
    event,
    func,
    inspect,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateColumn
from sqlmodel import Session, SQLModel, col, select

from core.config import get_config
from core.storage.migrate import BASELINE_TABLES, UpgradeReport
from core.storage.migrate import upgrade as upgrade_schema
from core.storage.schema import (
    Feedback,
    ModelVersion,
    ScoreServed,
    User,
    _sqlite_pragmas,
    make_engine,
)

log = logging.getLogger("core.storage")


class Database:
    """The database: engine, schema creation and migration, sessions, the user row every repository keys on."""


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
        #: what start-up did to the schema (Alembic; see core.storage.migrate): empty when it was up to date
        self.schema_upgrade: UpgradeReport = upgrade_schema(self.engine, legacy=self._migrate)
        self.migrations: list[str] = self.schema_upgrade.steps
        log.debug("store ready on %s", self.engine.url.render_as_string(hide_password=True))

    # -- schema migration

    def _migrate(self, conn: Connection) -> list[str]:
        """A database made before Alembic (no ``alembic_version``): bring it to the baseline (revision 0001).

        Light and additive only: missing baseline tables are created, missing columns are added with ``ALTER
        TABLE ... ADD COLUMN`` (nullable or with a server default) and backfilled, then missing indexes (the
        unique ones included) are created. Every step checks first, so a rerun completes an interrupted
        migration except for the one-off backfills. Tables and columns added after the baseline come from the
        Alembic migrations that follow it, never from here.
        """
        done: list[str] = []
        dialect = self.engine.dialect
        prep = dialect.identifier_preparer
        baseline = [t for t in SQLModel.metadata.sorted_tables if t.name in BASELINE_TABLES]
        insp = inspect(conn)
        tables = set(insp.get_table_names())
        missing = [t for t in baseline if t.name not in tables]
        if missing:
            SQLModel.metadata.create_all(conn, tables=missing)
            done.append(f"created {', '.join(t.name for t in missing)}")
        for table in baseline:
            if table.name not in tables:
                continue
            have = {c["name"] for c in insp.get_columns(table.name)}
            added: set[str] = set()
            for column in table.columns:
                if column.name in have:
                    continue
                if not column.nullable and column.server_default is None:  # a programming error, not a data one
                    raise RuntimeError(f"cannot add NOT NULL column {table.name}.{column.name} without a default")
                ddl = CreateColumn(column).compile(dialect=dialect)
                conn.exec_driver_sql(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {ddl}")
                added.add(column.name)
            if added:
                done.append(f"{table.name}: added {', '.join(sorted(added))}")
                self._backfill(conn, table.name, added, done)
        for table in baseline:
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
        if "model_versions" in tables:   # before "retired" existed, a replaced version stayed "active"
            mv = ModelVersion.__table__  # type: ignore[attr-defined]
            stale = (mv.c.status == "active") & mv.c.active.is_(False)
            if conn.execute(select(func.count()).select_from(mv).where(stale)).scalar():
                res = conn.execute(update(mv).where(stale).values(status="retired"))
                done.append(f"model_versions: {res.rowcount} replaced versions marked retired")
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
            sc = get_config().scoring
            buy = float(sc["buy_threshold"]) if buy is None else buy
            maybe = float(sc["maybe_threshold"]) if maybe is None else maybe
        return float(buy), float(maybe)

    # -- plumbing

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _find_user(s: Session, name: str) -> User | None:
        return s.exec(select(User).where(col(User.name) == name)).first()

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

    @staticmethod
    def _uid(user: User) -> int:
        """The id of a stored user row (flushed rows always have one)."""
        if user.id is None:
            raise RuntimeError(f"user {user.name!r} has no id: it was never flushed")
        return user.id

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
