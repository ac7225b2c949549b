"""The schema's versions: Alembic migrations under ``core/storage/migrations`` (``crate db upgrade``).

:func:`upgrade` runs on every start (:class:`core.storage.Database`) and by ``crate db upgrade``: an empty
database gets the whole schema from the migrations; a database made before Alembic (it has the tables but no
``alembic_version``) is first brought to the baseline by the old additive start-up migration, stamped as the
baseline, then upgraded like any other. On PostgreSQL the whole upgrade holds an advisory lock, so bot
processes starting together upgrade once and the others wait and find nothing to do; on SQLite the database's
write lock does the same.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("core.storage")

BASELINE = "0001"
#: the tables of the baseline: all a pre-Alembic database can be brought to by the old start-up migration
BASELINE_TABLES = frozenset({
    "cached_releases", "chat_cards", "collection_staging", "inbox_events", "release_audio", "users",
    "collection_entries", "linked_accounts", "model_versions", "scores_served", "server_shares", "feedback"})
_LOCK_KEY = 7_270_261   # pg_advisory_xact_lock key of the schema upgrade (any constant of this program's own)
HERE = Path(__file__).with_name("migrations")


@dataclass
class UpgradeReport:
    """What an upgrade did: the revision before (None: a new or pre-Alembic database) and after, and the steps."""
    before: str | None
    after: str | None
    steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.steps)

    def text(self) -> str:
        if not self.steps:
            return f"database schema is up to date (revision {self.after})"
        return "\n".join(self.steps + [f"database schema now at revision {self.after}"])


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Tables that are not the store's (APScheduler's job table) are left alone by comparisons."""
    return not (type_ == "table" and reflected and compare_to is None)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", str(HERE / "versions"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision this program knows."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {heads}")
    return str(heads[0])


@lru_cache(maxsize=1)
def known() -> frozenset[str]:
    """Every revision this program knows."""
    return frozenset(str(s.revision) for s in ScriptDirectory.from_config(alembic_config()).walk_revisions())


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer version of the program."""


def current(conn: Connection) -> str | None:
    """The database's revision (None when it has none)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, legacy: Callable[[Connection], list[str]] | None = None) -> UpgradeReport:
    """Bring the database to :func:`head`; ``legacy`` brings a pre-Alembic database to the baseline first."""
    with engine.connect() as probe:   # the common case reads only: a start writes nothing when nothing is due
        before = current(probe)
    if before == head():
        return UpgradeReport(before, before)
    if before is not None and before not in known():
        raise SchemaTooNew(f"the database's schema (revision {before}) is newer than this program's (revision "
                           f"{head()}): run the newer version of Crate Digger, or restore a backup made for this one")
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        before = current(conn)   # another process may have upgraded meanwhile
        steps: list[str] = []
        if before is None and "users" in inspect(conn).get_table_names():
            steps += legacy(conn) if legacy is not None else []
            command.stamp(alembic_config(conn), BASELINE)
            steps.append(f"a database made before schema versions: brought to the baseline, stamped {BASELINE}")
            before = BASELINE
        if before != head():
            command.upgrade(alembic_config(conn), "head")
            steps.append(f"migrated {before or 'an empty database'} → {head()}")
        after = current(conn)
    for step in steps:
        log.info("schema: %s", step)
    return UpgradeReport(before, after, steps)


def pending(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, head): equal when nothing is due."""
    with engine.connect() as conn:
        return current(conn), head()
