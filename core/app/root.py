"""The composition root: the one place that builds the application — the store, the recommender, where heavy
jobs run, the use cases — for the shell, the terminal chat and the bots alike."""
from __future__ import annotations

from core.app.jobs import InProcessJobs, jobs_for
from core.app.operations import Operations
from core.app.service import CrateApp
from core.recommender import Recommender
from core.storage import Store


def build_app(database: str | None = None, *, recommender: Recommender | None = None,
              workers: bool = False) -> CrateApp:
    """The application over ``database`` (default: the configured one). ``workers``: heavy jobs in worker
    processes as configured (``workers.processes``; the bots), else in the calling thread (the shell)."""
    rec = recommender or Recommender(Store(database) if database else None)
    return CrateApp(rec, jobs=jobs_for(rec) if workers else InProcessJobs(rec))


def build_operations(database: str | None = None, *, recommender: Recommender | None = None) -> Operations:
    """The shell's use cases, over the same application."""
    return Operations(build_app(database, recommender=recommender))
