"""Retraining: one 2,000-record user with 100 feedback events, and a nightly run over many users.

(a) ``learning.retrain`` for a 2,000-record collection (lanebecker's 1,851 distinct releases + 149 catalogue
    releases, as bench_train.py) after 100 feedback events on scored catalogue releases (👍/👎/bought, four
    sources). Set-up (untimed): import, warm embeddings, train v1, score 100 releases with v1 and react to them.
    Timed: the retrain (implicit evidence, hold-out cut, challenger fit and hold-out scoring of both models,
    the final fit, registration, pruning). Memory: RSS sampled every 20 ms during the retrain (peak and growth
    over the RSS before it), the process's ru_maxrss, and with ``--tracemalloc`` the Python-heap peak of a
    second retrain under tracemalloc (slower; its time is not reported).
(b) The nightly job function (``core.learning.scheduler.run_nightly``: every user with a collection, one at a time, off
    the event loop) over synthetic users made from the bundled collections: user k (of 50) has
    100 + 1,900·k/49 records — part of one small collection (kyle-seongwoo-jun, omarramos16, tomerbenda,
    mouse-reeve, nsmsn, in turn), the rest a seeded sample of lanebecker, topped up from the catalogue past
    1,851 — and 20 feedback events. Set-up (untimed): import, warm embeddings, train each user's v1 with
    ``--setup-iterations`` CatBoost iterations (the nightly run uses the configured model). ``--users N`` runs N
    of the 50 spread evenly over the sizes and extrapolates the total to 50 (said so in the output).

    python benchmarks/bench_retrain.py [--part a|b|both] [--users 50] [--tracemalloc]
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import os
import random
import resource
import shutil
import statistics
import threading
import time
from pathlib import Path

from _common import LANEBECKER, ROOT, fresh_recommender, grow_collection, machine, warm_embeddings

SMALL = ["kyle-seongwoo-jun/purchases.json", "omarramos16", "tomerbenda/discogs.json",
         "mouse-reeve/collection.csv", "nsmsn/vinyl.json"]
N_TOTAL = 50


def rss_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # kB on Linux


class PeakRSS:
    """Peak resident memory while the block runs, sampled by a thread every ``every`` seconds."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak, self.start = every, 0.0, 0.0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb() or 0.0)
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakRSS":
        gc.collect()
        self.start = self.peak = rss_mb() or 0.0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_mb() or 0.0)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _auc(hs) -> str:
    return "—" if hs is None or hs.auc is None else f"{hs.auc:.3f}"


# ------------------------------------------------------------------------------------------------ (a)


def part_a(args) -> None:
    from core.domain.release import others_pool
    from core.learning import retrain as learning

    user = "collector2000"
    rec, tmp = fresh_recommender("retrain")
    rec.cfg = {**rec.cfg, "discogs": {**rec.cfg["discogs"], "live": False}}   # set-up scores: no price look-ups
    try:
        n = grow_collection(rec, user, 2000)
        warm_embeddings(rec, [it.release for it in rec.owned(user)] + list(rec.catalogue.values()))
        t0 = time.perf_counter()
        rec.train(user)
        t_v1 = time.perf_counter() - t0
        # 100 feedback events on scored catalogue releases the user does not own
        rng = random.Random(5)
        left = others_pool(rec.catalogue, [it.release for it in rec.owned(user)])
        kinds = ["like"] * 40 + ["dislike"] * 40 + ["bought"] * 20
        rng.shuffle(kinds)
        sources = ["telegram", "discord", "cli", "chat"]
        for i, (r, kind) in enumerate(zip(rng.sample(left, 100), kinds)):
            card = rec.score(user, r.id, record=True)
            rec.feedback(user, kind, card.score_id, source=sources[i % 4])
        counts = rec.store.feedback_counts(user)
        cat = rec.cfg["model"]["catboost"]
        print(f"(a) one user, {n} records (lanebecker + undated catalogue records), feedback "
              f"{counts['like']} 👍 / {counts['dislike']} 👎 / {counts['bought']} bought on scored releases; "
              f"v1 trained in {t_v1:.1f} s (set-up)")
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            res = learning.retrain(rec, user)
            wall = time.perf_counter() - t0
        print(f"  learning.retrain ({machine()}; CatBoost {cat['iterations']} iterations, depth {cat['depth']}, "
              f"thread_count {cat['thread_count']}):")
        print(f"    {wall:.1f} s — {'accepted' if res.accepted else 'rejected'}: {res.reason}")
        print(f"    hold-out: challenger ROC-AUC {_auc(res.challenger)}, current {_auc(res.champion)} "
              f"({res.challenger.n_pos if res.challenger else 0} positives, "
              f"{res.challenger.n_neg if res.challenger else 0} negatives)")
        print(f"    memory: RSS {mem.start:.0f} MB before, peak {mem.peak:.0f} MB during "
              f"(+{mem.peak - mem.start:.0f} MB); process ru_maxrss {maxrss_mb():.0f} MB")
        if args.tracemalloc:
            import tracemalloc

            tracemalloc.start()
            learning.retrain(rec, user)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"    Python-heap peak (tracemalloc, a second retrain): {peak / 2**20:.0f} MB")
    finally:
        rec.store.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ (b)


