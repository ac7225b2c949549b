"""Training time for a 2,000-record collection.

The collection is lanebecker's full bundled collection (1,851 distinct releases) plus 149 catalogue releases
lanebecker does not own (undated, added with Store.add_items), imported into a temp database. Embeddings are
warmed first and reported separately: the figure is Recommender.train (negatives sampling, features, the
calibration model, the final CatBoost model, saving and registering it). Target: <= 20 s on 2 cores and
<= 600 MB peak RSS (the process's high-water mark, ru_maxrss, read after training; the embedding cache is warm,
so no sentence-transformers model is loaded, as in a trained bot's nightly retrain).

    python benchmarks/bench_train.py [--size 2000]
"""
from __future__ import annotations

import argparse
import resource
import shutil
import time

from _common import fresh_recommender, grow_collection, machine, warm_embeddings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    args = ap.parse_args()
    user = "collector2000"
    rec, tmp = fresh_recommender("train")
    try:
        n = grow_collection(rec, user, args.size)
        t_embed = warm_embeddings(rec, [it.release for it in rec.owned(user)] + list(rec.catalogue.values()))
        cat = rec.cfg["model"]["catboost"]
        t0 = time.perf_counter()
        report = rec.train(user)
        wall = time.perf_counter() - t0
        print(f"collection: lanebecker + undated catalogue releases = {n} records "
              f"(embeddings warmed in {t_embed:.1f} s)")
        print(f"Recommender.train ({machine()}; CatBoost {cat['iterations']} iterations, depth {cat['depth']}, "
              f"thread_count {cat['thread_count']}):")
        print(f"  {wall:.1f} s for {report.n_positives} positives + {report.n_negatives} negatives")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak RSS {rss:.0f} MB (ru_maxrss)")
        print(f"  target <= 20 s: {'OK' if wall <= 20 else 'MISSED'}; <= 600 MB: {'OK' if rss <= 600 else 'MISSED'}")
    finally:
        rec.store.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
