"""The live Discogs gateway against the local fake Discogs server, through the real python3-discogs-client."""
from __future__ import annotations

import copy
import time

import pytest
from conftest import DATA

from core.config import get_config
from core.discogs.barcodes import digits, normalise_barcode
from core.discogs.gateway import (
    AuthFailed,
    DiscogsGateway,
    NotFound,
    PrivateCollection,
    RateLimited,
    Unavailable,
    UserNotFound,
)
from core.discogs.ratelimit import RateLimiter
from core.domain.refs import DiscogsRef, parse_ref
from core.ingest.readers.dump_xml import iter_dump_releases
from fakes.discogs_data import market_numbers
from fakes.fixtures import COLLECTOR, COLLECTOR_TOKEN, SECRETIVE, WINDOW_SECONDS, discogs_server  # noqa: F401


def fast_cfg(**discogs) -> dict:
    cfg = copy.deepcopy(get_config())
    cfg["discogs"].update({"rate_window_s": WINDOW_SECONDS, "retry_base_s": 0.02, "retry_cap_s": 0.1,
                           "read_timeout_s": 1.0, "connect_timeout_s": 1.0, "live": True})
    cfg["discogs"].update(discogs)
    return cfg


def gateway(server, token=COLLECTOR_TOKEN, clock=time.monotonic, **discogs) -> DiscogsGateway:
    cfg = fast_cfg(**discogs)
    lim = RateLimiter(int(cfg["discogs"]["rate_limit_auth" if token else "rate_limit_anon"]), WINDOW_SECONDS)
    return DiscogsGateway(token=token, base_url=server.base_url, cfg=cfg, limiter=lim, clock=clock)


@pytest.fixture(scope="module")
def dump_with_barcode():
    for r in iter_dump_releases(DATA / "dump-sample" / "discogs_20200806_releases.xml.gz"):
        for b in r.barcodes:
            if normalise_barcode(b) and len(digits(b)) in (12, 13):
                return r, b
    pytest.skip("no release with a valid barcode in the dump sample")


def test_release_lookup_real_shape(discogs_server):
    gw = gateway(discogs_server)
    r = gw.release(1)                      # a real fixture release (The Persuader – Stockholm)
    assert r.id == 1 and r.title == "Stockholm"
    assert r.artists == ["Persuader, The"]     # as the fixture spells it
    assert r.have is not None and r.want is not None
    # the token went as a query parameter, the User-Agent is ours
    rec = discogs_server.requests[-1]
    assert rec.path == "/releases/1" and rec.token == COLLECTOR_TOKEN


def test_resolve_every_kind(discogs_server):
    gw = gateway(discogs_server)
    master = gw.resolve(parse_ref("https://www.discogs.com/master/4242-Some-Title"))
    main = discogs_server.user  # noqa: F841 (server API used below)
    assert master.id == gw.master_main_release(4242)
    assert gw.resolve(DiscogsRef("release", 1)).title == "Stockholm"


def test_deleted_release_is_not_found(discogs_server):
    discogs_server.delete_release(1)
    with pytest.raises(NotFound) as exc:
        gateway(discogs_server).release(1)
    assert "deleted" in exc.value.user_message


def test_user_errors(discogs_server):
    gw = gateway(discogs_server, token=None)
    with pytest.raises(UserNotFound):
        gw.collection_page("nobody-by-this-name", 1)
    with pytest.raises(PrivateCollection) as exc:
        gw.collection_page(SECRETIVE, 1)
    assert "private" in exc.value.user_message


def test_revoked_token(discogs_server):
    discogs_server.revoke_token(COLLECTOR_TOKEN)
    with pytest.raises(AuthFailed) as exc:
        gateway(discogs_server).identity()
    assert "revoked" in exc.value.user_message


def test_identity(discogs_server):
    assert gateway(discogs_server).identity() == COLLECTOR


def test_recovers_from_500_and_429(discogs_server):
    discogs_server.fail(r"^/releases/1$", status=500, times=2)
    assert gateway(discogs_server).release(1).id == 1
    discogs_server.fail(r"^/releases/1$", status=429, times=1,
                        headers={"X-Discogs-Ratelimit-Remaining": "0"})
    assert gateway(discogs_server).release(1).id == 1
    assert discogs_server.count_requests(r"^/releases/1$", status=500) == 2
    assert discogs_server.count_requests(r"^/releases/1$", status=429) == 1
    assert discogs_server.count_requests(r"^/releases/1$", status=200) >= 2


def test_gives_up_clearly(discogs_server):
    discogs_server.fail(r"^/releases/1$", status=503, times=None)
    with pytest.raises(Unavailable) as exc:
        gateway(discogs_server).release(1)
    assert "down" in exc.value.user_message
    discogs_server.clear_faults()
    discogs_server.fail(r"^/releases/1$", status=429, times=None)
    with pytest.raises(RateLimited):
        gateway(discogs_server).release(1)


def test_timeout_is_retried_then_reported(discogs_server):
    discogs_server.slow(r"^/releases/1$", delay=1.5, times=1)
    t0 = time.perf_counter()
    assert gateway(discogs_server).release(1).id == 1          # first attempt times out at 1 s, retry works
    assert time.perf_counter() - t0 < 5
    discogs_server.slow(r"^/releases/1$", delay=1.5, times=None)
    with pytest.raises(Unavailable):
        gateway(discogs_server, retry_attempts=2).release(1)


