"""Forget a user: one call, and afterwards no row of theirs is left in any table of the database."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import inspect, text

from backends import database_url
from core.app.chat_cards import CardRegistry
from core.domain.release import CollectionItem, Release
from core.learning.scheduler import JOBS_TABLE, retrain_job_id
from core.secrets import SecretBox
from core.storage import Store


def give_everything(store: Store, cards: CardRegistry, user: str, box: SecretBox, base: int) -> None:
    """A row of ``user`` in every table the product writes."""
    items = [CollectionItem(release=Release(id=base + i, title=f"Record {i}", artists=["Someone"]),
                            list_name="collection", source="test") for i in range(3)]
    store.add_items(user, items, list_name="collection", source="test")
    store.add_items(user, [CollectionItem(release=Release(id=base + 9, title="Wanted", artists=["Else"]),
                                          list_name="wantlist", source="test")], list_name="wantlist", source="test")
    store.cache_releases([it.release for it in items], source="test")
    sid = store.record_score(user, base, 0.7, "buy", "model", ["a reason"], "v1")
    store.record_feedback(user, "like", score_id=sid, release_id=base, source="telegram", event_id=f"e{base}")
    store.record_feedback(user, "bought", release_id=base + 1, source="chat")
    store.register_model(user, "v1", f"/tmp/{user}/v1.pkl", {"auc": 0.9}, 3, 15, activate=True)
    store.link_account(user, f"{user}_on_discogs", "token", token="secret-token-value-123", box=box)
    store.set_settings(user, {"buy_threshold": 0.7, "currency": "EUR"})
    cards.remember("telegram", 42, base, user, sid, "card text", "why text")


def make_job_table(store: Store, *users: str) -> None:
    """APScheduler's job table as its SQLAlchemyJobStore creates it, with a pending retrain per user."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE).start(None, "default")
    with store.engine.begin() as conn:
        for u in users:
            conn.execute(text(f"INSERT INTO {JOBS_TABLE} (id, next_run_time, job_state) VALUES (:id, :t, :s)"),
                         {"id": retrain_job_id(u), "t": datetime.now(timezone.utc).timestamp(), "s": b"x"})


def user_id(store: Store, name: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM users WHERE name = :n"), {"n": name}).scalar_one())


def rows_mentioning(store: Store, user: str, user_id: int) -> dict[str, int]:
    """Rows of any table holding the user's name (any text column) or id (any ``user_id`` column)."""
    found: dict[str, int] = {}
    insp = inspect(store.engine)
    with store.engine.connect() as conn:
        for table in insp.get_table_names():
            cols = insp.get_columns(table)
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                hit = any((c["name"] == "user_id" and row[c["name"]] == user_id)
                          or (table == "users" and c["name"] == "id" and row[c["name"]] == user_id)
                          or (isinstance(row[c["name"]], str) and user in row[c["name"]]) for c in cols)
                if hit:
                    found[table] = found.get(table, 0) + 1
    return found


def test_forget_leaves_no_row_of_the_user_in_any_table_and_every_row_of_others(tmp_path):
    store = Store(database_url(tmp_path))
    cards = CardRegistry(store)
    box = SecretBox(key=SecretBox.generate_key())
    give_everything(store, cards, "tg:gone", box, 1_000)
    give_everything(store, cards, "tg:stays", box, 2_000)
    make_job_table(store, "tg:gone", "tg:stays")
    gone_id, stays_id = user_id(store, "tg:gone"), user_id(store, "tg:stays")
    before = rows_mentioning(store, "tg:gone", gone_id)
    assert {"users", "collection_entries", "scores_served", "feedback", "model_versions", "linked_accounts",
            "chat_cards", JOBS_TABLE} <= set(before)
    others = rows_mentioning(store, "tg:stays", stays_id)

    report = store.forget_user("tg:gone")

    assert report.found and report.model_paths == ["/tmp/tg:gone/v1.pkl"]
    assert report.deleted["chat_cards"] == 1 and report.deleted[JOBS_TABLE] == 1
    assert rows_mentioning(store, "tg:gone", gone_id) == {}
    assert rows_mentioning(store, "tg:stays", stays_id) == others
    assert cards.lookup("telegram", 42, 1_000) is None and cards.lookup("telegram", 42, 2_000) is not None
    assert store.forget_user("tg:gone").found is False


def test_every_table_exists_whatever_was_imported(tmp_path):
    """The schema is the store's: a fresh database has the chat-card table before any chat module is used."""
    store = Store(database_url(tmp_path, 'fresh'))
    assert "chat_cards" in inspect(store.engine).get_table_names()
