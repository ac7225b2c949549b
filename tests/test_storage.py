"""Tests for core.storage on the bundled lanebecker collection, with throwaway SQLite files."""
from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from backends import database_url, sqlite_only
from core.domain.release import CollectionItem, Release
from core.storage import CachedRelease, CollectionEntry, Store

DATA = Path(__file__).resolve().parent.parent / "data" / "collections" / "lanebecker" / "collection.json"
USER = "lanebecker"
SUGARCUBES = 24329720  # rated 5, added 2026-01-15
DUPLICATED = 31172104  # appears twice in the file


def _load_raw() -> list[dict[str, Any]]:
    with open(DATA, encoding="utf-8") as fh:
        return json.load(fh)


def _to_item(d: dict[str, Any]) -> CollectionItem:
    rel = Release(
        id=int(d["id"]),
        title=d.get("title") or "",
        artists=[d["artist"]] if d.get("artist") else [],
        year=d.get("year") or None,
        labels=[d["label"]] if d.get("label") else [],
        genres=list(d.get("genres") or []),
        styles=list(d.get("styles") or []),
    )
    added = date.fromisoformat(d["added"]) if d.get("added") else None
    return CollectionItem(release=rel, date_added=added, rating=d.get("rating") or None, source="lanebecker-json")


@pytest.fixture(scope="module")
def raw() -> list[dict[str, Any]]:
    return _load_raw()


@pytest.fixture()
def items(raw: list[dict[str, Any]]) -> list[CollectionItem]:
    return [_to_item(d) for d in raw]


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return database_url(tmp_path)


@pytest.fixture()
def store(db_url: str):
    s = Store(db_url)
    yield s
    s.close()


def _snapshot(store: Store) -> list[tuple[int, date | None, int | None, str]]:
    return [(it.release.id, it.date_added, it.rating, it.list_name) for it in store.collection(USER)]


