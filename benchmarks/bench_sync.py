"""A 5,000-record collection sync against the fake Discogs API with Discogs' real rate limit, vs the floor.

Starts the local fake Discogs server (``tests/fakes``) with the real limit (60 requests a token in any moving
60-s window, 429 beyond), a user with 5,000 distinct records and 100 wants, links them with a personal token
(``/oauth/identity``) and runs :class:`core.discogs.sync.CollectionSync` (100 a page: 50 collection pages + 1 wantlist
page = 51 requests) through a real :class:`core.discogs.gateway.DiscogsGateway`, twice:

(a) fresh budget: only the link's identity request is in the window, so all 51 fit: the rate floor is 0 s and
    the wall time is pure service time (the fake building pages, the client parsing them, the database write);
(b) busy token: the link plus 59 quick release look-ups through the same gateway first use the whole window's
    60 requests, then the sync: its k-th request cannot reach Discogs before the k-th of those 60 is 60 s old.

The floor is the earliest the same request sequence could finish under the limit with zero service time,
simulated from the server's own log of arrival times in the window when the sync started. Printed: pages
requested, requests over the limit (the fake's ``over_limit``: must be 0), wall time, floor and ratio.
Target: (b) within 10 % of the floor, zero over the limit.

    python benchmarks/bench_sync.py                # the real 60-s window: about 1.5 minutes
    python benchmarks/bench_sync.py --window 5     # a quick check with a 5-s window (same limit of 60)
"""
from __future__ import annotations

import argparse
import copy
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine

sys.path.insert(0, str(ROOT / "tests"))   # the fake Discogs server lives with the tests

USERNAME = "digger5k"


def rate_floor(prior: list[float], t0: float, n: int, limit: int, window: float,
               gaps: list[float] | None = None, tail: float = 0.0) -> float:
    """Seconds from ``t0`` until ``n`` back-to-back requests are done under the limit, given the arrival times
    ``prior`` the server already counts (its moving window: a request arriving at ``t`` counts those that
    arrived after ``t - window``). With ``gaps`` (the least time from one request's arrival to the next's, i.e.
    service time; ``gaps[0]`` from ``t0`` to the first) and ``tail`` (last arrival to done), the floor for a
    sequential client; without them, zero service time: the pure rate floor."""
    times = sorted(t for t in prior if t > t0 - window)
    s = t0
    for k in range(n):
        if gaps:
            s += gaps[k] if k < len(gaps) else sum(gaps) / len(gaps)
        while True:
            inside = [t for t in times if s - window < t <= s]
            if len(inside) < limit:
                break
            s = inside[-limit] + window        # the oldest that must leave the window before this one fits
        times.append(s)
    return s - t0 + tail


