"""Turn raw classifier scores into probabilities that mean what they say.

Platt scaling on held-out (out-of-fold) scores, then a prior shift from the training sample's positive rate
to the configured ``base_rate`` — the share of candidate records a collector would buy. Negative sampling
fixes the training rate arbitrarily; the prior shift removes that arbitrariness (Bayes' rule on the odds).
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from core.model.metrics import ece


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _beta_features(raw: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(raw, dtype=float), 1e-6, 1 - 1e-6)
    return np.column_stack([np.log(p), -np.log(1 - p)])


class PlattCalibrator:
    """``method="platt"``: logistic on the logit; ``"beta"``: logistic on (log p, −log(1−p)), which lets the
    two tails bend differently (beta calibration, Kull et al. 2017)."""

    def __init__(self, base_rate: float | None = None, method: str = "platt") -> None:
        self.base_rate = base_rate
        self.method = method
        self.a, self.b, self.shift = 1.0, 0.0, 0.0
        self.coef: list[float] = [1.0, 1.0]

    def _design(self, raw: np.ndarray) -> np.ndarray:
        return _beta_features(raw) if self.method == "beta" else logit(raw).reshape(-1, 1)

    def fit(self, raw: np.ndarray, y: np.ndarray) -> "PlattCalibrator":
        lr = LogisticRegression(C=1e4, max_iter=1000).fit(self._design(raw), y)
        self.coef = [float(c) for c in lr.coef_[0]]
        self.a, self.b = self.coef[0], float(lr.intercept_[0])
        rate = float(np.mean(y))
        if self.base_rate is not None and 0 < rate < 1:
            self.shift = float(logit(np.array([self.base_rate]))[0] - logit(np.array([rate]))[0])
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        z = self._design(raw) @ np.array(self.coef) + self.b + self.shift
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {"method": self.method, "coef": self.coef, "intercept": self.b, "shift": self.shift,
                "base_rate": self.base_rate}


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width bins, exactly as the protocol computes it (see core/model/metrics.py)."""
    return ece(p, y, bins)