@sqlite_only
def test_sqlite_pragmas(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert str(conn.execute(text("PRAGMA journal_mode")).scalar()).lower() == "wal"


def test_round_trip(store: Store, raw: list[dict[str, Any]], items: list[CollectionItem]) -> None:
    distinct = {d["id"] for d in raw}
    assert len(items) == 1853 and len(distinct) == 1851
    n = store.replace_collection(USER, items, source="lanebecker-json")
    assert n == len(distinct)  # the duplicated copy collapses into one entry

    got = store.collection(USER)
    assert len(got) == n
    assert store.collection(USER, "wantlist") == []
    assert [it.release.id for it in got] == list(dict.fromkeys(d["id"] for d in raw))  # insertion order kept

    by_id = {it.release.id: it for it in got}
    for d in raw:
        it = by_id[d["id"]]
        assert it.date_added == date.fromisoformat(d["added"])
        assert it.rating == (d["rating"] or None)
        assert it.release.title == d["title"]
    assert sum(1 for it in got if it.rating) == sum(1 for d in raw if d["rating"])

    sc = by_id[SUGARCUBES]
    assert sc.release.artists == ["The Sugarcubes"]
    assert sc.release.title == "Here Today, Tomorrow Next Week!"
    assert sc.release.year == 2022
    assert sc.release.labels == ["One Little Independent Records"]
    assert sc.release.genres == ["Rock", "Pop"]
    assert sc.release.styles == ["Indie Rock"]
    assert sc.date_added == date(2026, 1, 15)
    assert sc.rating == 5
    assert sc.source == "lanebecker-json" and sc.list_name == "collection"
    # a file describes its releases for its user only: the shared cache holds what Discogs said
    assert store.get_release(SUGARCUBES) is None and store.get_releases([SUGARCUBES, DUPLICATED, 1]) == {}
    assert store.own_release(USER, SUGARCUBES) == sc.release and store.own_release("someone-else", SUGARCUBES) is None
    assert store.users() == [USER]


def test_lists_are_separate_and_add_items_upserts(store: Store, items: list[CollectionItem]) -> None:
    store.replace_collection(USER, items[:50])
    want = [CollectionItem(release=Release(id=999_000_001, title="Wanted"), list_name="wantlist")]
    assert store.replace_collection(USER, want, list_name="wantlist") == 1
    assert len(store.collection(USER, "collection")) == 50
    assert [it.release.id for it in store.collection(USER, "wantlist")] == [999_000_001]

    # replacing the wantlist leaves the collection alone
    store.replace_collection(USER, [], list_name="wantlist")
    assert store.collection(USER, "wantlist") == [] and len(store.collection(USER)) == 50

    # add_items: new rows appended, existing rows updated, nothing deleted
    first = items[0]
    updated = CollectionItem(release=first.release, date_added=None, rating=3, source="api")
    assert store.add_items(USER, [updated, items[60]]) == 2
    got = {it.release.id: it for it in store.collection(USER)}
    assert len(got) == 51
    assert got[first.release.id].rating == 3
    assert got[first.release.id].date_added == first.date_added  # kept: the update carried no date

    with pytest.raises(ValueError):
        store.replace_collection(USER, items[:1], list_name="wishlist")


def test_release_cache_merges_richer_data(store: Store, items: list[CollectionItem]) -> None:
    """What Discogs said (the sync) is merged into the shared cache, new non-empty values winning."""
    rich = Release(id=SUGARCUBES, title="Old Title", country="UK", have=303, formats=["Vinyl"])
    store.cache_releases([rich], source="api")
    sc = next(it for it in items if it.release.id == SUGARCUBES)
    store.replace_collection(USER, [sc], source="discogs-api", discogs=True)
    r = store.get_release(SUGARCUBES)
    assert r is not None
    assert r.title == "Here Today, Tomorrow Next Week!"  # new non-empty values win
    assert r.country == "UK" and r.have == 303 and r.formats == ["Vinyl"]  # existing extras kept
    assert r.genres == ["Rock", "Pop"]
    # an identical re-import changes nothing (not even the fetch time)
    with store._session() as s:
        before = s.get(CachedRelease, SUGARCUBES).fetched_at
    store.cache_releases([r])
    with store._session() as s:
        assert s.get(CachedRelease, SUGARCUBES).fetched_at == before


def test_a_file_named_or_labelled_like_discogs_stays_its_users_own(store: Store) -> None:
    """Issue 22: only the sync's explicit ``discogs=True`` reaches the shared cache, never a name the user picks."""
    discogs = Release(id=3802, title="Real Title", artists=["Real Artist"], styles=["Techno"])
    store.cache_releases([discogs], source="discogs-api")
    forged = CollectionItem(release=Release(id=3802, title="FORGED", artists=["Evil"]), source="discogs-api")
    store.replace_collection("attacker", [forged], source="discogs-api")
    store.add_items("attacker", [CollectionItem(release=Release(id=77_001, title="NEW FORGED"))],
                    source="discogs-api")
    assert store.get_release(3802) == discogs and store.get_release(77_001) is None
    assert store.own_release("attacker", 77_001).title == "NEW FORGED"
    assert store.own_release("victim", 77_001) is None


def test_one_users_file_never_changes_another_users_release(store: Store, items: list[CollectionItem]) -> None:
    """The attack of issue 12: a one-row file claiming a release is by someone else, with a link in its title."""
    discogs = Release(id=SUGARCUBES, title="Here Today, Tomorrow Next Week!", artists=["The Sugarcubes"],
                      styles=["Indie Rock"], have=303)
    store.cache_releases([discogs], source="discogs-api")
    victim = next(it for it in items if it.release.id == SUGARCUBES)
    store.replace_collection("victim", [victim], source="lanebecker.json")
    forged = CollectionItem(release=Release(id=SUGARCUBES, title="SCAM visit evil.example",
                                            artists=['=HYPERLINK("http://evil.example")', "x" * 120_000]),
                            source="attacker.csv")
    store.replace_collection("attacker", [forged], source="attacker.csv")
    assert store.get_release(SUGARCUBES) == discogs                       # the shared facts: untouched
    (v,) = store.collection("victim")
    assert v.release.title == discogs.title and v.release.artists == ["The Sugarcubes"]
    (a,) = store.collection("attacker")        # Discogs' facts win for the attacker too; the file fills gaps
    assert a.release.title == discogs.title and a.release.have == 303
    own = Release.from_dict({**forged.release.to_dict()})
    assert own.artists[0] == 'HYPERLINK("http://evil.example")'         # no formula sign left
    assert len(own.artists[1]) <= 300                                     # bounded


def test_release_text_is_bounded_and_cleaned() -> None:
    r = Release(id=1, title="A\u202eB\x00C" + "y" * 1000, artists=["z" * 5000] * 500, labels=["=SUM(A1)"],
                thumb="javascript:alert(1)")
    assert r.title.startswith("ABC") and len(r.title) == 300 and r.title.endswith("…")
    assert len(r.artists) == 40 and all(len(a) == 300 for a in r.artists)
    assert r.labels == ["SUM(A1)"] and r.thumb is None
    assert Release(id=2, title="Mind = Blown", artists=["+/-"]).artists == ["+/-"]   # ordinary names stay


def test_replace_is_atomic_on_python_error(store: Store, items: list[CollectionItem],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store.replace_collection(USER, items[:100])
    before = _snapshot(store)
    bad_id = items[-5].release.id
    orig = Release.to_dict

    def exploding(self: Release) -> dict[str, Any]:
        if self.id == bad_id:
            raise RuntimeError("boom")
        return orig(self)

    monkeypatch.setattr(Release, "to_dict", exploding)
    with pytest.raises(RuntimeError, match="boom"):
        store.replace_collection(USER, list(reversed(items)))
    monkeypatch.undo()

    assert _snapshot(store) == before
    assert store.get_release(items[-1].release.id) is None  # no release of the failed import was cached


def test_replace_is_atomic_on_database_error(store: Store, items: list[CollectionItem]) -> None:
    """Fail inside the database after the DELETE already ran: the rollback must restore the old rows."""
    store.replace_collection(USER, items[:100])
    before = _snapshot(store)
    seen: list[str] = []

    def fail_on_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0].upper())
        if statement.lstrip().upper().startswith("INSERT INTO COLLECTION_ENTRIES"):
            raise RuntimeError("disk on fire")

    event.listen(store.engine, "before_cursor_execute", fail_on_insert)
    try:
        with pytest.raises(Exception, match="disk on fire"):
            store.replace_collection(USER, items[100:300])
    finally:
        event.remove(store.engine, "before_cursor_execute", fail_on_insert)
    assert "DELETE" in seen  # the old rows had been deleted inside the transaction
    assert _snapshot(store) == before


