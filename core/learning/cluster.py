"""Retrains fanned out: one task per user, in process or on a Dask distributed cluster.

``crate retrain --all --scheduler tcp://HOST:PORT`` (or ``learning.dask_scheduler`` /
``CRATE_LEARNING__DASK_SCHEDULER``) submits one task per user to the cluster's workers (``dask scheduler`` and
``dask worker`` from the project's venv, with the same ``DATABASE_URL``-reachable database and a shared
``paths.models_dir``). Each worker process builds its Recommender once and keeps it — the catalogue, the
embedding cache and the sentence model stay loaded across its users — and trains one user at a time.

A worker that dies mid-task: Dask's scheduler gives the task to another worker (up to its ``allowed-failures``).
The dead one wrote nothing that counts — a model file is written atomically and registered only when
complete — so the user's current model stays active until the new one is promoted. A task that ran to the end
on a worker that died before answering is not trained twice: every version records the run's id, and a rerun
that finds its run's version returns it (:func:`retrain_user`).
"""
from __future__ import annotations

import logging
import os
import resource
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class UserRun:
    """One user's retrain: ``status`` accepted / rejected / failed / skipped / unchanged."""
    user: str
    status: str
    version: str | None = None
    reason: str = ""
    seconds: float = 0.0
    worker: str = ""
    peak_rss_mb: float = 0.0
    again: bool = False          # found already done by this run (a retried task)

    def line(self) -> str:
        took = f" in {self.seconds:.1f} s" if self.seconds else ""
        where = f" on {self.worker}" if self.worker else ""
        if self.status in ("accepted", "rejected"):
            what = f"{self.status} {self.version or '(no model)'}{took}{where} — {self.reason}"
        elif self.status == "failed":
            what = f"failed{where} — {self.reason}"
        else:
            what = f"{self.status} — {self.reason}"
        return f"{self.user}: {what}"


@dataclass
class FanOutReport:
    runs: list[UserRun]
    seconds: float
    workers: int
    where: str             # "in process" or the scheduler's address

    @property
    def retrained(self) -> int:
        return sum(r.status in ("accepted", "rejected") for r in self.runs)

    def summary(self) -> str:
        failed = sum(r.status == "failed" for r in self.runs)
        skipped = sum(r.status == "unchanged" for r in self.runs)
        extra = "".join([f", {failed} failed" if failed else "", f", {skipped} unchanged" if skipped else ""])
        return (f"retrained {self.retrained} users in {self.seconds:.1f} s on {self.workers} "
                f"worker{'s' if self.workers != 1 else ''}{extra}")


def task_database(url: Any) -> str:
    """The database URL the tasks carry: ``""`` when it holds a password (never sent to the workers, which then
    read their own ``DATABASE_URL``)."""
    return "" if url.password else url.render_as_string(hide_password=False)


# ------------------------------------------------------------------------------------------ the task

_RECS: dict[tuple[str, str], Any] = {}


#: (database URL, models folder) -> a Recommender: given by the application (core.app.root.worker_recommender); the
#: learning layer never builds the hub itself. A module-level function, so Dask sends it by reference.
MakeRec = Callable[[str, str], Any]


def _recommender(database: str, models_dir: str, make_rec: MakeRec) -> Any:
    """This process's Recommender for the database (built once: catalogue, embeddings and model stay loaded)."""
    database = database or os.environ.get("DATABASE_URL", "")
    if not database:
        raise RuntimeError("this worker has no DATABASE_URL (the client's URL holds a password, so it is not sent "
                           "with the tasks): start `dask worker` with DATABASE_URL set")
    key = (database, models_dir)
    if key not in _RECS:
        _RECS[key] = make_rec(database, models_dir)
    return _RECS[key]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: kilobytes


