"""Latency of Recommender.score, in process, after warm-up.

Imports and trains lanebecker's full collection (bundled) into a temp database and models folder, warms up,
then scores 200 catalogue releases the user does not own (embeddings already cached), twice: record=False (the
scoring itself: the model, features, score, SHAP drivers and reasons; target p95 <= 20 ms) and record=True (also
writing the served score and the release to the database, as in the bots; target p95 <= 100 ms).

    python benchmarks/bench_score.py [--n 200]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import time

from _common import LANEBECKER, fresh_recommender, machine, warm_embeddings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the temp database and models")
    args = ap.parse_args()
    user = "lanebecker"
    rec, tmp = fresh_recommender("score")
    try:
        t0 = time.perf_counter()
        result = rec.import_file(user, LANEBECKER)
        t_import = time.perf_counter() - t0
        owned = {it.release.id for it in rec.owned(user)}
        picks = random.Random(0).sample([rid for rid in sorted(rec.catalogue) if rid not in owned], args.n + 10)
        t_embed = warm_embeddings(rec, [it.release for it in rec.owned(user)] + [rec.catalogue[r] for r in picks])
        report = rec.train(user)
        print(f"set-up: import {len(result.items)} records {t_import:.1f} s, embeddings {t_embed:.1f} s, "
              f"train {report.seconds:.1f} s ({report.n_positives} + {report.n_negatives} rows)")

        for rid in picks[:10]:   # warm-up: model load, first CatBoost/SHAP calls, SQLite connection
            rec.score(user, rid, record=True)
        p = lambda ts, q: ts[min(len(ts) - 1, int(round(q * (len(ts) - 1))))]  # noqa: E731
        for record, target in ((False, 20), (True, 100)):
            times = []
            for rid in picks[10:]:
                t = time.perf_counter()
                card = rec.score(user, rid, record=record)
                times.append((time.perf_counter() - t) * 1000)
                assert (card.score_id is not None) == record
            times.sort()
            print(f"Recommender.score, {len(times)} cached catalogue releases, record={record} ({machine()}):")
            print(f"  p50 {p(times, 0.50):.1f} ms   p95 {p(times, 0.95):.1f} ms   max {times[-1]:.1f} ms   "
                  f"mean {statistics.fmean(times):.1f} ms")
            print(f"  target p95 <= {target} ms: {'OK' if p(times, 0.95) <= target else 'MISSED'}")
    finally:
        rec.store.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
