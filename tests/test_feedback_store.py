"""The learning loop's storage: feedback written exactly once, implicit evidence, model versions, the schema
migration from the previous release's tables, and feedback messages with reasons. Throwaway SQLite files."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect

from backends import database_url
from core.app import CrateApp
from core.app.conversation import parse_feedback
from core.config import get_config
from core.domain.release import CollectionItem, Release
from core.recommender import Recommender
from core.storage import EXPLICIT_KINDS, FEEDBACK_KINDS, FEEDBACK_SOURCES, IMPLICIT_KINDS, Feedback, Store, utcnow

USER = "digger"
SC = get_config()["scoring"]
BUY, MAYBE = float(SC["buy_threshold"]), float(SC["maybe_threshold"])


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return database_url(tmp_path)


@pytest.fixture()
def store(db_url: str):
    s = Store(db_url)
    yield s
    s.close()


def item(rid: int, list_name: str = "collection") -> CollectionItem:
    return CollectionItem(release=Release(id=rid, title=f"Record {rid}", artists=["Someone"]), list_name=list_name)


def score(store: Store, rid: int, p: float = 0.5, user: str = USER) -> int:
    label = "buy" if p >= BUY else "maybe" if p >= MAYBE else "skip"
    return store.record_score(user, rid, p, label, "model", ["a reason"], "v1")


# ------------------------------------------------------------------------------------------ recording


@pytest.mark.parametrize("source", FEEDBACK_SOURCES)
@pytest.mark.parametrize("kind", FEEDBACK_KINDS)
def test_every_kind_from_every_source(store: Store, kind: str, source: str) -> None:
    sid = score(store, 100, 0.45)
    if kind in EXPLICIT_KINDS:
        row, created = store.record_feedback(USER, kind, score_id=sid, source=source, event_id=f"{source}-1")
        assert row.score_id == sid
    else:
        row, created = store.record_feedback(USER, kind, release_id=100, source=source, event_id=f"{source}-1")
        assert row.score_id is None
    assert created and row.id is not None
    (stored,) = store.feedback(USER)
    assert stored.id == row.id and stored.kind == kind and stored.source == source and stored.release_id == 100
    assert stored.event_id == f"{source}-1"
    assert stored.slot == {"like": "vote", "dislike": "vote", "bought": "bought", "implicit_bought": "bought",
                           "weak_negative": "weak"}[kind]
    assert stored.probability == pytest.approx(0.45)  # the served score, copied (also found for release-only rows)
    assert stored.created_at.tzinfo is not None and stored.updated_at == stored.created_at
    assert store.feedback_counts(USER)[kind] == 1


def test_invalid_feedback_is_refused(store: Store) -> None:
    sid = score(store, 100)
    other = score(store, 200, user="someone-else")
    with pytest.raises(ValueError):
        store.record_feedback(USER, "love", score_id=sid)
    with pytest.raises(ValueError):
        store.record_feedback(USER, "like", score_id=sid, source="carrier-pigeon")
    with pytest.raises(ValueError):
        store.record_feedback(USER, "implicit_bought")  # neither score nor release
    with pytest.raises(ValueError):
        store.record_feedback(USER, "like", score_id=other)  # not this user's score
    with pytest.raises(ValueError):
        store.record_feedback(USER, "like", score_id=sid, release_id=999)  # score for another release
    with pytest.raises(ValueError):
        store.record_feedback(USER, "like", score_id=123_456)
    assert store.feedback(USER) == []


def test_redelivered_event_is_recorded_once(store: Store) -> None:
    sid = score(store, 100)
    first, created = store.record_feedback(USER, "like", score_id=sid, source="telegram", event_id=5551)
    again, created_again = store.record_feedback(USER, "like", score_id=sid, source="telegram", event_id="5551")
    assert created and not created_again and again.id == first.id
    # the same event id can never change what was recorded, whatever the payload says
    replay, changed = store.record_feedback(USER, "dislike", score_id=sid, source="telegram", event_id="5551")
    assert not changed and replay.kind == "like"
    assert [(f.kind, f.event_id) for f in store.feedback(USER)] == [("like", "5551")]
    # event ids are per user: another user's update with the same id is its own event
    other_sid = score(store, 100, user="other")
    _, other_created = store.record_feedback("other", "like", score_id=other_sid, event_id="5551")
    assert other_created and len(store.feedback("other")) == 1


def test_in_order_replay_converges(store: Store) -> None:
    """👍 (event A), 👎 (event B), then both redelivered: the row ends as 👎, still one row."""
    sid = score(store, 100)
    store.record_feedback(USER, "like", score_id=sid, source="discord", event_id="A")
    store.record_feedback(USER, "dislike", score_id=sid, source="discord", event_id="B")
    assert not store.record_feedback(USER, "like", score_id=sid, source="discord", event_id="A")[1]
    assert not store.record_feedback(USER, "dislike", score_id=sid, source="discord", event_id="B")[1]
    assert [f.kind for f in store.feedback(USER)] == ["dislike"]


def test_thumbs_up_then_down_keeps_one_vote(store: Store) -> None:
    sid = score(store, 100, MAYBE - 0.1)  # a 🔴 skip: a 👍 disagrees with it, a 👎 does not
    up, _ = store.record_feedback(USER, "like", score_id=sid, source="telegram", event_id="u1")
    assert up.disagreement
    down, changed = store.record_feedback(USER, "dislike", score_id=sid, source="telegram", event_id="u2")
    assert changed and down.id == up.id
    (row,) = store.feedback(USER)
    assert row.kind == "dislike" and row.slot == "vote"
    assert row.created_at == up.created_at and row.updated_at > up.updated_at
    assert not row.disagreement  # recomputed for the new kind
    assert row.event_id == "u1"   # the creating event's id stays (a replay of u1 stays a no-op)
    assert store.feedback_counts(USER) == {"like": 0, "dislike": 1, "bought": 0, "implicit_bought": 0,
                                           "weak_negative": 0}
    # the same vote again is no change; a vote on ANOTHER score of the same release is its own row
    assert not store.record_feedback(USER, "dislike", score_id=sid)[1]
    sid2 = score(store, 100, 0.5)
    store.record_feedback(USER, "like", score_id=sid2)
    assert [(f.score_id, f.kind) for f in store.feedback(USER)] == [(sid, "dislike"), (sid2, "like")]


def test_bought_and_like_coexist(store: Store) -> None:
    sid = score(store, 100, 0.7)
    store.record_feedback(USER, "like", score_id=sid)
    _, created = store.record_feedback(USER, "bought", score_id=sid)
    assert created
    assert not store.record_feedback(USER, "bought", score_id=sid)[1]  # bought twice: still one row
    rows = store.feedback(USER)
    assert sorted((f.slot, f.kind) for f in rows) == [("bought", "bought"), ("vote", "like")]
    # a later 👎 replaces the vote, not the purchase
    store.record_feedback(USER, "dislike", score_id=sid)
    assert sorted((f.slot, f.kind) for f in store.feedback(USER)) == [("bought", "bought"), ("vote", "dislike")]


def test_reasons_are_stored_and_replaced(store: Store) -> None:
    sid = score(store, 100)
    row, _ = store.record_feedback(USER, "dislike", score_id=sid)
    assert row.reason is None
    row, changed = store.record_feedback(USER, "dislike", score_id=sid, reason="  too   expensive ")
    assert changed and row.reason == "too expensive"
    row, changed = store.record_feedback(USER, "dislike", score_id=sid)  # a bare 👎 keeps the reason
    assert not changed and row.reason == "too expensive"
    row, changed = store.record_feedback(USER, "like", score_id=sid)  # a new vote: the old reason goes
    assert changed and row.reason is None
    assert [(f.kind, f.reason) for f in store.feedback(USER)] == [("like", None)]


@pytest.mark.parametrize("kind, p, expected", [
    ("dislike", BUY, True), ("dislike", BUY - 0.01, False),
    ("like", MAYBE - 0.01, True), ("like", MAYBE, False),
    ("like", BUY, False), ("dislike", MAYBE - 0.01, False),
    ("bought", 0.01, False),
])
def test_disagreement_flags_with_configured_thresholds(store: Store, kind: str, p: float, expected: bool) -> None:
    sid = score(store, 100, p)
    row, _ = store.record_feedback(USER, kind, score_id=sid)
    assert row.disagreement is expected and row.probability == pytest.approx(p)
    assert store.disagreements(USER) == int(expected)


def test_disagreement_thresholds_can_be_given(db_url: str) -> None:
    s = Store(db_url, buy_threshold=0.9, maybe_threshold=0.1)
    try:
        sid = score(s, 100, 0.8)
        assert not s.record_feedback(USER, "dislike", score_id=sid)[0].disagreement  # 0.8 < 0.9
        sid2 = score(s, 101, 0.8)
        assert s.record_feedback(USER, "dislike", score_id=sid2, buy_threshold=0.75)[0].disagreement
    finally:
        s.close()


def test_add_feedback_delegates(store: Store) -> None:
    sid = score(store, 100)
    a = store.add_feedback(USER, 100, "like", score_id=sid)
    b = store.add_feedback(USER, 100, "dislike", score_id=sid)
    assert a.id == b.id and b.kind == "dislike" and b.source == "chat"
    assert len(store.feedback(USER)) == 1


def test_since_filters(store: Store) -> None:
    old = score(store, 100, 0.8)
    store.record_feedback(USER, "dislike", score_id=old)  # a disagreement
    mid = utcnow()
    new = score(store, 200, 0.8)
    store.record_feedback(USER, "like", score_id=new)
    assert [s.id for s in store.scores(USER)] == [old, new]
    assert [s.id for s in store.scores(USER, since=mid)] == [new]
    assert [f.release_id for f in store.feedback(USER, since=mid)] == [200]
    assert store.feedback_counts(USER, since=mid)["dislike"] == 0 and store.feedback_counts(USER)["dislike"] == 1
    assert store.disagreements(USER) == 1 and store.disagreements(USER, since=mid) == 0
    # a changed vote counts as recent activity
    store.record_feedback(USER, "like", score_id=old)
    assert {f.release_id for f in store.feedback(USER, since=mid)} == {100, 200}
    assert store.feedback("nobody") == [] and store.feedback_counts("nobody")["like"] == 0
    assert store.scores("nobody") == [] and store.disagreements("nobody") == 0


# ------------------------------------------------------------------------------------- implicit evidence


def test_implicit_purchase_detected_once(store: Store) -> None:
    store.replace_collection(USER, [item(1), item(2)])
    score(store, 2, 0.4)        # already owned when scored: not a purchase
    sid3 = score(store, 3, 0.7)
    score(store, 4, 0.7)
    sid5 = score(store, 5, 0.7)
    store.record_feedback(USER, "bought", score_id=sid5)  # explicit purchase: no implicit row on top
    assert store.record_implicit_purchases(USER) == 0     # nothing scored has appeared yet

    store.replace_collection(USER, [item(1), item(2), item(3), item(5)])
    assert store.record_implicit_purchases(USER) == 1
    assert store.record_implicit_purchases(USER) == 0
    (imp,) = [f for f in store.feedback(USER) if f.kind == "implicit_bought"]
    assert imp.release_id == 3 and imp.source == "implicit" and imp.score_id is None and imp.slot == "bought"
    assert imp.probability == pytest.approx(0.7) and store.get_score(sid3).release_id == 3
    # recording the same implicit purchase by hand is a no-op too
    assert not store.record_feedback(USER, "implicit_bought", release_id=3, source="implicit")[1]
    # wantlisted is not bought
    store.replace_collection(USER, [item(4, "wantlist")], list_name="wantlist")
    assert store.record_implicit_purchases(USER) == 0
    assert store.record_implicit_purchases("nobody") == 0


def test_weak_negatives(store: Store) -> None:
    for rid, times in ((10, 3), (11, 2), (12, 4), (13, 3), (14, 3), (15, 3)):
        for _ in range(times):
            last = score(store, rid, 0.5)
        if rid == 12:
            store.record_feedback(USER, "like", score_id=last)    # voted: an explicit word says more
        if rid == 14:
            store.record_feedback(USER, "bought", score_id=last)  # bought: never a negative
    store.replace_collection(USER, [item(13)])                    # owned
    store.replace_collection(USER, [item(15, "wantlist")], list_name="wantlist")  # wanted
    assert store.score_counts_without_purchase(USER) == [10, 12]
    assert store.score_counts_without_purchase(USER, min_times=2) == [10, 11, 12]
    assert store.record_weak_negatives(USER) == 1
    assert store.record_weak_negatives(USER) == 0
    (weak,) = [f for f in store.feedback(USER) if f.kind == "weak_negative"]
    assert weak.release_id == 10 and weak.source == "implicit" and weak.slot == "weak"
    assert store.record_weak_negatives(USER, min_times=2) == 1  # 11 now qualifies; 10 is not repeated
    assert store.feedback_counts(USER)["weak_negative"] == 2
    assert store.score_counts_without_purchase("nobody") == [] and store.record_weak_negatives("nobody") == 0


# ------------------------------------------------------------------------------------------ models


def test_model_activation_rollback_and_prune(store: Store) -> None:
    v1 = store.register_model(USER, "v1", "/m/v1.pkl", {"auc": 0.70}, 10, 30)
    assert v1.active and v1.was_active and v1.status == "active"
    assert store.previous_model(USER) is None
    store.register_model(USER, "v2", "/m/v2.pkl", {"auc": 0.72}, 11, 33, note="  better  ")
    rej = store.register_model(USER, "v3", "/m/v3.pkl", {"auc": 0.60}, 12, 36, activate=False, status="rejected",
                               note="hold-out AUC worse")
    assert not rej.active and not rej.was_active and rej.status == "rejected" and rej.note == "hold-out AUC worse"
    cand = store.register_model(USER, "v4", "/m/v4.pkl", {}, 12, 36, activate=False)
    assert cand.status == "candidate" and not cand.active
    assert store.active_model(USER).version == "v2" and store.model_version(USER, "v2").note == "better"
    assert store.previous_model(USER).version == "v1"  # rejected/candidate versions never served

    with pytest.raises(ValueError):
        store.register_model(USER, "v2", "/m/other.pkl", {}, 1, 1)  # version already registered
    with pytest.raises(ValueError):
        store.register_model(USER, "v9", "/m/v9.pkl", {}, 1, 1, activate=True, status="rejected")
    with pytest.raises(LookupError):
        store.activate_model(USER, "v404")

    back = store.activate_model(USER, "v1")  # rollback
    assert back.active and store.active_model(USER).version == "v1"
    assert [(m.version, m.active) for m in store.models(USER)] == [
        ("v1", True), ("v2", False), ("v3", False), ("v4", False)]
    assert store.previous_model(USER).version == "v2"
    store.set_model_status(USER, "v2", "rejected", note="rolled back")
    assert store.previous_model(USER) is None
    with pytest.raises(ValueError):
        store.set_model_status(USER, "v1", "rejected")  # the active one

    store.register_model("other", "o1", "/m/o1.pkl", {}, 1, 1)
    # keep the 2 newest (v4, v3) plus the active v1: v2 goes
    assert store.prune_models(USER, 2) == ["/m/v2.pkl"]
    assert [m.version for m in store.models(USER)] == ["v1", "v3", "v4"]
    assert store.prune_models(USER, 0) == ["/m/v4.pkl", "/m/v3.pkl"]
    assert [m.version for m in store.models(USER)] == ["v1"] and store.active_model(USER).version == "v1"
    assert store.prune_models(USER, 0) == []
    assert store.active_model("other").version == "o1"  # another user's models are untouched
    assert store.model_version(USER, "v2") is None and store.model_version("nobody", "v1") is None
    with pytest.raises(ValueError):
        store.prune_models(USER, -1)


def test_prune_returns_only_unshared_paths(store: Store) -> None:
    store.register_model(USER, "a", "/m/shared.pkl", {}, 1, 1)
    store.register_model(USER, "b", "/m/shared.pkl", {}, 1, 1)
    store.register_model(USER, "c", "/m/c.pkl", {}, 1, 1)
    store.activate_model(USER, "b")
    assert store.prune_models(USER, 1) == []  # "a" goes, but its file is still "b"'s
    assert [m.version for m in store.models(USER)] == ["b", "c"]


# ----------------------------------------------------------------------------------- digest bookkeeping


def test_created_at_survives_reimport(store: Store) -> None:
    store.replace_collection(USER, [item(1), item(2)])
    before = {it.release.id for it in store.collection_added_since(USER, utcnow() - timedelta(minutes=1))}
    assert before == {1, 2}
    mid = utcnow()
    store.replace_collection(USER, [item(2), item(3), item(1)])
    assert [it.release.id for it in store.collection_added_since(USER, mid)] == [3]
    store.add_items(USER, [item(2), item(4)])  # an upsert keeps it too
    assert [it.release.id for it in store.collection_added_since(USER, mid)] == [3, 4]
    # removed and re-added later: new again
    store.replace_collection(USER, [item(2), item(3), item(4)])
    mid2 = utcnow()
    store.replace_collection(USER, [item(1), item(2), item(3), item(4)])
    assert [it.release.id for it in store.collection_added_since(USER, mid2)] == [1]
    # lists are separate; list_name=None covers both
    store.replace_collection(USER, [item(9, "wantlist")], list_name="wantlist")
    assert [it.release.id for it in store.collection_added_since(USER, mid2)] == [1]
    assert {it.release.id for it in store.collection_added_since(USER, mid2, list_name=None)} == {1, 9}
    assert store.collection_added_since("nobody", mid) == []


def test_last_digest_at(store: Store) -> None:
    assert store.last_digest_at(USER) is None
    store.set_settings(USER, {"currency": "EUR"})
    when = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    store.set_last_digest_at(USER, when)
    got = store.last_digest_at(USER)
    assert got == when and got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert store.get_settings(USER)["currency"] == "EUR"  # other settings kept
    store.set_last_digest_at(USER, datetime(2026, 3, 8, 9, 30))  # naive: taken as UTC
    assert store.last_digest_at(USER) == datetime(2026, 3, 8, 9, 30, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------ migration

OLD_SCHEMA = """
CREATE TABLE cached_releases (
    release_id INTEGER NOT NULL, data TEXT NOT NULL, source VARCHAR NOT NULL, fetched_at DATETIME NOT NULL,
    PRIMARY KEY (release_id));