def retrain_user(user: str, database: str, models_dir: str, run_id: str, make_rec: MakeRec,
                 skip_unchanged: bool = False) -> dict:
    """One user's retrain (a Dask task, or called in process); returns a :class:`UserRun` as a dict.

    Never raises for the user's own problems (those are the line "failed"); a worker that dies raises nothing
    here, and Dask runs the task again elsewhere."""
    from core.learning.retrain import nothing_new, retrain

    where = f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    try:
        rec = _recommender(database, models_dir, make_rec)
        done = [m for m in rec.store.models(user) if m.metrics_dict.get("run") == run_id]
        if done:   # a retried task whose first attempt finished: do not train again
            m = done[-1]
            return asdict(UserRun(user, "rejected" if m.status == "rejected" else "accepted", m.version,
                                  m.note or "", 0.0, where, _peak_rss_mb(), again=True))
        if skip_unchanged:
            why = nothing_new(rec.store, user)
            if why:
                return asdict(UserRun(user, "unchanged", None, why, time.perf_counter() - t0, where))
        res = retrain(rec, user, None, run_id=run_id)
        return asdict(UserRun(user, "accepted" if res.accepted else "rejected", res.version, res.reason,
                              res.seconds, where, _peak_rss_mb()))
    except LookupError as exc:
        return asdict(UserRun(user, "failed", reason=f"nothing to train on: {exc}", worker=where,
                              seconds=time.perf_counter() - t0))
    except Exception as exc:
        log.error("retrain of %s failed:\n%s", user, traceback.format_exc())
        return asdict(UserRun(user, "failed", reason=f"{type(exc).__name__}: {exc}", worker=where,
                              seconds=time.perf_counter() - t0))


# ------------------------------------------------------------------------------------------ the fan-out

def fan_out(users: Iterable[str], database: str, models_dir: str | Path, make_rec: MakeRec, *,
            scheduler: str | None = None,
            skip_unchanged: bool = False, on_result: Callable[[UserRun], None] | None = None,
            connect_timeout_s: float = 10.0) -> FanOutReport:
    """Retrain ``users``: on the Dask cluster at ``scheduler`` (one task a user), else one after another here.
    ``on_result`` is called with each user's outcome as it arrives."""
    users = list(users)
    run_id = uuid.uuid4().hex
    models_dir = str(Path(models_dir).expanduser().resolve())
    say = on_result or (lambda r: None)
    runs: list[UserRun] = []
    t0 = time.perf_counter()
    if not scheduler:
        for user in users:
            run = UserRun(**retrain_user(user, database, models_dir, run_id, make_rec, skip_unchanged))
            run.worker = ""
            runs.append(run)
            say(run)
        return FanOutReport(runs, time.perf_counter() - t0, 1, "in process")

    from distributed import Client, as_completed
    from distributed.client import FutureCancelledError

    try:
        client = Client(scheduler, timeout=connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnreachable(f"Cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}: {exc}). "
                                 "Start one with `dask scheduler` and workers with `dask worker "
                                 f"{scheduler}` (from the project's venv), or leave --scheduler out.") from exc
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        if workers == 0:
            client.wait_for_workers(1, timeout=connect_timeout_s * 3)
            workers = len(client.scheduler_info().get("workers", {}))
        futures = {client.submit(retrain_user, user, database, models_dir, run_id, make_rec, skip_unchanged,
                                 key=f"retrain-{user}-{run_id[:8]}", pure=False, retries=1): user
                   for user in users}
        for fut in as_completed(futures):
            user = futures[fut]
            try:
                run = UserRun(**fut.result())
            except (FutureCancelledError, Exception) as exc:   # KilledWorker: it took down worker after worker
                run = UserRun(user, "failed", reason=f"{type(exc).__name__}: {exc}")
            runs.append(run)
            say(run)
        workers = max(workers, len(client.scheduler_info().get("workers", {})))
    finally:
        client.close()
    return FanOutReport(runs, time.perf_counter() - t0, workers, scheduler)


class ClusterUnreachable(RuntimeError):
    """The Dask scheduler could not be reached."""
