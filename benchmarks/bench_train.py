"""Training time for a 2,000-record collection.

The collection is lanebecker's full bundled collection (1,851 distinct releases) plus 149 catalogue releases
lanebecker does not own (undated, added with Store.add_items), imported into a temp database. Embeddings are
warmed first and reported separately: the figure is Recommender.train (negatives sampling, features, the
calibration model, the final CatBoost model, saving and registering it). Target: <= 60 s on 2 cores.

    python benchmarks/bench_train.py [--size 2000]
"""
from __future__ import annotations

import argparse
import random
import shutil
import time

from _common import LANEBECKER, fresh_recommender, machine, warm_embeddings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2000)
    args = ap.parse_args()
    from core.release import CollectionItem, album_key

    user = "collector2000"
    rec, tmp = fresh_recommender("train")
    try:
        rec.import_file(user, LANEBECKER)
        owned = rec.owned(user)
        ids = {it.release.id for it in owned}
        albums = {album_key(it.release) for it in owned}
        pool = [r for rid, r in sorted(rec.catalogue.items()) if rid not in ids and album_key(r) not in albums]
        extra = random.Random(1).sample(pool, max(0, args.size - len(ids)))
        rec.store.add_items(user, [CollectionItem(release=r, list_name="collection", source="bench") for r in extra])
        n = len({it.release.id for it in rec.owned(user)})
        t_embed = warm_embeddings(rec, [it.release for it in rec.owned(user)] + list(rec.catalogue.values()))
        cat = rec.cfg["model"]["catboost"]
        t0 = time.perf_counter()
        report = rec.train(user)
        wall = time.perf_counter() - t0
        print(f"collection: {len(ids)} lanebecker releases + {len(extra)} catalogue releases = {n} records "
              f"(embeddings warmed in {t_embed:.1f} s)")
        print(f"Recommender.train ({machine()}; CatBoost {cat['iterations']} iterations, depth {cat['depth']}, "
              f"thread_count {cat['thread_count']}):")
        print(f"  {wall:.1f} s for {report.n_positives} positives + {report.n_negatives} negatives")
        print(f"  target <= 60 s: {'OK' if wall <= 60 else 'MISSED'}")
    finally:
        rec.store.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