def test_persistence_across_restart(db_url: str, items: list[CollectionItem]) -> None:
    s1 = Store(db_url)
    n = s1.replace_collection(USER, items)
    sid = s1.record_score(USER, SUGARCUBES, 0.8, "buy", "model", ["likes Indie Rock"], "v1")
    s1.add_feedback(USER, SUGARCUBES, "like", score_id=sid)
    s1.register_model(USER, "v1", "/models/v1.cbm", {"auc": 0.81}, 40, 120)
    s1.set_settings(USER, {"currency": "EUR"})
    snap = _snapshot(s1)
    s1.close()

    s2 = Store(db_url)
    try:
        assert len(s2.collection(USER)) == n
        assert _snapshot(s2) == snap
        assert s2.users() == [USER]
        last = s2.last_score(USER)
        assert last is not None and last.id == sid and last.reasons_list == ["likes Indie Rock"]
        assert [f.score_id for f in s2.feedback(USER)] == [sid]
        active = s2.active_model(USER)
        assert active is not None and active.version == "v1" and active.metrics_dict == {"auc": 0.81}
        assert s2.get_settings(USER) == {"currency": "EUR"}
        assert isinstance(last.created_at, datetime) and last.created_at.tzinfo is not None
    finally:
        s2.close()


def test_feedback_refers_to_served_score(store: Store) -> None:
    assert store.last_score(USER) is None
    s1 = store.record_score(USER, 111, 0.35, "maybe", "cold-start", ["a", "b"], None)
    s2 = store.record_score(USER, 222, 0.71, "buy", "model", ["likes Shoegaze"], "v3")
    last = store.last_score(USER)
    assert last is not None and last.id == s2 and last.release_id == 222
    assert last.probability == pytest.approx(0.71) and last.label == "buy" and last.model_version == "v3"
    assert store.get_score(s1).reasons_list == ["a", "b"]

    fb = store.add_feedback(USER, 222, "bought", score_id=s2)
    assert fb.id is not None and fb.score_id == s2 and fb.kind == "bought"
    store.add_feedback(USER, 111, "dislike")
    assert [(f.release_id, f.kind, f.score_id) for f in store.feedback(USER)] == [
        (222, "bought", s2), (111, "dislike", None)]

    with pytest.raises(ValueError):
        store.add_feedback(USER, 222, "like", score_id=999_999)  # no such score
    with pytest.raises(ValueError):
        store.add_feedback("someone-else", 222, "like", score_id=s2)  # not their score
    with pytest.raises(ValueError):
        store.add_feedback(USER, 111, "like", score_id=s2)  # score was for another release
    assert len(store.feedback(USER)) == 2
    assert store.feedback("nobody") == []


@pytest.mark.parametrize("kind", ["love", "", "LIKE", "buy"])
def test_invalid_feedback_kind_raises(store: Store, kind: str) -> None:
    with pytest.raises(ValueError):
        store.add_feedback(USER, 1, kind)
    assert store.feedback(USER) == []


def test_model_activation_switches(store: Store) -> None:
    assert store.active_model(USER) is None
    v1 = store.register_model(USER, "v1", "/m/v1", {"auc": 0.7}, 30, 90)
    other = store.register_model("other", "o1", "/m/o1", {}, 5, 15)
    assert store.active_model(USER).id == v1.id and v1.active
    v2 = store.register_model(USER, "v2", "/m/v2", {"auc": 0.75, "folds": (1, 2)}, 35, 105)
    active = store.active_model(USER)
    assert active is not None and active.id == v2.id and active.version == "v2"
    assert active.n_positives == 35 and active.n_negatives == 105
    assert active.metrics_dict == {"auc": 0.75, "folds": [1, 2]}
    assert [(m.version, m.active) for m in store.models(USER)] == [("v1", False), ("v2", True)]
    assert store.active_model("other").id == other.id  # another user's model is untouched


