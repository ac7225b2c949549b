"""The candidate catalogue at scale (issue 14): a synthetic catalogue of N releases (default 1,000,000) drawn from
the real ones' field distributions (the bundled catalogue and the dump sample: genre/style sets, labels, years,
formats and countries as whole records' combinations; artists and titles re-combined from real names and title
words; half with a master id), written through the product's own store (static embedding, batches of
``discover.batch``), then indexed (IVF-PQ with SQ8 refinement above ``discover.exact_below``).

Prints: build time (generation + embedding + writes), index build time, size on disk (database, index file) and
in memory, recall@100 of the index against exact search (200 probe vectors: a real collection's cluster centroids,
its recent records and random catalogue releases) for several nprobe, the parse rate of the real dump (for the
18 M estimate), and ``Discoverer.discover`` warm p50/p95 for lanebecker's trained collection over the N releases
(each call a fresh page: what was shown is excluded). Extrapolates to 18 M releases.

    python benchmarks/bench_catalogue_scale.py [--n 1000000] [--keep DIR] [--calls 20]
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

import _common
import numpy as np

DUMP = _common.ROOT / "data" / "dump-sample" / "discogs_20200806_releases.xml.gz"


def real_releases():
    from core.ingest.readers.dump_xml import iter_dump_releases
    from core.model.evaluation import load_eval_catalogue

    return list(load_eval_catalogue().values()) + list(iter_dump_releases(DUMP))


def synthetic(n: int, seed: int = 7, batch: int = 5000):
    """Batches of synthetic ``Release`` records whose fields follow the real ones'."""
    from core.domain.release import Release

    real = real_releases()
    rng = random.Random(seed)
    names = [a for r in real for a in r.artists] or ["Unknown"]
    first = [a.split()[0] for a in names if a.split()]
    last = [a.split()[-1] for a in names if a.split()]
    words = [w for r in real for w in r.title.split()] or ["Untitled"]
    out = []
    for i in range(n):
        base = rng.choice(real)
        artist = rng.choice(names) if rng.random() < 0.3 else f"{rng.choice(first)} {rng.choice(last)}"
        title = " ".join(rng.choice(words) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
        out.append(Release(id=100_000_000 + i, title=title, artists=[artist],
                           year=rng.choice(real).year, master_id=(50_000_000 + rng.randrange(n // 3)
                                                                  if rng.random() < 0.5 else None),
                           labels=list(rng.choice(real).labels[:1]), formats=list(base.formats),
                           format_descriptions=list(base.format_descriptions), country=base.country,
                           genres=list(base.genres), styles=list(base.styles)))
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--keep", help="build here and keep it (default: a temp folder, removed)")
    ap.add_argument("--calls", type=int, default=20)
    args = ap.parse_args()
    from core.catalogue import Catalogue, CatalogueIndex, CatalogueStore
    from core.catalogue.static import static_embedder
    from core.config import get_config
    from core.ingest.readers.dump_xml import iter_dump_elements

    cfg = get_config()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="crate-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    db, ix_file = tmp / "catalogue.db", tmp / "catalogue.faiss"
    emb = static_embedder()
    print(f"{_common.machine()}; N = {args.n:,}; folder {tmp}")

    # the real dump's parse rate (what a build of the real dump adds to generation here)
    t = time.perf_counter()
    n_parsed = sum(1 for _ in iter_dump_elements(DUMP))
    parse_s = (time.perf_counter() - t) / n_parsed
    print(f"parse: {n_parsed} real dump releases at {1 / parse_s:,.0f}/s")

    store = CatalogueStore(db)
    t0 = time.perf_counter()
    t_embed = t_write = 0.0
    if store.count() < args.n:
        for part in synthetic(args.n, batch=int(cfg.discover.batch)):
            a = time.perf_counter()
            vecs = emb.embed_releases(part)
            b = time.perf_counter()
            store.put(part, vecs, "dump")
            t_write += time.perf_counter() - b
            t_embed += b - a
    build_s = time.perf_counter() - t0
    n = store.count()
    if t_embed == 0:
        print(f"build: skipped ({n:,} releases kept from an earlier run in {tmp}; its build time is not re-measured)")
    else:
        print(f"build: {n:,} releases in {build_s:.0f} s (embedding {t_embed:.0f} s = {n / max(t_embed, 1e-9):,.0f}/s, "
              f"writes {t_write:.0f} s, generation the rest); RSS {rss_mb():.0f} MB")

    t = time.perf_counter()
    index = CatalogueIndex.build(store, int(cfg.discover.exact_below), int(cfg.discover.nprobe),
                                 refine_factor=int(cfg.discover.refine_factor))
    index_s = time.perf_counter() - t
    index.save(ix_file)
    mem = index.memory_bytes()
    print(f"index: {index.kind} of {index.size:,} in {index_s:.0f} s; {mem / 1e6:.0f} MB in memory, "
          f"{ix_file.stat().st_size / 1e6:.0f} MB on disk; database {store.disk_bytes() / 1e6:.0f} MB; "
          f"RSS {rss_mb():.0f} MB")

    # recall@100 against exact search
    import faiss

    rng = np.random.default_rng(0)
    sample_ids = rng.choice(np.arange(100_000_000, 100_000_000 + n), 150, replace=False).tolist()
    lane = [r for r in real_releases()[:4325]]
    from core.picks.retrieval import cluster_centroids

    cents, _ = cluster_centroids(emb.embed_releases(lane[:2000]))
    queries = np.concatenate([store.vectors(sample_ids), cents, emb.embed_releases(lane[-40:])]).astype(np.float32)
    best_s = np.full((len(queries), 100), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), 100), -1, dtype=np.int64)
    for ids, vecs in store.iter_vectors(100_000):
        s = queries @ vecs.T
        cat_s = np.concatenate([best_s, s], axis=1)
        cat_i = np.concatenate([best_i, np.broadcast_to(ids, s.shape)], axis=1)
        top = np.argpartition(-cat_s, 99, axis=1)[:, :100]
        best_s = np.take_along_axis(cat_s, top, 1)
        best_i = np.take_along_axis(cat_i, top, 1)
    ivf = faiss.extract_index_ivf(index.index.index) if index.kind == "ivfpq" else None
    for nprobe in ([64, 128, 256, 512] if ivf is not None else [0]):
        if ivf is not None:
            ivf.nprobe = nprobe
        t = time.perf_counter()
        _, got = index.search(queries, 100)
        per_q = (time.perf_counter() - t) / len(queries) * 1000
        rec = np.mean([len(set(a) & set(b)) / 100 for a, b in zip(got, best_i)])
        print(f"recall@100 vs exact (nprobe {nprobe}): {rec:.3f}; {per_q:.2f} ms a query")
    if ivf is not None:
        ivf.nprobe = int(cfg.discover.nprobe)

    # /discover warm, lanebecker trained, over the N releases
    rec_, rtmp = _common.fresh_recommender("scale")
    rec_.import_file("lane", _common.LANEBECKER)
    t = time.perf_counter()
    rec_.train("lane")
    print(f"trained lanebecker in {time.perf_counter() - t:.0f} s")
    from core.picks import Discoverer

    catalogue = Catalogue(cfg, db, ix_file)
    disc = Discoverer(rec_, catalogue)
    for _ in range(2):
        disc.discover("lane", 10)
    times = []
    for i in range(args.calls):
        t = time.perf_counter()
        picks = disc.discover("lane", 10, query=("dark ambient" if i % 4 == 3 else None))
        times.append(time.perf_counter() - t)
        assert len(picks.picks) == 10
    rec_.embeddings.save()
    p50, p95 = (np.percentile(times, 50), np.percentile(times, 95)) if times else (float("nan"),) * 2
    print(f"/discover warm over {catalogue.store.count():,}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms ({args.calls} calls, each a fresh page; every 4th with words); "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    # 18 M
    f = 18_000_000 / n
    per_rel = build_s / n + parse_s
    disk = (store.disk_bytes() + ix_file.stat().st_size) * f
    print(f"\n18 M releases, extrapolated: build ≈ {per_rel * 18e6 / 3600:.1f} h (parse {parse_s * 18e6 / 3600:.1f} h "
          f"+ embed/write {build_s * f / 3600:.1f} h) + index ≈ {index_s * f / 60:.0f} min (training is on a "
          f"100k sample: the add dominates); disk ≈ {disk / 1e9:.1f} GB; index in memory ≈ {mem * f / 1e9:.1f} GB")
    shutil.rmtree(rtmp, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    os.environ.pop("X", None)


if __name__ == "__main__":
    main()