def test_never_over_the_limit_under_concurrency(discogs_server):
    """Four threads sharing one token's budget: the fake counts zero requests over the limit."""
    import threading

    gw = gateway(discogs_server)
    discogs_server.configure_rate_limit(limit_authenticated=10)
    gw.limiter.limit = 10
    errors = []

    def work():
        try:
            for _ in range(8):
                gw.release(1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert discogs_server.over_limit == 0
    # 32 requests at 10 per 1-s window need at least 3 window roll-overs
    assert time.perf_counter() - t0 >= 3 * WINDOW_SECONDS * 0.9


def test_barcode_search_finds_the_pressing(discogs_server, dump_with_barcode):
    release, raw = dump_with_barcode
    code = normalise_barcode(raw)
    spaced = " ".join([code[:1], code[1:7], code[7:]])      # how people type it
    cands = gateway(discogs_server).search_barcode(spaced)
    assert cands, "no candidates"
    assert cands[0].release_id == release.id and cands[0].exact
    assert cands[0].describe().startswith(cands[0].title)


def test_barcode_rejects_misreads(discogs_server):
    with pytest.raises(ValueError):
        gateway(discogs_server).search_barcode("5012394144778")   # wrong check digit
    assert discogs_server.count_requests("/database/search") == 0


def test_price_in_users_currency_is_cached(discogs_server):
    rid = next(r for r in sorted(discogs_server.data.releases) if market_numbers(r, "GBP")[1] is not None)
    now = [0.5]                          # a clock that starts near 0, like time.monotonic() just after boot
    gw = gateway(discogs_server, clock=lambda: now[0], price_ttl_s=60)
    stats = rf"^/marketplace/stats/{rid}$"
    p1 = gw.price(rid, "GBP")
    assert p1 == (market_numbers(rid, "GBP")[1], "GBP")
    assert discogs_server.count_requests(stats) == 1
    now[0] += 59
    assert gw.price(rid, "gbp") == p1                      # within the TTL: from the cache
    assert discogs_server.count_requests(stats) == 1
    assert gw.price(rid, "EUR") == (market_numbers(rid, "EUR")[1], "EUR")   # another currency: its own entry
    assert discogs_server.count_requests(stats) == 2
    now[0] += 1
    assert gw.price(rid, "GBP") == p1                      # TTL over: asked again
    assert discogs_server.count_requests(stats) == 3
    assert gateway(discogs_server).price(1, "GBP") is None  # nothing for sale
    assert discogs_server.count_requests(r"^/marketplace/stats/1$") == 1


def test_marketplace_stats_follow_the_market_as_it_changes(discogs_server):
    """``market_stats`` asks Discogs each time (no cache): the fake's prices move with its clock, a release
    barred from sale says so, a deleted one is NotFound."""
    from core.discogs.gateway import MarketStats, NotFound

    rid = next(r for r in sorted(discogs_server.data.releases) if r not in discogs_server.deleted_ids)
    clock = [1_000.0]
    discogs_server.market_clock = lambda: clock[0]
    discogs_server.set_market(rid, 20.0, 3, at=1_000.0)
    discogs_server.set_market(rid, 12.5, 4, at=2_000.0)
    discogs_server.set_market(rid, None, 0, at=3_000.0, blocked=True)
    gw = gateway(discogs_server)
    assert gw.market_stats(rid, "USD") == MarketStats(20.0, "USD", 3, False)
    clock[0] = 2_500.0
    eur = gw.market_stats(rid, "eur")
    assert eur.currency == "EUR" and eur.num_for_sale == 4 and eur.lowest is not None and eur.lowest < 12.5
    clock[0] = 3_000.0
    assert gw.market_stats(rid, "USD") == MarketStats(None, "USD", 0, True)
    assert discogs_server.count_requests(rf"^/marketplace/stats/{rid}$") == 3
    discogs_server.delete_release(rid)
    with pytest.raises(NotFound):
        gw.market_stats(rid, "USD")


def test_price_suggestions_per_condition_need_a_token(discogs_server):
    from core.discogs.gateway import AuthFailed

    rid = min(discogs_server.data.releases)
    got = gateway(discogs_server).price_suggestions(rid)
    assert list(got)[:3] == ["Mint (M)", "Near Mint (NM or M-)", "Very Good Plus (VG+)"]
    assert got["Mint (M)"][0] > got["Very Good Plus (VG+)"][0] > got["Poor (P)"][0] > 0
    assert {cur for _, cur in got.values()} == {discogs_server.user(COLLECTOR).currency}
    with pytest.raises(AuthFailed):
        gateway(discogs_server, token=None).price_suggestions(rid)


def test_token_never_in_repr_or_logs(discogs_server, caplog):
    import logging

    from core.secrets import install_redaction, uninstall_redaction

    f = install_redaction()
    try:
        caplog.set_level(logging.DEBUG)
        gw = gateway(discogs_server)
        discogs_server.fail(r"^/releases/1$", status=500, times=1)
        gw.release(1)
        assert COLLECTOR_TOKEN not in repr(gw)
        assert COLLECTOR_TOKEN not in caplog.text
    finally:
        uninstall_redaction(f)
