"""What a Dask worker process builds to retrain collectors (:mod:`core.learning.cluster` receives it, so the
learning layer never builds the hub itself)."""
from __future__ import annotations

from pathlib import Path

from core.recommender import Recommender
from core.storage import Store


def worker_recommender(database: str, models_dir: str) -> Recommender:
    """A worker's Recommender: the database (``""``: the worker's own ``DATABASE_URL``), the shared models folder,
    the rest as the worker's own configuration says."""
    return Recommender(Store(database or None), models_dir=Path(models_dir))
