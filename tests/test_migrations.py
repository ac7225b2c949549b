"""The schema's Alembic migrations, on SQLite and (with CRATE_TEST_POSTGRES) PostgreSQL."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from backends import database_url
from bot.cli import main
from core.domain.release import CollectionItem, Release
from core.storage import Store
from core.storage.migrate import BASELINE, BASELINE_TABLES, SchemaTooNew, head, include_object, known


def test_a_new_database_is_made_by_the_migrations_and_matches_the_tables(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    s = Store(url)
    try:
        assert s.migrations == [f"migrated an empty database → {head()}"]
        with s.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
            assert ctx.get_current_revision() == head()
            # what the migrations made is exactly what the code's tables say (a model change without its
            # migration fails here)
            assert compare_metadata(ctx, SQLModel.metadata) == []
        assert {"leases", *BASELINE_TABLES} <= set(inspect(s.engine).get_table_names())
    finally:
        s.close()
    again = Store(url)
    assert again.migrations == [] and again.schema_upgrade.after == head()
    again.close()


def test_a_database_made_before_alembic_is_stamped_and_upgraded_in_place(tmp_path: Path) -> None:
    """Today's tables with no alembic_version (how every database before this version looks): kept, stamped as
    the baseline, then migrated."""
    url = database_url(tmp_path)
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine, tables=[t for t in SQLModel.metadata.sorted_tables
                                                 if t.name in BASELINE_TABLES])
    engine.dispose()
    old = Store.__new__(Store)   # write rows the way the old program did: straight into the tables
    old_engine = create_engine(url)
    from sqlmodel import Session

    from core.storage.schema import CollectionEntry, User
    with Session(old_engine) as s:
        s.add(User(id=1, name="ana"))
        s.flush()
        s.add(CollectionEntry(user_id=1, release_id=4_000_000_123, list_name="collection", source="csv"))
        s.commit()
    old_engine.dispose()
    del old

    s = Store(url)
    try:
        assert any(f"stamped {BASELINE}" in step for step in s.migrations)
        assert s.migrations[-1] == f"migrated {BASELINE} → {head()}"
        assert [it.release.id for it in s.collection("ana")] == [4_000_000_123]
        assert "leases" in inspect(s.engine).get_table_names()
        s.replace_collection("ana", [CollectionItem(release=Release(id=7, title="T", artists=["A"]),
                                                    date_added=date(2024, 1, 1), source="csv")])
        assert [it.release.id for it in s.collection("ana")] == [7]
    finally:
        s.close()


def test_a_database_from_a_newer_program_is_refused_with_a_sentence(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    assert "9999" not in known()
    with pytest.raises(SchemaTooNew, match="newer than this program"):
        Store(url)


def test_crate_db_upgrade_says_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = database_url(tmp_path)
    assert main(["--database", url, "db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"now at revision {head()}" in out
    assert main(["--database", url, "db", "upgrade"]) == 0
    assert f"up to date (revision {head()})" in capsys.readouterr().out
