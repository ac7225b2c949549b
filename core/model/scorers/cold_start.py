"""Cold start: fewer owned records than a CatBoost model needs. Score from content neighbours and a
catalogue prior, with fixed, documented weights (there is no per-user data to fit them on)."""
from __future__ import annotations

import numpy as np

from core.domain.release import Release
from core.model.calibration import logit
from core.model.features import build_features
from core.model.profile import CollectionProfile
from core.model.scorers.base import Scorer, TrainingSet


class ColdStartScorer(Scorer):
    """p = sigmoid(logit(cold_start_rate) + 8·(knn_max − 0.65) + 4·style_max_share + 1.5·[same artist owned])."""

    name = "cold_start"
    probabilistic = True

    def fit(self, train: TrainingSet) -> "ColdStartScorer":
        self.embed = train.embed
        self.k = int(train.config.get("neighbours_k", 5))
        self.base_rate = float(train.config.get("cold_start_rate", 0.2))
        dim = int(getattr(train.embed, "dim", 384))
        self.profile = CollectionProfile(train.positives, train.embed(train.positives) if train.positives
                                         else np.zeros((0, dim), np.float32))
        # the static table (a new collector's first minute: nothing to load) reads closeness on its own scale
        self.profile.static_space = hasattr(train.embed, "similar_at")
        return self

    def features(self, releases: list[Release]):
        return build_features(self.profile, releases, self.embed(releases), self.k)

    def score_frame(self, X) -> np.ndarray:
        z = (logit(np.array([self.base_rate]))[0] + 8.0 * (X["knn_max"].to_numpy() - self.profile.similar_at(0.65))
             + 4.0 * np.nan_to_num(X["style_max_share"].to_numpy()) + 1.5 * (X["artist_count"].to_numpy() > 0))
        if self.profile.n == 0:
            z = np.full(len(X), logit(np.array([self.base_rate]))[0])
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, releases: list[Release]) -> np.ndarray:
        if not releases:
            return np.zeros(0)
        return self.score_frame(self.features(releases).X)