def test_users_and_get_or_create(store: Store) -> None:
    a = store.get_or_create_user("zed")
    assert store.get_or_create_user("zed").id == a.id
    store.get_or_create_user("amy")
    assert store.users() == ["amy", "zed"]
    assert store.collection("nobody") == [] and store.active_model("nobody") is None
    with pytest.raises(ValueError):
        store.get_or_create_user("  ")


def test_in_memory_url_shares_one_database() -> None:
    s = Store("sqlite://")
    s.replace_collection(USER, [CollectionItem(release=Release(id=5, title="x"))])
    assert [it.release.title for it in s.collection(USER)] == ["x"]
    s.close()


def test_the_bulk_insert_writes_every_column_of_an_entry() -> None:
    from core.storage.collections import _ENTRY_COLUMNS

    assert set(_ENTRY_COLUMNS) == {c.name for c in CollectionEntry.__table__.columns} - {"id"}


def _many(n: int, start: int = 10_000, title: str = "T") -> list[CollectionItem]:
    return [CollectionItem(release=Release(id=start + i, title=f"{title}{i}", artists=[f"A{i % 97}"]),
                           date_added=date(2020, 1, 1 + i % 28), source="csv") for i in range(n)]


@sqlite_only
def test_a_big_replace_lets_other_writers_in_between_its_batches(store: Store) -> None:
    """Another user's write (with no busy wait at all) gets through while a 12k-entry import is being written:
    the import stages its rows in short transactions and holds the write lock only to switch them in."""
    from core.storage.collections import _BATCH

    n = 12_000
    assert n > 2 * _BATCH
    path = store.engine.url.database
    got_in: list[str] = []
    begun = [0]

    def between(conn: Any) -> None:
        begun[0] += 1
        if begun[0] == 3:   # the import is mid-way (its user, then two staged batches committed)
            other = sqlite3.connect(path, timeout=0)   # no busy wait: fails at once if the lock were held
            try:
                other.execute("INSERT INTO users (name, created_at) VALUES ('other', '2026-01-01 00:00:00')")
                other.commit()
                got_in.append("yes")
            finally:
                other.close()

    event.listen(store.engine, "begin", between)
    try:
        assert store.replace_collection(USER, _many(n)) == n
    finally:
        event.remove(store.engine, "begin", between)
    assert got_in == ["yes"] and begun[0] > n // _BATCH
    assert len(store.collection(USER)) == n
    with store.engine.connect() as c:   # the staged copy is gone once switched in
        assert c.execute(text("SELECT COUNT(*) FROM collection_staging")).scalar() == 0


def test_an_import_killed_before_its_switch_leaves_the_old_list_and_is_swept(store: Store) -> None:
    store.replace_collection(USER, _many(50))
    before = _snapshot(store)

    def die_at_switch(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM COLLECTION_ENTRIES"):
            raise RuntimeError("killed")

    event.listen(store.engine, "before_cursor_execute", die_at_switch)
    try:
        with pytest.raises(Exception, match="killed"):
            store.replace_collection(USER, _many(80, start=20_000))
    finally:
        event.remove(store.engine, "before_cursor_execute", die_at_switch)
    assert _snapshot(store) == before
    with store.engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM collection_staging")).scalar() == 80   # left behind…
    store.replace_collection(USER, _many(60, start=30_000))
    assert {r for r, *_ in _snapshot(store)} == set(range(30_000, 30_060))
    with store.engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM collection_staging")).scalar() == 0   # …and swept


def test_a_reimport_updates_changed_entries_and_keeps_when_they_were_first_stored(store: Store) -> None:
    store.replace_collection(USER, _many(30))
    first = {e.release_id: e.created_at for e in _entries(store)}
    again = _many(40)
    again[3].rating = 5
    again[4].date_added = date(1999, 9, 9)
    store.replace_collection(USER, again[3:])
    rows = {e.release_id: e for e in _entries(store)}
    assert set(rows) == {10_000 + i for i in range(3, 40)}          # the first three dropped, ten added
    assert rows[10_003].rating == 5 and rows[10_004].date_added == date(1999, 9, 9)
    assert all(rows[r].created_at == first[r] for r in rows if r in first)
    assert all(rows[r].created_at is not None and rows[r].created_at >= max(first.values())
               for r in rows if r not in first)


def _entries(store: Store) -> list[CollectionEntry]:
    from sqlmodel import Session, select

    with Session(store.engine) as s:
        return list(s.exec(select(CollectionEntry)).all())
