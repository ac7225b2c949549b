"""Nightly retrains fanned out on Dask distributed: 1 worker vs 2, a worker killed mid-run, users with nothing new.

A real cluster from this venv (`dask scheduler`, `dask worker --nthreads 1` each) on this machine, the same
fan-out `crate retrain --all --scheduler` uses (``core.learning.cluster.fan_out``). ``--users`` collectors
(default 8), each a seeded sample of 300–700 of lanebecker's records (a 2,000-record collector is
bench_retrain.py's), on one database (SQLite, or ``--postgres``: a throw-away server from scripts/pg).

1. 1 worker: every user retrained (their first model: set-up trains none); per-user seconds and peak RSS.
2. 2 workers: every user again (now a challenger against a current model); the speed-up over (1).
3. 2 workers, one SIGKILLed (with its nanny) once it has been 5 s into a task: every user retrained exactly once
   (one version carrying the run's id), nothing lost, the dead worker's task run again by the other.
4. The nightly pass with nothing new (``skip_unchanged``): what it costs per user.

    python benchmarks/bench_cluster.py [--users 8] [--postgres]

Users per hour per core = users retrained × 3,600 / (the run's seconds × the machine's cores): CatBoost trains on
``model.catboost.thread_count`` (2) threads, so one worker already uses both cores of this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import LANEBECKER, ROOT, free_port, machine, start_postgres, stop_postgres

BIN = Path(sys.executable).parent


def prepare(database: str, tmp: Path, n: int) -> list[str]:
    from core.recommender import Recommender
    from core.storage import Store

    rec = Recommender(Store(database), models_dir=tmp / "models")
    records = json.loads(LANEBECKER.read_text(encoding="utf-8"))
    users = []
    for k in range(n):
        size = 300 + (400 * k) // max(1, n - 1)
        part = random.Random(k).sample(records, size)
        f = tmp / f"u{k}.json"
        f.write_text(json.dumps(part), encoding="utf-8")
        user = f"user{k:02d}"
        rec.import_file(user, f)
        users.append(user)
    rec.embed([it.release for u in users for it in rec.owned(u)])   # a warm embedding cache, as every night
    rec.embeddings.save()
    rec.store.close()
    return users


class Cluster:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env, self.tmp = env, tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"])

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.tmp / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen([str(BIN / "dask"), *args], env=self.env, cwd=ROOT,
                                            start_new_session=True, stdout=log, stderr=subprocess.STDOUT)

    def add_worker(self, name: str) -> None:
        self._spawn(name, ["worker", self.address, "--name", name, "--nthreads", "1", "--nworkers", "1",
                           "--no-dashboard", "--memory-limit", "0"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(name)
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        p.wait(30)

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


def run(users, database, models, address, killer=None):
    from core.app.cluster import worker_recommender
    from core.learning.cluster import fan_out

    lines = []
    report = fan_out(users, database, models, worker_recommender, scheduler=address,
                     on_result=lambda r: lines.append(r.line()))
    return report, lines


def describe(label: str, report) -> None:
    secs = [r.seconds for r in report.runs if r.status in ("accepted", "rejected") and not r.again]
    rss = [r.peak_rss_mb for r in report.runs if r.peak_rss_mb]
    cores = os.cpu_count() or 1
    print(f"{label}: {report.summary()}")
    if secs:   # per core: the whole run's throughput over the machine's cores (CatBoost trains on 2 threads)
        print(f"   per user: mean {statistics.fmean(secs):.1f} s, p50 {statistics.median(secs):.1f} s, "
              f"max {max(secs):.1f} s; worker peak RSS {max(rss):.0f} MB; users/hour/core "
              f"{report.retrained * 3600 / (report.seconds * cores):.0f} ({cores} cores)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crate-cluster-"))
    pgdir = None
    cluster = None
    try:
        if args.postgres:
            database, pgdir = start_postgres()
        else:
            database = f"sqlite:///{tmp / 'crate.db'}"
        t0 = time.perf_counter()
        users = prepare(database, tmp, args.users)
        models = str(tmp / "models")
        print(f"set-up {time.perf_counter() - t0:.0f} s: {len(users)} users on {database.split(':')[0]} "
              f"({machine()})", flush=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CRATE_DISCOGS__LIVE": "false",
               "PYTHONUNBUFFERED": "1"}
        from distributed import Client

        cluster = Cluster(tmp, env)
        cluster.add_worker("w1")
        client = Client(cluster.address, timeout=60)
        client.wait_for_workers(1, timeout=120)
        r1, _ = run(users, database, models, cluster.address)
        describe("1 worker ", r1)
        cluster.add_worker("w2")
        client.wait_for_workers(2, timeout=120)
        r2, _ = run(users, database, models, cluster.address)
        describe("2 workers", r2)
        print(f"   speed-up 2 workers vs 1: {r1.seconds / r2.seconds:.2f}× (each run on warm workers? "
              f"run 1 includes w1's model loading, run 2 w2's)")

        # 3: kill a worker 5 s into a task
        killed: list[str] = []

        def kill_one() -> None:
            seen: dict[str, float] = {}
            while not killed:
                busy = {w for w, keys in client.processing().items() if keys}
                for w in busy:
                    seen.setdefault(w, time.monotonic())
                for w in list(seen):
                    if w not in busy:
                        seen.pop(w)
                    elif time.monotonic() - seen[w] > 5:
                        name = client.scheduler_info()["workers"][w]["name"]
                        cluster.kill(name)
                        killed.append(name)
                        return
                time.sleep(0.1)

        th = threading.Thread(target=kill_one, daemon=True)
        th.start()
        r3, _ = run(users, database, models, cluster.address)
        th.join(1)
        from core.storage import Store
        store = Store(database)
        try:
            counts = {}
            for u in users:
                runs = {}
                for m in store.models(u):
                    run_id = m.metrics_dict.get("run")
                    if run_id:
                        runs[run_id] = runs.get(run_id, 0) + 1
                counts[u] = sorted(runs.values())
            once = all(c == [1, 1, 1] for c in counts.values())
            active = all(store.active_model(u) is not None and Path(store.active_model(u).path).exists()
                         for u in users)
        finally:
            store.close()
        describe(f"2 workers, {killed[0] if killed else 'none'} killed mid-task", r3)
        print(f"   every user retrained exactly once per run: {once} ({counts[users[0]]} versions per run for "
              f"{users[0]}); every user has an active model on disk: {active}")

        # 4: nothing new since: skipped
        from core.app.cluster import worker_recommender
        from core.learning.cluster import fan_out
        t = time.perf_counter()
        r4 = fan_out(users, database, models, worker_recommender, scheduler=cluster.address, skip_unchanged=True)
        print(f"nothing new: {r4.summary()} ({(time.perf_counter() - t) / len(users) * 1000:.0f} ms a user)")
        client.close()
    finally:
        if cluster is not None:
            cluster.close()
        if pgdir is not None:
            stop_postgres(pgdir)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
