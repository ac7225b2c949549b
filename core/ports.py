"""The narrow parts of the recommender that the learning loop, the digest and the picks use, as typed protocols:
each receives only what it reads (:class:`core.recommender.Recommender` provides all of them), so none reaches
into the others' business and a test can hand in a smaller stand-in."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Literal, Protocol

import numpy as np

from core.config import Config
from core.domain.release import CollectionItem, Release
from core.storage import ModelVersion, Store


class Configured(Protocol):
    """The store and the configuration."""

    store: Store
    cfg: Config


class Thresholds(Configured, Protocol):
    def thresholds(self, user: str, scorer: Any = None, settings: dict | None = None) -> tuple[float, float]:
        """(buy, maybe) for the user."""
        ...


class Trainable(Configured, Protocol):
    """What training reads: the collector's records, the candidate pool, embeddings; and training itself."""

    @property
    def catalogue(self) -> dict[int, Release]: ...

    def embed(self, releases: list[Release]) -> np.ndarray: ...

    def positives(self, user: str, before: date | None = None) -> tuple[list[Release], list]: ...

    def negatives(self, owned: list[Release], n: int, seed: int) -> list[Release]: ...

    def resolve_local(self, release_id: int) -> Release | None: ...

    def train(self, user: str, progress: Callable[[str], None] | None = None, before: date | None = None, *,
              activate: bool = True, status: str = "active", note: str | None = None,
              extra_metrics: dict | None = None) -> Any: ...


class PickSource(Thresholds, Protocol):
    """What picks read: the collector's records and model, the shared catalogue, live prices."""

    @property
    def catalogue(self) -> dict[int, Release]: ...

    @property
    def live(self) -> bool: ...

    def owned(self, user: str) -> list[CollectionItem]: ...

    def model_for(self, user: str, active: ModelVersion | None | Literal[False] = False) -> tuple[str | None, Any]: ...

    def with_price(self, user: str, release: Release, *, wait: bool = True) -> Release: ...