def _synthetic_users(rec, chosen: list[int]) -> dict[str, list]:
    from core.ingest.readers import read_collection
    from core.ingest.readers.catalogue import enrich_from_catalogue

    def items_of(path: Path) -> list:
        res = read_collection(path, catalogue=rec.catalogue)
        items = [it for it in enrich_from_catalogue(res.items, rec.catalogue) if it.list_name == "collection"]
        seen, out = set(), []
        for it in items:
            if it.release.id not in seen:
                seen.add(it.release.id)
                out.append(it)
        return out

    lane = items_of(LANEBECKER)
    small = [items_of(ROOT / "data" / "collections" / p) for p in SMALL]
    users: dict[str, list] = {}
    for k in chosen:
        size = round(100 + (2000 - 100) * k / (N_TOTAL - 1))
        rng = random.Random(1000 + k)
        base = small[k % len(small)]
        part = rng.sample(base, min(len(base), size // 2))
        have = {it.release.id for it in part}
        rest = [it for it in lane if it.release.id not in have]
        part += rng.sample(rest, min(len(rest), size - len(part)))
        have = {it.release.id for it in part}
        if len(part) < size:
            from core.domain.release import CollectionItem

            pool = [r for rid, r in sorted(rec.catalogue.items()) if rid not in have]
            part += [CollectionItem(release=r, list_name="collection", source="bench")
                     for r in rng.sample(pool, size - len(part))]
        users[f"u{k:02d}-{size}"] = part
    return users


def part_b(args) -> None:
    from core.learning import scheduler
    from core.recommender import Recommender

    n = max(1, min(N_TOTAL, args.users))
    chosen = sorted({round(i * (N_TOTAL - 1) / (n - 1)) for i in range(n)}) if n > 1 else [N_TOTAL - 1]
    rec, tmp = fresh_recommender("nightly")
    try:
        t0 = time.perf_counter()
        users = _synthetic_users(rec, chosen)
        for user, items in users.items():
            rec.store.replace_collection(user, items, "collection", source="bench")
        warm_embeddings(rec, [it.release for items in users.values() for it in items] + list(rec.catalogue.values()))
        setup_cfg = copy.deepcopy(rec.cfg)
        setup_cfg["model"]["catboost"]["iterations"] = args.setup_iterations
        setup = Recommender(rec.store, rec.catalogue, setup_cfg, rec.embeddings, rec.models_dir)
        sources = ["telegram", "discord", "cli", "chat"]
        for k, (user, items) in enumerate(users.items()):
            setup.train(user)
            rng = random.Random(2000 + k)
            have = {it.release.id for it in items}
            others = [rid for rid in sorted(rec.catalogue) if rid not in have]
            for i, rid in enumerate(rng.sample(others, 20)):
                rec.store.record_feedback(user, ["like", "dislike", "bought", "dislike"][i % 4], release_id=rid,
                                          source=sources[i % 4])
        t_setup = time.perf_counter() - t0
        sizes = [len(v) for v in users.values()]
        cat = rec.cfg["model"]["catboost"]
        print(f"\n(b) nightly job over {len(users)} synthetic users ({min(sizes)}–{max(sizes)} records, "
              f"{sum(sizes)} in all; v1 of each trained at {args.setup_iterations} iterations in set-up, "
              f"{t_setup:.0f} s)")
        scheduler.REGISTRY.rec = rec
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            results = asyncio.run(scheduler.run_nightly())
            wall = time.perf_counter() - t0
        ok = {u: r for u, r in results.items() if r is not None and not isinstance(r, Exception)}
        failed = [u for u, r in results.items() if isinstance(r, Exception)]
        secs = [r.seconds for r in ok.values()]
        accepted = sum(1 for r in ok.values() if r.accepted)
        print(f"  run_nightly ({machine()}; CatBoost {cat['iterations']} iterations, thread_count "
              f"{cat['thread_count']}, training_workers 1):")
        print(f"    total {wall:.1f} s for {len(results)} users ({accepted} accepted, "
              f"{len(ok) - accepted} rejected, {len(failed)} failed)")
        print(f"    per user: p50 {pct(secs, 0.5):.1f} s, p95 {pct(secs, 0.95):.1f} s, max {max(secs):.1f} s")
        for u, r in sorted(ok.items(), key=lambda kv: len(users[kv[0]])):
            print(f"      {u:<10} {len(users[u]):>5} records  {r.seconds:5.1f} s  "
                  f"{'accepted' if r.accepted else 'rejected'}  challenger {_auc(r.challenger)} vs {_auc(r.champion)}")
        print(f"    memory: RSS {mem.start:.0f} MB before, peak {mem.peak:.0f} MB during; "
              f"process ru_maxrss {maxrss_mb():.0f} MB")
        if len(users) < N_TOTAL:
            est = statistics.fmean(secs) * N_TOTAL
            print(f"    EXTRAPOLATED to {N_TOTAL} users (same size range, mean per user × {N_TOTAL}): "
                  f"~{est:.0f} s ({est / 60:.1f} min)")
        if (os.cpu_count() or 0) != 2:
            print(f"    note: {os.cpu_count()} CPUs visible, not 2")
    finally:
        rec.store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["a", "b", "both"], default="both")
    ap.add_argument("--users", type=int, default=N_TOTAL, help="(b) how many of the 50 synthetic users to run")
    ap.add_argument("--setup-iterations", type=int, default=50, help="(b) CatBoost iterations of the set-up v1s")
    ap.add_argument("--tracemalloc", action="store_true", help="(a) also a retrain under tracemalloc")
    args = ap.parse_args()
    if args.part in ("a", "both"):
        part_a(args)
    if args.part in ("b", "both"):
        part_b(args)


if __name__ == "__main__":
    main()