CREATE TABLE users (
    id INTEGER NOT NULL, name VARCHAR NOT NULL, created_at DATETIME NOT NULL, settings TEXT, PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_users_name ON users (name);
CREATE TABLE collection_entries (
    id INTEGER NOT NULL, user_id INTEGER NOT NULL, release_id INTEGER NOT NULL, list_name VARCHAR NOT NULL,
    date_added DATE, rating INTEGER, source VARCHAR NOT NULL, price_paid FLOAT, currency VARCHAR,
    PRIMARY KEY (id), CONSTRAINT uq_entry_user_release_list UNIQUE (user_id, release_id, list_name),
    FOREIGN KEY(user_id) REFERENCES users (id));
CREATE INDEX ix_collection_entries_user_id ON collection_entries (user_id);
CREATE INDEX ix_collection_entries_release_id ON collection_entries (release_id);
CREATE TABLE linked_accounts (
    id INTEGER NOT NULL, user_id INTEGER NOT NULL, discogs_username VARCHAR NOT NULL, auth_kind VARCHAR NOT NULL,
    token_enc TEXT, oauth_token_enc TEXT, oauth_secret_enc TEXT, currency VARCHAR NOT NULL,
    linked_at DATETIME NOT NULL, last_sync_at DATETIME, sync_state TEXT NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES users (id));
CREATE UNIQUE INDEX ix_linked_accounts_user_id ON linked_accounts (user_id);
CREATE TABLE model_versions (
    id INTEGER NOT NULL, user_id INTEGER NOT NULL, version VARCHAR NOT NULL, path VARCHAR NOT NULL,
    created_at DATETIME NOT NULL, metrics TEXT NOT NULL, n_positives INTEGER NOT NULL, n_negatives INTEGER NOT NULL,
    active BOOLEAN NOT NULL, PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id));
