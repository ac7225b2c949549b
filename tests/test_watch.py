"""Watch (issue 28, first part): the watch list in the store, the alert rules, and the polling pass against the
fake Discogs API — prices that move with a clock the test controls, the rate-limit window, a 429, a 5xx, a
release barred from sale, a deleted release, a user who is forgotten."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from test_gateway import fast_cfg, gateway

from backends import database_url
from core.discogs.gateway import DiscogsGateway
from core.discogs.ratelimit import RateLimiter
from core.storage import Check, Store
from core.watch import poll_user
from fakes.fixtures import COLLECTOR_TOKEN, discogs_server, live_cli, make_server  # noqa: F401

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
USER = "alice"


@pytest.fixture
def store(tmp_path):
    return Store(database_url(tmp_path, "watch"))


def window_of(server, limit: int) -> DiscogsGateway:
    """A gateway whose moving window holds ``limit`` requests a minute (a fresh window)."""
    return DiscogsGateway(token=COLLECTOR_TOKEN, base_url=server.base_url, cfg=fast_cfg(),
                          limiter=RateLimiter(limit, 60.0))


def releases(server, n: int) -> list[int]:
    return [r for r in sorted(server.data.releases) if r not in server.deleted_ids][:n]


def test_the_watch_list_keeps_marked_watches_over_the_wantlist(store):
    store.watch(USER, 10, max_price=25.0, currency="gbp", now=T0)
    assert store.sync_wanted(USER, [10, 11, 12], "GBP", now=T0) == (2, 0)
    ws = {w.release_id: w for w in store.watches(USER)}
    assert ws[10].source == "watch" and ws[10].max_price == 25.0 and ws[10].currency == "GBP"
    assert ws[11].source == ws[12].source == "wantlist"
    # the wantlist lost 10 and 11: the marked watch stays, the wanted one goes
    assert store.sync_wanted(USER, [12], "GBP", now=T0) == (0, 1)
    assert sorted(w.release_id for w in store.watches(USER)) == [10, 12]
    store.watch(USER, 12, max_price=9.5, currency="GBP")          # marking a wanted record: now a watch
    assert {w.release_id: w.source for w in store.watches(USER)} == {10: "watch", 12: "watch"}
    assert store.unwatch(USER, 10) and not store.unwatch(USER, 10)
    assert store.watches("bob") == []                               # one user never sees another's
    report = store.forget_user(USER)
    assert report.deleted["watches"] == 1 and store.watches(USER) == []


def test_a_poll_alerts_below_the_maximum_once_then_on_a_clear_drop_and_when_for_sale_again(store, discogs_server):
    rid, other = releases(discogs_server, 2)
    clock = [T0.timestamp()]
    discogs_server.market_clock = lambda: clock[0]
    discogs_server.set_market(rid, 30.0, 5, at=0)
    discogs_server.set_market(other, 50.0, 2, at=0)
    gw = gateway(discogs_server)
    store.watch(USER, rid, max_price=32.0, currency="USD", now=T0)
    store.watch(USER, other, currency="USD", now=T0)

    def poll(at: datetime):
        clock[0] = at.timestamp()
        return poll_user(store, gw, USER, "USD", at)

    first = poll(T0)
    assert first.checked == 2
    (alert,) = first.alerts                                         # 30 ≤ 32: within the maximum
    assert (alert.release_id, alert.price, alert.reason) == (rid, 30.0, "below_max")
    assert "within your maximum of 32.00 USD" in alert.why and "5 copies for sale" in alert.why
    store.record_alert(USER, alert.watch_id, alert.price, alert.currency, alert.reason, T0)
    assert poll(T0 + timedelta(hours=1)).alerts == []              # the same price: no repeat
    discogs_server.set_market(other, 46.0, 2, at=(T0 + timedelta(hours=2)).timestamp())
    assert poll(T0 + timedelta(hours=3)).alerts == []              # 8 % down: not clearly
    discogs_server.set_market(other, 37.0, 1, at=(T0 + timedelta(hours=4)).timestamp())
    (drop,) = poll(T0 + timedelta(hours=5)).alerts                  # 20 % under the lowest seen before (46)
    assert (drop.release_id, drop.reason) == (other, "drop")
    assert drop.why == "37.00 USD, 20 % under the lowest seen before (46.00 USD; 1 copy for sale)"
    hist = store.price_history(other, "USD")
    assert (hist.first_price, hist.lowest_price, hist.last_price, hist.checks) == (50.0, 37.0, 37.0, 4)
    discogs_server.set_market(rid, None, 0, at=(T0 + timedelta(hours=6)).timestamp(), blocked=True)
    assert poll(T0 + timedelta(hours=7)).alerts == []              # barred from sale: nothing to buy
    discogs_server.set_market(rid, 35.0, 1, at=(T0 + timedelta(hours=8)).timestamp())
    back = [a for a in poll(T0 + timedelta(hours=9)).alerts if a.release_id == rid]
    assert back and back[0].reason == "back" and back[0].why.startswith("for sale again: 1 copy for sale, from 35.00")


def test_a_poll_leaves_the_window_room_for_the_collectors_own_look_ups(store):
    """A token allowed 10 requests a minute (the server says so in its headers): a pass takes 5 and stops; the
    collector's own look-up then goes at once, and the next pass goes on with the releases not yet checked."""
    server = make_server(limit_authenticated=10, window_seconds=60.0)
    try:
        ids = releases(server, 12)
        for rid in ids:
            store.watch(USER, rid, currency="EUR", now=T0)
        gw = window_of(server, 10)
        report = poll_user(store, gw, USER, "EUR", T0, keep=5)
        assert report.checked == 5 and report.left == 7 and "your own look-ups" in (report.stopped or "")
        assert gw.limiter.has_room() and gw.release(ids[0]).id == ids[0]   # at once, no wait
        assert server.over_limit == 0
        first = {w.release_id for w in store.watches(USER) if w.checked_at == T0}
        gw = window_of(server, 10)          # a minute later, a fresh window
        server.window_seconds = 0.001
        report = poll_user(store, gw, USER, "EUR", T0 + timedelta(minutes=1), keep=5)
        second = {w.release_id for w in store.watches(USER) if w.checked_at == T0 + timedelta(minutes=1)}
        assert report.checked == 5 and len(first) == 5 and second.isdisjoint(first)   # never-checked first
    finally:
        server.stop()


