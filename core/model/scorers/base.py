"""One scorer interface: every scorer (baselines, cold start, CatBoost) is fitted on the same training set
and scores any list of releases; one contract test (tests/test_scorer_contract.py) holds them all to it."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

import numpy as np

from core.config import ModelConfig, section
from core.domain.release import Release

Embedder = Callable[[list[Release]], np.ndarray]


@dataclass
class TrainingSet:
    """Train positives (what the user owns or wants) and train negatives (records others bought)."""

    positives: list[Release]
    negatives: list[Release]
    embed: Embedder
    config: ModelConfig | Mapping[str, Any] = field(default_factory=dict)   # the model section (or a variation)
    log: list[str] = field(default_factory=list)
    positive_dates: list[date | None] | None = None  # when each positive was added, if known
    # feedback: releases the user liked or bought that are not (yet) in the collection, and the weight of
    # every row in the order positives + extra_positives + negatives (None: all 1)
    extra_positives: list[Release] = field(default_factory=list)
    weights: list[float] | None = None
    # the records a collector may be offered (the candidate catalogue, no labels): TF-IDF weights come from it
    population: list[Release] | None = None
    # how many candidate records the negatives were drawn from (the prior of the calibrated score, see
    # core/model/scorers/catboost_model.py:resolve_base_rate); None: the negatives themselves
    pool_size: int | None = None
    # text → normalised vectors (the embedding model behind ``embed``), for scorers with their own document
    embed_text: Callable[[list[str]], np.ndarray] | None = None


def negative_count(n_positives: int, mcfg: ModelConfig | Mapping[str, Any]) -> int:
    """How many negatives to sample: ``negative_ratio`` per positive, and never fewer than ``min_negatives`` (a
    small collection learns what it is *not* from enough of the market; callers cap it by the pool)."""
    cfg = section(ModelConfig, mcfg)
    return max(int(round(cfg.negative_ratio * n_positives)), cfg.min_negatives)


class Scorer(ABC):
    name: str = "scorer"
    probabilistic: bool = False   # True when score() returns calibrated probabilities

    def __getstate__(self) -> dict:
        # the embedder is a live object (model, cache, database): re-attached on load, never pickled
        state = self.__dict__.copy()
        state.pop("embed", None)
        return state

    def attach(self, embed: Embedder) -> "Scorer":
        self.embed = embed
        return self

    @abstractmethod
    def fit(self, train: TrainingSet) -> "Scorer":
        """Learn from the training set only."""

    @abstractmethod
    def score(self, releases: list[Release]) -> np.ndarray:
        """One finite float per release, higher = more likely bought; in [0, 1] if probabilistic."""
