"""One collector's big job never stalls another's scores (issues 12 and 22).

User B uploads a 150k-row Discogs CSV export (as the chat adapters do: ``CrateApp.import_upload``) and trains on
it, in a thread of the bot, while user A (lanebecker, imported and trained first) pastes a Discogs link every 2 s
on the same application and database, as in one bot process. B's import and training run where the bots run them:
in worker processes (``core.app.jobs.WorkerJobs``, the default) or, with ``--in-process``, in the bot's own process
(as before issue 22). Prints A's reply times (p50 / p95 / max, target p95 <= 1 s), A's errors (target 0), B's
import and training times, and the bot process's memory while B's job ran (sampled every 50 ms).

    python benchmarks/bench_isolation.py [--rows 150000] [--every 2.0] [--in-process] [--keep]

B's records are made up (ids outside the catalogue), so B's training embeds ``model.max_train_records`` of them
(about a minute on two cores); the embedding cache is a temp one, so no run warms the next.
"""
from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import threading
import time

from _common import LANEBECKER, fresh_recommender, machine

CSV_HEAD = "Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added\n"
SORRY = "Sorry"


def csv_rows(n: int) -> bytes:
    """A Discogs collection export of ``n`` made-up records (release ids from 90,000,000, clear of real ones)."""
    rng = random.Random(7)
    styles = ["Techno", "House", "Ambient", "Jazz", "Soul", "Krautrock", "Punk", "Dub"]
    return (CSV_HEAD + "".join(
        f"C{i},Artist {rng.randrange(20000)},{rng.choice(styles)} Title {i},Label {i % 911},Vinyl,,"
        f"{1960 + i % 60},{90_000_000 + i},Uncategorized,20{10 + i % 15}-0{1 + i % 9}-{1 + i % 28:02d} 10:00:00\n"
        for i in range(n))).encode()


def rss_mb() -> float:
    """The process's resident memory now (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=150_000)
    ap.add_argument("--in-process", action="store_true", help="run B's import and training in the bot's process")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between A's pastes")
    ap.add_argument("--keep", action="store_true", help="keep the temp database and models")
    args = ap.parse_args()

    from core.app import CrateApp
    from core.app.jobs import InProcessJobs, WorkerJobs
    from core.model.embeddings import EmbeddingCache

    rec, tmp = fresh_recommender("isolation")
    rec.embeddings = EmbeddingCache(tmp / "emb")
    app = CrateApp(rec, jobs=InProcessJobs(rec) if args.in_process else WorkerJobs(rec))
    try:
        t0 = time.perf_counter()
        rec.import_file("A", LANEBECKER)
        rec.train("A")
        owned = {it.release.id for it in rec.owned("A")}
        picks = [rid for rid in sorted(rec.catalogue) if rid not in owned]
        random.Random(0).shuffle(picks)
        for rid in picks[:3]:                       # warm-up: model load, first CatBoost / SHAP calls
            app.handle("A", f"https://www.discogs.com/release/{rid}")
        if isinstance(app.jobs, WorkerJobs):
            app.jobs.warm("data")   # started with the bot, as the bots do
        print(f"set-up: A imported and trained in {time.perf_counter() - t0:.0f} s ({machine()}); B's job "
              f"{'in the bot process' if args.in_process else 'in a worker process'}")
        data = csv_rows(args.rows)
        rss: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                rss.append(rss_mb())
                time.sleep(0.05)

        b_times: dict[str, float] = {}
        b_out: list[str] = []

        def user_b() -> None:
            t = time.perf_counter()
            result = app.import_upload("B", "export.csv", data)
            b_times["import"] = time.perf_counter() - t
            b_out.append(result if isinstance(result, str) else f"imported {result.n_items} records")
            t = time.perf_counter()
            b_out.append(app.train("B"))
            b_times["train"] = time.perf_counter() - t

        b = threading.Thread(target=user_b, name="user-B")
        times: list[float] = []
        errors: list[str] = []
        sampler = threading.Thread(target=sample, daemon=True)
        rss_before = rss_mb()
        sampler.start()
        b.start()
        i = 3
        next_at = time.perf_counter()
        while b.is_alive() or len(times) < 5:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += args.every
            t = time.perf_counter()
            try:
                replies = app.handle("A", f"https://www.discogs.com/release/{picks[i % len(picks)]}")
                if not replies or replies[0].score_id is None or replies[0].text.startswith(SORRY):
                    errors.append(replies[0].text[:80] if replies else "no reply")
            except Exception as exc:   # noqa: BLE001 — counted, never raised: the figure is what matters
                errors.append(repr(exc)[:80])
            times.append(time.perf_counter() - t)
            i += 1
        b.join()
        sampling.set()
        times.sort()
        p = lambda q: times[min(len(times) - 1, int(round(q * (len(times) - 1))))]  # noqa: E731
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"B: {args.rows} CSV rows ({len(data) / 1e6:.1f} MB): {b_out[0]} in {b_times.get('import', 0):.1f} s; "
              f"{b_out[-1]} (train {b_times.get('train', 0):.0f} s)")
        print(f"A: {len(times)} pastes, one every {args.every:g} s: p50 {p(0.5) * 1000:.0f} ms  "
              f"p95 {p(0.95) * 1000:.0f} ms  max {times[-1] * 1000:.0f} ms  "
              f"mean {statistics.fmean(times) * 1000:.0f} ms;"
              f"  errors {len(errors)}{': ' + '; '.join(errors[:3]) if errors else ''}")
        print(f"memory of the bot process: {rss_before:.0f} MB before B's job, at most {max(rss):.0f} MB while it "
              f"ran (+{max(rss) - rss_before:.0f} MB), {rss_mb():.0f} MB after; process peak {peak:.0f} MB "
              "(set-up included)")
        print(f"target A p95 <= 1000 ms and 0 errors: {'OK' if p(0.95) <= 1.0 and not errors else 'MISSED'}")
    finally:
        app.jobs.close()
        rec.store.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