def one_run(server, name: str, token: str, busy: bool, window: float, per_page: int) -> dict:
    from core.config import get_config
    from core.discogs.gateway import DiscogsGateway
    from core.discogs.sync import CollectionSync
    from core.secrets import SecretBox
    from core.storage import Store

    cfg = copy.deepcopy(get_config())
    cfg["discogs"].update({"rate_window_s": window, "live": True})
    limit = int(cfg["discogs"]["rate_limit_auth"])
    tmp = Path(tempfile.mkdtemp(prefix="crate-sync-"))
    store = Store(f"sqlite:///{tmp / 'bench.db'}")
    try:
        gw = DiscogsGateway(token=token, base_url=server.base_url, cfg=cfg)
        # link: who does the token belong to? (1 request)
        username = gw.identity()
        store.link_account("bench", username, "token", token=token, box=SecretBox(key=SecretBox.generate_key()))
        if busy:   # use up the rest of the window's budget through the same gateway (and limiter)
            for rid in server.data.dump_ids[: limit - 1]:
                gw.release(rid)
        waited0 = gw.limiter.waited
        t0 = time.monotonic()
        reports = CollectionSync(gw, store, per_page).sync("bench", username, state={})
        wall = time.monotonic() - t0
        time.sleep(0.2)   # the fake logs a request just after answering it
        log = sorted((r for r in server.requests if r.token == token), key=lambda r: r.time)
        sync_reqs = [r for r in log if r.time >= t0]
        prior = [r.time for r in log if r.time < t0]
        n = len(sync_reqs)
        floor = rate_floor(prior, t0, n, limit, window)
        offsets = [r.time - t0 for r in sync_reqs]
        stored = len(store.collection("bench", "collection")), len(store.collection("bench", "wantlist"))
        return {
            "name": name, "reports": reports, "n": n, "wall": wall, "floor": floor, "offsets": offsets,
            "prior": prior, "t0": t0, "limit": limit,
            "last_arrival": sync_reqs[-1].time - t0 if sync_reqs else 0.0,
            "in_window_at_start": sum(1 for t in prior if t > t0 - window),
            "pages": {lst: sum(1 for r in sync_reqs if lst in r.path) for lst in ("collection", "wants")},
            "statuses": sorted({r.status for r in sync_reqs}), "waited": gw.limiter.waited - waited0,
            "retries": gw.client._fetcher.retries, "stored": stored,
        }
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=60.0, help="rate-limit window in seconds (Discogs: 60)")
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--wants", type=int, default=100)
    ap.add_argument("--per-page", type=int, default=100)
    args = ap.parse_args()

    from fakes.discogs_server import FakeDiscogsServer

    t = time.perf_counter()
    server = FakeDiscogsServer(window_seconds=args.window, limit_authenticated=60).start()
    try:
        server.add_user(USERNAME, n_records=args.records, wants=args.wants)
        assert len(set(server.user(USERNAME).collection_ids)) == args.records, "records are not distinct"
        server.add_token("fresh-token", USERNAME)
        server.add_token("busy-token", USERNAME)
        print(f"fake Discogs: {args.records} records, {args.wants} wants, 60 requests a token per "
              f"{args.window:g}-s window (set-up {time.perf_counter() - t:.1f} s; {machine()})")
        results = [one_run(server, "(a) fresh budget", "fresh-token", False, args.window, args.per_page),
                   one_run(server, "(b) busy token", "busy-token", True, args.window, args.per_page)]
        # (a)'s own pace (the fake serving a page, the client parsing it, the final database write) is the
        # least any sync of this sequence needs: (b)'s floor with that service time added
        a, b = results
        gaps = [y - x for x, y in zip([0.0] + a["offsets"][:-1], a["offsets"])]
        b["floor_service"] = rate_floor(b["prior"], b["t0"], b["n"], b["limit"], args.window, gaps,
                                        a["wall"] - a["offsets"][-1])
        a["floor_service"] = a["wall"]
        for r in results:
            coll = next(x for x in r["reports"] if x.list_name == "collection")
            want = next((x for x in r["reports"] if x.list_name == "wantlist"), None)
            print(f"\n{r['name']}: {r['in_window_at_start']} of 60 requests already in the window at the start")
            print(f"  pages requested: {r['pages']['collection']} collection + {r['pages']['wants']} wantlist "
                  f"= {r['n']} requests (statuses {r['statuses']}, client retries {r['retries']})")
            print(f"  stored: {r['stored'][0]} collection, {r['stored'][1]} wantlist "
                  f"(Discogs: {coll.total}, {want.total if want else '-'})")
            print(f"  wall {r['wall']:.2f} s (waiting for the limiter {r['waited']:.2f} s); first request arrived "
                  f"at {r['offsets'][0]:.2f} s, last at {r['offsets'][-1]:.2f} s")
            if r["floor"] < 1.0:
                print(f"  rate floor {r['floor']:.2f} s: all {r['n']} fit in the window, so the wall time is service "
                      f"time alone ({r['wall'] / r['n'] * 1000:.0f} ms a request)")
            else:
                print(f"  rate floor {r['floor']:.2f} s (zero service time): wall / floor = "
                      f"{r['wall'] / r['floor']:.3f} ({(r['wall'] / r['floor'] - 1) * 100:+.1f} %)")
                print(f"  floor with (a)'s service times {r['floor_service']:.2f} s: wall / floor = "
                      f"{r['wall'] / r['floor_service']:.3f} ({(r['wall'] / r['floor_service'] - 1) * 100:+.1f} %)")
        print(f"\nrequests over the limit (429s counted by the fake): {server.over_limit}")
        ok = server.over_limit == 0 and b["floor"] >= 1.0 and b["wall"] <= 1.10 * b["floor"]
        print(f"target (b) within 10 % of the floor and 0 over the limit: {'OK' if ok else 'MISSED'}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