CREATE INDEX ix_model_versions_user_id ON model_versions (user_id);
CREATE TABLE scores_served (
    id INTEGER NOT NULL, user_id INTEGER NOT NULL, release_id INTEGER NOT NULL, probability FLOAT NOT NULL,
    label VARCHAR NOT NULL, score_type VARCHAR NOT NULL, reasons TEXT NOT NULL, model_version VARCHAR,
    created_at DATETIME NOT NULL, PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id));
CREATE INDEX ix_scores_served_user_id ON scores_served (user_id);
CREATE INDEX ix_scores_served_release_id ON scores_served (release_id);
CREATE TABLE feedback (
    id INTEGER NOT NULL, user_id INTEGER NOT NULL, release_id INTEGER NOT NULL, score_id INTEGER,
    kind VARCHAR NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES users (id), FOREIGN KEY(score_id) REFERENCES scores_served (id));
CREATE INDEX ix_feedback_user_id ON feedback (user_id);
CREATE INDEX ix_feedback_release_id ON feedback (release_id);

INSERT INTO users (id, name, created_at, settings) VALUES (1, 'digger', '2025-01-01 10:00:00.000000', NULL);
INSERT INTO collection_entries (id, user_id, release_id, list_name, date_added, rating, source)
    VALUES (1, 1, 7, 'collection', '2024-05-01', 4, 'csv');