def test_a_429_or_a_5xx_stops_the_pass_and_a_deleted_release_is_not_asked_again(store, discogs_server):
    a, b, c = releases(discogs_server, 3)
    for rid in (a, b, c):
        store.watch(USER, rid, currency="USD", now=T0)
    gw = gateway(discogs_server, retry_attempts=1)
    discogs_server.fail(r"^/marketplace/stats/", 429, times=None)
    report = poll_user(store, gw, USER, "USD", T0)
    assert report.checked == 0 and report.left == 3 and "slow down" in (report.stopped or "")
    discogs_server.clear_faults()
    discogs_server.fail(r"^/marketplace/stats/", 503, times=None)
    report = poll_user(store, gw, USER, "USD", T0)
    assert report.checked == 0 and report.left == 3 and "down or unreachable" in (report.stopped or "")
    discogs_server.clear_faults()
    discogs_server.delete_release(b)
    report = poll_user(store, gw, USER, "USD", T0 + timedelta(minutes=1))
    assert report.checked == 3 and report.gone == 1 and report.alerts == []
    assert {w.release_id for w in store.watches(USER) if w.gone} == {b}
    before = discogs_server.count_requests(rf"^/marketplace/stats/{b}$")
    assert poll_user(store, gw, USER, "USD", T0 + timedelta(minutes=2)).checked == 2
    assert discogs_server.count_requests(rf"^/marketplace/stats/{b}$") == before


def test_a_check_of_an_unchanged_market_is_no_alert(store):
    w = store.watch(USER, 5, currency="EUR", now=T0)
    assert w.id is not None
    store.record_check(w.id, Check(20.0, "EUR", 3), T0)
    before, hist = store.record_check(w.id, Check(20.0, "EUR", 3), T0 + timedelta(hours=1))
    from core.watch import judge

    assert judge(USER, before, hist, Check(20.0, "EUR", 3)) is None
    assert judge(USER, before, hist, Check(16.9, "EUR", 3)).reason == "drop"    # 15.5 % under 20
    assert judge(USER, before, hist, Check(17.5, "EUR", 3)) is None             # 12.5 %: not clearly



