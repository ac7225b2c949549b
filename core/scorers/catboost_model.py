"""The per-user CatBoost classifier over pair features, with cross-fitted Platt calibration."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool
from sklearn.model_selection import StratifiedKFold

from ..calibration import PlattCalibrator
from ..features import build_features, presence_report
from ..profile import CollectionProfile
from ..release import Release
from .base import Scorer, TrainingSet

log = logging.getLogger(__name__)


class CatBoostScorer(Scorer):
    name = "catboost"
    probabilistic = True

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.model: CatBoostClassifier | None = None
        self.calibrator: PlattCalibrator | None = None
        self.notes: list[str] = []

    def _params(self, cfg: dict) -> dict:
        p = dict(cfg.get("catboost", {}))
        p.setdefault("verbose", False)
        p["random_seed"] = int(cfg.get("seed", 0))
        p["allow_writing_files"] = False
        return p

    def fit(self, train: TrainingSet) -> "CatBoostScorer":
        cfg = train.config
        self.embed = train.embed
        self.k = int(cfg.get("neighbours_k", 5))
        self.profile = CollectionProfile(train.positives, train.embed(train.positives))
        extra = list(train.extra_positives)
        rows = train.positives + extra + train.negatives
        y = np.array([1] * (len(train.positives) + len(extra)) + [0] * len(train.negatives))
        w = np.asarray(train.weights if train.weights is not None else np.ones(len(rows)), dtype=float)
        if len(w) != len(rows):
            raise ValueError(f"{len(w)} weights for {len(rows)} training rows")
        # training rows: a positive is described without its own fold of the collection, a negative
        # without a random fold (see core/profile.py for why plain leave-one-out leaks the label); a liked
        # record that is not owned is described like a negative: against a random fold
        n_folds = int(cfg.get("feature_folds", 10))
        self.profile.assign_folds(n_folds, int(cfg.get("seed", 0)))
        rng = np.random.default_rng(int(cfg.get("seed", 0)) + 1)
        folds = [int(f) for f in self.profile.fold_of] + \
                [int(f) for f in rng.integers(0, n_folds, len(extra) + len(train.negatives))]
        others = extra + train.negatives
        emb = np.vstack([self.profile.emb, train.embed(others)]) if others else self.profile.emb
        ff = build_features(self.profile, rows, emb, self.k, folds)
        self.columns, self.notes = presence_report(ff.X, y, float(cfg.get("presence_gap", 0.25)))
        for n in self.notes:
            log.info("training: %s", n)
            train.log.append(n)
        X = ff.X[self.columns]
        params = self._params(cfg)
        self.weights = w
        raw, y_cal = self._held_out_scores(X, y, train, params, cfg)
        self.calibrator = PlattCalibrator(cfg.get("base_rate"), cfg.get("calibration_method", "platt")).fit(raw, y_cal)
        if cfg.get("refit_after_calibration", True) or self._held_out_model is None:
            self.model = CatBoostClassifier(**params).fit(X, y, sample_weight=self.weights)
        else:
            # the calibrator was fitted on exactly this model's held-out scores; the latest records still
            # shape every feature through the profile, only the tree weights don't see them
            self.model = self._held_out_model
        self.train_rate = float(y.mean())
        return self

    def _held_out_scores(self, X: pd.DataFrame, y: np.ndarray, train: TrainingSet, params: dict,
                         cfg: dict) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores on rows the scoring model did not see, for the calibrator.

        When the collection is dated, the held-out positives are the most recently added ones — a score is
        always about a *future* purchase, and recent additions drift from older taste — with a random share
        of the negatives. Otherwise out-of-fold predictions of a stratified k-fold.
        """
        self._held_out_model = None
        frac = float(cfg.get("calibration_fraction", 0.2))
        dates = train.positive_dates or []
        n_pos = len(train.positives)
        dated = [i for i, d in enumerate(dates[:n_pos]) if d is not None]
        if len({dates[i] for i in dated}) >= 30:
            order = sorted(dated, key=lambda i: (dates[i], i))
            cal_pos = order[len(order) - max(1, int(round(frac * len(order)))):]
            rng = np.random.default_rng(params["random_seed"])
            neg_idx = np.flatnonzero(y == 0)
            cal_neg = rng.choice(neg_idx, size=max(1, int(round(frac * len(neg_idx)))), replace=False)
            cal = np.zeros(len(y), dtype=bool)
            cal[cal_pos] = True
            cal[cal_neg] = True
            m = CatBoostClassifier(**params).fit(X[~cal], y[~cal], sample_weight=self.weights[~cal])
            self._held_out_model = m
            self.calibration_kind = "time held-out"
            return m.predict_proba(X[cal])[:, 1], y[cal]
        folds = int(cfg.get("calibration_folds", 3))
        oof = np.zeros(len(y))
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=params["random_seed"])
        for tr, te in skf.split(X, y):
            m = CatBoostClassifier(**params).fit(X.iloc[tr], y[tr], sample_weight=self.weights[tr])
            oof[te] = m.predict_proba(X.iloc[te])[:, 1]
        self.calibration_kind = "out-of-fold"
        return oof, y

    def features(self, releases: list[Release]):
        return build_features(self.profile, releases, self.embed(releases), self.k)

    def score(self, releases: list[Release]) -> np.ndarray:
        if not releases:
            return np.zeros(0)
        return self.score_frame(self.features(releases).X)

    def score_frame(self, X: pd.DataFrame) -> np.ndarray:
        raw = self.model.predict_proba(X[self.columns])[:, 1]
        return self.calibrator.transform(raw)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature SHAP contributions (log-odds) for each row."""
        shap = self.model.get_feature_importance(Pool(X[self.columns]), type="ShapValues")
        return pd.DataFrame(shap[:, :-1], columns=self.columns, index=X.index)