INSERT INTO scores_served (id, user_id, release_id, probability, label, score_type, reasons, model_version,
    created_at) VALUES (1, 1, 100, 0.8, 'buy', 'model', '[]', 'v2', '2025-01-02 10:00:00.000000');
INSERT INTO scores_served (id, user_id, release_id, probability, label, score_type, reasons, model_version,
    created_at) VALUES (2, 1, 200, 0.2, 'skip', 'model', '[]', 'v2', '2025-01-02 11:00:00.000000');
-- the old code appended every reaction: 👍 then 👎 on score 1, a purchase, and a 👍 on score 2
INSERT INTO feedback (id, user_id, release_id, score_id, kind, created_at)
    VALUES (1, 1, 100, 1, 'like', '2025-01-02 10:01:00.000000');
INSERT INTO feedback (id, user_id, release_id, score_id, kind, created_at)
    VALUES (2, 1, 100, 1, 'dislike', '2025-01-02 10:02:00.000000');
INSERT INTO feedback (id, user_id, release_id, score_id, kind, created_at)
    VALUES (3, 1, 100, 1, 'bought', '2025-01-02 10:03:00.000000');
INSERT INTO feedback (id, user_id, release_id, score_id, kind, created_at)
    VALUES (4, 1, 200, 2, 'like', '2025-01-02 11:01:00.000000');