def test_crate_watch_add_list_poll_remove(live_cli, discogs_server, monkeypatch, capsys):
    """The shell's interface, exactly: add with a maximum, the JSON list, a pass that prints its alert, a second
    pass at the same price that prints none, remove by number."""
    import io
    import json
    import sys

    from bot.cli import main

    db = ["--database", live_cli]
    monkeypatch.setattr(sys, "stdin", io.StringIO(COLLECTOR_TOKEN + "\n"))
    assert main([*db, "link", "--token-stdin", "--user", "u"]) == 0
    rid = releases(discogs_server, 1)[0]
    discogs_server.set_market(rid, 30.0, 3, at=0)
    capsys.readouterr()
    assert main([*db, "watch", "add", f"https://www.discogs.com/release/{rid}-X", "--max", "35", "--user", "u"]) == 0
    assert f"(release {rid}), up to 35.00" in capsys.readouterr().out
    assert main([*db, "watch", "list", "--json", "--user", "u"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert {"release_id", "max_price", "currency", "lowest_price", "num_for_sale", "score", "checked_at"} <= set(item)
    assert (item["release_id"], item["max_price"], item["checked_at"]) == (rid, 35.0, None)
    assert main([*db, "watch", "poll", "--user", "u"]) == 0
    out = capsys.readouterr().out.splitlines()
    cur = item["currency"]
    assert len(out) == 2 and f"[release {rid}]: " in out[0] and f" {cur} · " in out[0]
    assert "within your maximum" in out[0] and out[1].startswith("1 alert; checked 1 watched record.")
    assert main([*db, "watch", "poll", "--user", "u"]) == 0
    assert capsys.readouterr().out.startswith("0 alerts; checked 1")   # the same price: no repeat
    assert main([*db, "watch", "list", "--json", "--user", "u"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["lowest_price"] is not None and item["num_for_sale"] == 3 and item["checked_at"]
    # the wantlist is watched after a sync; unlinking drops those watches and keeps the marked one
    assert main([*db, "sync", "--user", "u"]) == 0
    assert main([*db, "watch", "list", "--json", "--user", "u"]) == 0
    sources = [it["source"] for it in _json_tail(capsys)]
    assert sources.count("watch") == 1 and sources.count("wantlist") >= 30
    assert main([*db, "unlink", "--user", "u"]) == 0
    assert main([*db, "watch", "list", "--json", "--user", "u"]) == 0
    assert [it["release_id"] for it in _json_tail(capsys)] == [rid]
    assert main([*db, "watch", "remove", "1", "--user", "u"]) == 0
    assert f"Stopped watching release {rid}." in capsys.readouterr().out
    assert main([*db, "watch", "remove", "1", "--user", "u"]) != 0
    assert main([*db, "watch", "add", "not a link", "--user", "u"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()


def test_a_linked_sync_watches_the_wantlist(discogs_server, store):
    """The wantlist is watched after a sync (in the link's currency); a want removed on Discogs stops being
    watched at the next sync, a record the collector marked stays."""
    from core.discogs.sync import CollectionSync
    from fakes.fixtures import COLLECTOR, COLLECTOR_WANTS

    store.link_account(USER, COLLECTOR, "username", currency="GBP")
    sync = CollectionSync(gateway(discogs_server, token=None), store, per_page=100)
    sync.sync_linked(USER, now=T0)
    ws = store.watches(USER)
    assert len(ws) == COLLECTOR_WANTS and {w.source for w in ws} == {"wantlist"} and {w.currency for w in ws} == {"GBP"}
    marked = ws[0].release_id
    store.watch(USER, marked, max_price=10.0, currency="GBP")
    wants = discogs_server.user(COLLECTOR).wants
    discogs_server.user(COLLECTOR).wants = [e for e in wants if e.release_id not in (marked, ws[1].release_id)]
    sync.sync_linked(USER, full=True, now=T0 + timedelta(days=1))
    after = {w.release_id: w.source for w in store.watches(USER)}
    assert after[marked] == "watch" and ws[1].release_id not in after and len(after) == COLLECTOR_WANTS - 1


def _json_tail(capsys) -> list:
    """The JSON list a command printed last (what came before it: other commands' lines)."""
    import json

    out = capsys.readouterr().out
    return json.loads(out[out.index("\n[") + 1:] if not out.startswith("[") else out)


def test_quiet_hours_hold_the_pass_and_the_daily_cap_holds_the_rest(store, discogs_server):
    """The use case over a pass: nothing is checked in the quiet hours (the pass after them alerts), and no more
    than the daily cap of alerts goes out in 24 hours."""
    from types import SimpleNamespace

    from core.app.watching import Watching
    from core.config import get_config

    ids = releases(discogs_server, 4)
    for rid in ids:
        discogs_server.set_market(rid, 10.0, 1, at=0)
        store.watch(USER, rid, max_price=12.0, currency="USD", now=T0)
    gw = gateway(discogs_server)

    def no_score(*a, **k):
        raise LookupError("no model here")

    rec = SimpleNamespace(store=store, cfg=get_config(), gateway_for=lambda user: gw, score=no_score)
    watching = Watching(rec, daily_cap=3, quiet_hours=(22, 8))
    night = T0.replace(hour=23)
    assert watching.poll(USER, night) == [] and discogs_server.count_requests(r"^/marketplace/stats/") == 0
    morning = night + timedelta(hours=9)
    sent = watching.poll(USER, morning)
    assert len(sent) == 3 and {a.alert.reason for a in sent} == {"below_max"}
    assert all(a.score is None and a.line().endswith(a.alert.why) for a in sent)   # no model: said, not hidden
    assert len(store.alerts_since(USER, morning - timedelta(days=1))) == 3
    assert watching.poll(USER, morning + timedelta(hours=1)) == []       # the cap: the fourth waits
    waiting = [w.release_id for w in store.watches(USER) if w.alerted_price is None]
    later = watching.poll(USER, morning + timedelta(days=1, hours=1))   # the next day: the one that waited
    assert len(waiting) == 1 and [a.alert.release_id for a in later] == waiting
