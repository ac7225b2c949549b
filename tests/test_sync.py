"""Collection/wantlist sync and background enrichment against the fake Discogs server."""
from __future__ import annotations

from datetime import timedelta

import pytest
from test_gateway import gateway

from core.discogs.gateway import AuthFailed, PrivateCollection, Unavailable
from core.discogs.sync import CollectionSync, Enricher
from core.storage import Store, utcnow
from fakes.fixtures import COLLECTOR, COLLECTOR_RECORDS, COLLECTOR_WANTS, SECRETIVE, discogs_server  # noqa: F401


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'sync.db'}")
    yield s
    s.close()


def test_full_then_incremental_sync(discogs_server, store):
    gw = gateway(discogs_server, token=None)
    sync = CollectionSync(gw, store, per_page=100)
    state: dict = {}
    progress = []
    reports = sync.sync("me", COLLECTOR, progress=lambda *a: progress.append(a), state=state)
    coll, want = reports
    assert coll.full and coll.total == COLLECTOR_RECORDS and coll.requests == 3   # 230 records, 100 a page
    assert want.total == COLLECTOR_WANTS
    stored = store.collection("me", "collection")
    assert {it.release.id for it in stored} == set(discogs_server.user(COLLECTOR).collection_ids)
    assert all(it.date_added is not None for it in stored)
    assert progress[-1][0] == "wantlist" and progress[0] == ("collection", 100, COLLECTOR_RECORDS)
    # nothing changed: one page is enough to know
    discogs_server.clear_requests()
    again = sync.sync_list("me", COLLECTOR, "collection", state=state)
    assert not again.full and again.added == 0 and again.requests == 1
    # seven new records: still one page, seven added
    new_ids = [e.release_id for e in discogs_server.add_records(COLLECTOR, n=7)]
    inc = sync.sync_list("me", COLLECTOR, "collection", state=state)
    assert not inc.full and inc.added == 7 and inc.requests == 1
    assert set(new_ids) <= {it.release.id for it in store.collection("me", "collection")}


def test_removed_records_trigger_a_full_read(discogs_server, store):
    gw = gateway(discogs_server, token=None)
    sync = CollectionSync(gw, store, per_page=100)
    state: dict = {}
    sync.sync_list("me", COLLECTOR, "collection", state=state)
    gone = discogs_server.user(COLLECTOR).collection_ids[:3]
    discogs_server.remove_records(COLLECTOR, gone)
    rep = sync.sync_list("me", COLLECTOR, "collection", state=state)
    assert rep.full
    assert not set(gone) & {it.release.id for it in store.collection("me", "collection")}
    assert len(store.collection("me", "collection")) == COLLECTOR_RECORDS - 3


def test_interrupted_sync_keeps_what_was_imported(discogs_server, store):
    gw = gateway(discogs_server, token=None, retry_attempts=2)
    sync = CollectionSync(gw, store, per_page=100)
    sync.sync_list("me", COLLECTOR, "collection", state={})
    before = {it.release.id for it in store.collection("me", "collection")}
    discogs_server.add_records(COLLECTOR, n=150)
    discogs_server.fail(r"/collection/folders/0/releases", status=503, times=None)
    with pytest.raises(Unavailable):
        sync.sync_list("me", COLLECTOR, "collection", full=True, state={})
    assert {it.release.id for it in store.collection("me", "collection")} == before


def test_private_collection_and_revoked_token(discogs_server, store):
    with pytest.raises(PrivateCollection):
        CollectionSync(gateway(discogs_server, token=None), store).sync("me", SECRETIVE)
    # the owner's token opens it
    reps = CollectionSync(gateway(discogs_server, token="secretive-token"), store).sync("me", SECRETIVE)
    assert reps[0].total == 60
    discogs_server.revoke_token("secretive-token")
    with pytest.raises(AuthFailed):
        CollectionSync(gateway(discogs_server, token="secretive-token"), store).sync("me", SECRETIVE, full=True)
    assert len(store.collection("me", "collection")) == 60


def test_enricher_fetches_details_and_respects_age(discogs_server, store):
    gw = gateway(discogs_server)
    CollectionSync(gw, store).sync_list("me", COLLECTOR, "collection", state={})
    ids = [it.release.id for it in store.collection("me", "collection")][:12]
    discogs_server.delete_release(ids[0])
    enr = Enricher(gw, store, max_age=timedelta(days=30), currency="EUR")
    enr.run(ids)
    assert enr.done == 11 and enr.failed == 1
    rel = store.get_release(ids[1])
    assert rel.have is not None and rel.want is not None
    assert rel.lowest_price is None or rel.price_currency == "EUR"
    # fresh now: a second run fetches nothing but the one that failed
    discogs_server.clear_requests()
    Enricher(gw, store, max_age=timedelta(days=30)).run(ids)
    # (counted by answer: a loaded machine may add a timeout retry of the same request)
    assert discogs_server.count_requests(r"^/releases/", status=200) == 0
    assert {r.path for r in discogs_server.requests if r.path.startswith("/releases/")} == {f"/releases/{ids[0]}"}
    # older than max_age: fetched again (and fresh afterwards)
    store.touch_releases([ids[2]], when=utcnow() - timedelta(days=31))
    discogs_server.clear_requests()
    Enricher(gw, store, max_age=timedelta(days=30)).run(ids)
    assert discogs_server.count_requests(rf"^/releases/{ids[2]}$", status=200) >= 1
    assert {r.path for r in discogs_server.requests if r.path.startswith("/releases/")} == \
        {f"/releases/{ids[0]}", f"/releases/{ids[2]}"}
    assert ids[2] not in store.releases_older_than(timedelta(days=30), ids)