INSERT INTO feedback (id, user_id, release_id, score_id, kind, created_at)
    VALUES (5, 1, 300, NULL, 'dislike', '2025-01-02 12:00:00.000000');
INSERT INTO model_versions (id, user_id, version, path, created_at, metrics, n_positives, n_negatives, active)
    VALUES (1, 1, 'v1', '/m/v1.pkl', '2025-01-01 10:00:00.000000', '{}', 10, 30, 0);
INSERT INTO model_versions (id, user_id, version, path, created_at, metrics, n_positives, n_negatives, active)
    VALUES (2, 1, 'v2', '/m/v2.pkl', '2025-01-01 11:00:00.000000', '{}', 12, 36, 1);
"""


def test_migration_from_the_old_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    conn.close()

    s = Store(f"sqlite:///{path}")
    try:
        assert s.migrations  # it did something
        cols = {t: {c["name"] for c in inspect(s.engine).get_columns(t)}
                for t in ("feedback", "model_versions", "collection_entries")}
        assert {"reason", "source", "event_id", "slot", "probability", "disagreement", "updated_at"} <= cols["feedback"]
        assert {"status", "note", "was_active"} <= cols["model_versions"]
        assert "created_at" in cols["collection_entries"]
        indexes = {i["name"] for i in inspect(s.engine).get_indexes("feedback")}
        assert {"uq_feedback_user_score_slot", "uq_feedback_user_event", "uq_feedback_user_release_implicit"} <= indexes

        # old rows: the superseded 👍 on score 1 is gone, the rest backfilled
        rows = {f.id: f for f in s.feedback(USER)}
        assert sorted(rows) == [2, 3, 4, 5]
        assert (rows[2].kind, rows[2].slot, rows[2].source) == ("dislike", "vote", "chat")
        assert rows[3].slot == "bought"
        assert rows[2].probability == pytest.approx(0.8) and rows[2].disagreement      # 👎 on a buy
        assert rows[4].probability == pytest.approx(0.2) and rows[4].disagreement      # 👍 on a skip
        assert rows[5].probability is None and not rows[5].disagreement
        assert rows[2].updated_at == rows[2].created_at == datetime(2025, 1, 2, 10, 2, tzinfo=timezone.utc)
        assert s.disagreements(USER) == 2

        # the new API on old data
        row, changed = s.record_feedback(USER, "like", score_id=1, source="telegram", event_id="tg-9",
                                         reason="changed my mind")
        assert changed and row.id == 2 and row.kind == "like" and not row.disagreement
        assert not s.record_feedback(USER, "like", score_id=1, source="telegram", event_id="tg-9")[1]
        assert [m.was_active for m in s.models(USER)] == [True, True]  # the old code activated every model
        assert s.model_version(USER, "v1").status == "retired"   # replaced: the migration says so
        assert s.previous_model(USER).version == "v1"
        assert s.activate_model(USER, "v1").active and s.active_model(USER).version == "v1"
        # old entries have no creation time: never "new", and kept so by a re-import
        assert s.collection_added_since(USER, datetime(2000, 1, 1)) == []
        mid = utcnow()
        s.replace_collection(USER, [item(7), item(100)])
        assert [it.release.id for it in s.collection_added_since(USER, mid)] == [100]
        assert s.record_implicit_purchases(USER) == 0  # 100 was bought explicitly already
    finally:
        s.close()

    again = Store(f"sqlite:///{path}")  # a second open has nothing left to do
    try:
        assert again.migrations == []
        assert len(again.feedback(USER)) == 4
    finally:
        again.close()


def test_fresh_database_needs_no_migration(db_url: str) -> None:
    Store(db_url).close()
    s = Store(db_url)
    try:
        assert s.migrations == []
    finally:
        s.close()


# --------------------------------------------------------------------------- feedback messages in chat


@pytest.mark.parametrize("text, expected", [
    ("👍", ("like", None)),
    ("👎", ("dislike", None)),
    ("bought it", ("bought", None)),
    ("Bought it!", ("bought", None)),
    ("👎 too expensive", ("dislike", "too expensive")),
    ("👎too pricey", ("dislike", "too expensive")),
    ("👎 already have it", ("dislike", "already have it")),
    ("not my style", ("dislike", "not my style")),
    ("Not my thing.", ("dislike", "not my style")),
    ("dislike: not my style", ("dislike", "not my style")),
    ("Dislike – because it's a reissue", ("dislike", "it's a reissue")),
    ("no, already got it", ("dislike", "already have it")),
    ("nope too expensive", ("dislike", "too expensive")),
    ("👍 great label", ("like", "great label")),
    ("like: that bassline", ("like", "that bassline")),
    ("no idea", None),
    ("like what?", None),
    ("nobody", None),
    ("hello there", None),
    ("", None),
])
def test_parse_feedback(text: str, expected: tuple[str, str | None] | None) -> None:
    assert parse_feedback(text) == expected


def test_conversation_passes_reason_source_and_event(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url)
    try:
        rec = Recommender(store, catalogue={}, cfg=get_config(), embeddings=object(), models_dir=tmp_path)
        conv = CrateApp(rec).conv
        store.cache_releases([Release(id=100, title="Life's Rich Pageant", artists=["R.E.M."])])
        sid = score(store, 100, BUY + 0.1)

        (reply,) = conv.handle(USER, "👎 too expensive", score_id=sid, event_id=42, source="telegram")
        assert reply.text.startswith("Noted 👎 for R.E.M.") and "(too expensive)" in reply.text
        (again,) = conv.handle(USER, "👎 too expensive", score_id=sid, event_id=42, source="telegram")
        assert again.text == reply.text  # the redelivery is acknowledged again, but recorded once
        (row,) = store.feedback(USER)
        assert (row.kind, row.reason, row.source, row.event_id) == ("dislike", "too expensive", "telegram", "42")
        assert row.disagreement

        (bought,) = conv.handle(USER, "bought it", source="discord", event_id="int-7")
        assert bought.text.startswith("Congrats on buying")
        assert sorted((f.kind, f.source) for f in store.feedback(USER)) == [("bought", "discord"),
                                                                             ("dislike", "telegram")]
        (plain,) = conv.handle(USER, "👍")
        assert plain.text.startswith("Noted 👍 for")
        assert sorted((f.kind, f.source) for f in store.feedback(USER)) == [("bought", "discord"),
                                                                             ("like", "chat")]
    finally:
        store.close()


def test_kind_tuples_are_consistent() -> None:
    assert set(FEEDBACK_KINDS) == set(EXPLICIT_KINDS) | set(IMPLICIT_KINDS)
    assert Feedback.__tablename__ == "feedback"
