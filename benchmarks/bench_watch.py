"""How many watched releases a collector's token keeps fresh per hour, while their own look-ups still answer
within 3 s — against the fake Discogs API's real moving window (60 requests a minute with a token).

The scheduler's polling passes (``core.watch.poll_user``, keeping ``watch.keep_slots`` of the window free) run
back to back for the token, as hard as they may; meanwhile the collector pastes links (a burst of look-ups every
few seconds, on the same token and so the same window). Printed: marketplace checks made and the rate per hour,
the look-ups' time to answer (p50 / p95 / max, rate-limit waits included), and the 429s the server gave (0 is
the target: the window is never overrun).

    python benchmarks/bench_watch.py [--seconds 180] [--watched 400] [--burst 3] [--every 15] [--keep 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import ROOT, machine

sys.path.insert(0, str(ROOT / "tests"))


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))] if s else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=180.0, help="how long to run (the window is 60 s)")
    ap.add_argument("--watched", type=int, default=400, help="releases on the watch list")
    ap.add_argument("--burst", type=int, default=3, help="look-ups the collector makes at once")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between the collector's bursts")
    ap.add_argument("--keep", type=int, default=None,
                    help="slots of the window a pass leaves free (default: watch.keep_share of the limit)")
    args = ap.parse_args(argv)

    from core.config import get_config
    from core.discogs.gateway import DiscogsGateway
    from core.discogs.ratelimit import RateLimiter
    from core.storage import Store
    from core.watch import kept_slots, poll_user
    from fakes.fixtures import COLLECTOR_TOKEN, make_server

    server = make_server(window_seconds=60.0, limit_authenticated=60)
    tmp = Path(tempfile.mkdtemp(prefix="crate-watch-"))
    store = Store(f"sqlite:///{tmp / 'watch.db'}")
    ids = [r for r in sorted(server.data.releases) if r not in server.deleted_ids]
    watched = (ids * (args.watched // max(1, len(ids)) + 1))[:args.watched]
    for rid in sorted(set(watched)):
        store.watch("collector", rid, currency="EUR")
    cfg = get_config()
    limiter = RateLimiter(60, 60.0)    # one per token: the passes and the look-ups share it, as in the bot
    gw = DiscogsGateway(token=COLLECTOR_TOKEN, base_url=server.base_url, cfg=cfg, limiter=limiter)
    stop = threading.Event()
    checks: list[float] = []
    lookups: list[float] = []
    errors: list[str] = []

    def passes() -> None:
        while not stop.is_set():
            now = datetime.now(timezone.utc)
            r = poll_user(store, gw, "collector", "EUR", now, keep=args.keep)
            checks.extend([time.perf_counter()] * r.checked)
            if r.checked == 0:
                stop.wait(0.5)   # the window is full (for passes): look again shortly

    def collector() -> None:
        k = 0
        while not stop.wait(args.every):
            for _ in range(args.burst):
                rid = ids[k % len(ids)]
                k += 1
                t0 = time.perf_counter()
                try:
                    gw.release(rid)
                except Exception as exc:   # noqa: BLE001 — counted, the run goes on
                    errors.append(type(exc).__name__)
                lookups.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=passes, daemon=True), threading.Thread(target=collector, daemon=True)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join(30)
    took = time.perf_counter() - t0
    server.stop()
    n_watched = len(set(watched))
    per_hour = len(checks) / took * 3600
    kept = args.keep if args.keep is not None else kept_slots(gw)
    print(f"bench_watch on {machine()}: {took:.0f} s, window 60 s × 60 requests (token), passes keep {kept} free")
    print(f"watched releases: {n_watched}; marketplace checks: {len(checks)} = {per_hour:,.0f} per hour "
          f"(each release every {n_watched / max(per_hour, 1e-9) * 60:.1f} min)")
    print(f"collector's look-ups: {len(lookups)} (bursts of {args.burst} every {args.every:g} s); time to answer "
          f"p50 {pct(lookups, .5):.2f} s, p95 {pct(lookups, .95):.2f} s, max {max(lookups, default=float('nan')):.2f} s"
          f" (target ≤ 3 s); errors {len(errors)}")
    print(f"429s from the server: {server.over_limit} (target 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
