"""The per-user CatBoost classifier over pair features, with cross-fitted Platt calibration."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, FeaturesData, Pool
from sklearn.model_selection import StratifiedKFold

from core.config import ModelConfig, VerdictsConfig, section
from core.domain.release import Release, id_hash
from core.domain.verdict import verdict_for
from core.model.calibration import PlattCalibrator
from core.model.features import CATEGORICAL, build_features, presence_report, tag_vocabulary
from core.model.profile import CollectionProfile
from core.model.scorers.base import Scorer, TrainingSet

log = logging.getLogger(__name__)


def resolve_base_rate(setting, n_pos: int, n_pool: int, recent_fraction: float = 0.2) -> float | None:
    """The prior the calibrated scores are shifted to. A number is used as it is; ``"auto"`` is the collector's
    own rate: the records they are expected to add over the next period (as many as their latest
    ``recent_fraction`` of the collection: ``n_pos·f/(1−f)``) against the candidate records on offer (the
    pool the negatives come from). Negative sampling fixes the training rate arbitrarily; this removes it."""
    if setting is None:
        return None
    if str(setting).lower() != "auto":
        return float(setting)
    f = min(max(recent_fraction, 0.01), 0.99)
    n_next = n_pos * f / (1 - f)
    return float(n_next / (n_next + max(n_pool, 1))) if n_pos > 0 else None


def verdict_thresholds(reference: np.ndarray, vcfg: VerdictsConfig) -> tuple[float, float]:
    """(buy, maybe) score thresholds: a record is a "buy" when it beats all but ``buy_share`` of the reference
    records (others' records the model never trained on), "maybe" when all but ``maybe_share``."""
    buy_share, maybe_share = vcfg.buy_share, vcfg.maybe_share
    if len(reference) == 0:
        return 0.6, 0.3
    buy = float(np.quantile(reference, 1 - buy_share))
    maybe = float(np.quantile(reference, 1 - maybe_share))
    return max(buy, maybe), min(buy, maybe)


class SeedEnsemble:
    """A few CatBoost models that differ only in their seed, averaged in log-odds. A small collection's model
    depends noticeably on the seed (which ordered statistics, which splits); the average does not. Offers what
    the scorer uses of a CatBoostClassifier: predict_proba, predict(RawFormulaVal) and get_feature_importance
    (SHAP values average like the raw scores they explain)."""

    def __init__(self, models: list[CatBoostClassifier]) -> None:
        self.models = models

    @classmethod
    def fit(cls, params: dict, size: int, X, y, sample_weight=None) -> "SeedEnsemble | CatBoostClassifier":
        models = [CatBoostClassifier(**{**params, "random_seed": params["random_seed"] + 1000 * i})
                  .fit(X, y, sample_weight=sample_weight) for i in range(max(size, 1))]
        return models[0] if len(models) == 1 else cls(models)

    def predict(self, data, prediction_type: str = "RawFormulaVal"):
        if prediction_type != "RawFormulaVal":
            raise ValueError("SeedEnsemble.predict gives raw log-odds only")
        return np.mean([m.predict(data, prediction_type="RawFormulaVal") for m in self.models], axis=0)

    def predict_proba(self, data) -> np.ndarray:
        p = 1 / (1 + np.exp(-self.predict(data)))
        return np.column_stack([1 - p, p])

    def get_feature_importance(self, data=None, **kw):
        if data is None:
            return np.mean([m.get_feature_importance(**kw) for m in self.models], axis=0)
        return np.mean([m.get_feature_importance(data, **kw) for m in self.models], axis=0)


class CatBoostScorer(Scorer):
    name = "catboost"
    probabilistic = True

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.model: CatBoostClassifier | SeedEnsemble | None = None
        self.calibrator: PlattCalibrator | None = None
        self.weights: np.ndarray | None = None   # the training rows' weights; dropped once trained
        self.notes: list[str] = []

    def _params(self, cfg: ModelConfig) -> dict:
        p = dict(cfg.catboost)
        p.setdefault("verbose", False)
        p["random_seed"] = cfg.seed
        p["allow_writing_files"] = False
        p["cat_features"] = [c for c in CATEGORICAL if c in self.columns]
        return p

    def fit(self, train: TrainingSet) -> "CatBoostScorer":
        cfg = section(ModelConfig, train.config)
        self.embed = train.embed
        self.k = cfg.neighbours_k
        self.profile = CollectionProfile(train.positives, train.embed(train.positives), train.population)
        extra = list(train.extra_positives)
        rows = train.positives + extra + train.negatives
        y = np.array([1] * (len(train.positives) + len(extra)) + [0] * len(train.negatives))
        w = np.asarray(train.weights if train.weights is not None else np.ones(len(rows)), dtype=float)
        if len(w) != len(rows):
            raise ValueError(f"{len(w)} weights for {len(rows)} training rows")
        # training rows: a positive is described without its own fold of the collection, a negative
        # without a random fold (see core/model/profile.py for why plain leave-one-out leaks the label); a liked
        # record that is not owned is described like a negative: against a random fold
        n_folds = cfg.feature_folds
        self.profile.assign_folds(n_folds, cfg.seed)
        # (drawn by each release's id, not its place in the list: a retrain after a few 👎 describes every other
        # row exactly as before, so it moves what the feedback was about and little else)
        folds: list[int | None] = [int(f) for f in self.profile.fold_of]
        folds += [id_hash(cfg.seed + 1, r.id) % n_folds for r in extra + train.negatives]
        others = extra + train.negatives
        emb = np.vstack([self.profile.emb, train.embed(others)]) if others else self.profile.emb
        self.tags = tag_vocabulary(rows, cfg.tag_min_rows) if cfg.tag_features else []
        self.contrast = None
        if cfg.contrast_features and train.negatives:
            # each negative sits in the fold its own row is described without: no row ever sees itself
            self.contrast = CollectionProfile(train.negatives, emb[len(emb) - len(train.negatives):], train.population)
            self.contrast.set_folds(folds[len(folds) - len(train.negatives):], n_folds)
        self.vote_k = cfg.vote_k
        self.contrast_tags = cfg.contrast_tags
        ff = build_features(self.profile, rows, emb, self.k, folds, self.tags, self.contrast, self.vote_k,
                            self.contrast_tags)
        self.columns, self.notes = presence_report(ff.X, y, cfg.presence_gap)
        for n in self.notes:
            log.info("training: %s", n)
            train.log.append(n)
        if not cfg.categorical_features:
            self.columns = [c for c in self.columns if c not in CATEGORICAL]
        # numeric columns first, categoricals last: the order CatBoost's fast FeaturesData input needs
        self.columns = [c for c in self.columns if c not in CATEGORICAL] + [c for c in self.columns if c in CATEGORICAL]
        X = ff.X[self.columns]
        params = self._params(cfg)
        self.weights = w
        raw, y_cal = self._held_out_scores(X, y, train, params, cfg)
        self.base_rate = resolve_base_rate(cfg.base_rate, int(y.sum()), train.pool_size or len(train.negatives),
                                           cfg.calibration_fraction)
        self.calibrator = PlattCalibrator(self.base_rate, cfg.calibration_method).fit(raw, y_cal)
        # the verdict's yardstick: calibrated scores of records others bought that the scoring model never saw
        cal_neg = self.calibrator.transform(raw[y_cal == 0])
        self.reference_scores = np.sort(cal_neg.astype(np.float32))
        self.thresholds = verdict_thresholds(self.reference_scores, cfg.verdicts)
        if cfg.refit_after_calibration or self._held_out_model is None:
            self.model = self._fit(params, cfg, X, y, w)
        else:
            # the calibrator was fitted on exactly this model's held-out scores; the latest records still
            # shape every feature through the profile, only the tree weights don't see them
            self.model = self._held_out_model
        self.train_rate = float(y.mean())
        return self

    @staticmethod
    def _fit(params: dict, cfg: ModelConfig, X, y: np.ndarray, w: np.ndarray):
        """One CatBoost model, or a seed ensemble when the collection is small (``model.ensemble``)."""
        ens = cfg.ensemble
        size = ens.size if int(y.sum()) < ens.below_positives else 1
        return SeedEnsemble.fit(params, size, X, y, w)

    def _held_out_scores(self, X: pd.DataFrame, y: np.ndarray, train: TrainingSet, params: dict,
                         cfg: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
        """Raw scores on rows the scoring model did not see, for the calibrator.

        When the collection is dated, the held-out positives are the most recently added ones — a score is
        always about a *future* purchase, and recent additions drift from older taste — with a random share
        of the negatives. Otherwise out-of-fold predictions of a stratified k-fold.
        """
        self._held_out_model = None
        weights = self.weights
        if weights is None:
            raise RuntimeError("_held_out_scores needs the training weights (set by fit)")
        frac = cfg.calibration_fraction
        dates = train.positive_dates or []
        n_pos = len(train.positives)
        dated = [i for i, d in enumerate(dates[:n_pos]) if d is not None]
        if len({dates[i] for i in dated}) >= 30:
            order = sorted(dated, key=lambda i: (dates[i], i))
            cal_pos = order[len(order) - max(1, int(round(frac * len(order)))):]
            neg_idx = np.flatnonzero(y == 0)
            rows = train.positives + list(train.extra_positives) + train.negatives
            # the calibration's share of negatives, drawn by release id (stable across retrains, as the folds)
            by_id = sorted(neg_idx, key=lambda i: id_hash(params["random_seed"], rows[i].id))
            cal_neg = np.array(by_id[:max(1, int(round(frac * len(neg_idx))))], dtype=int)
            cal = np.zeros(len(y), dtype=bool)
            cal[cal_pos] = True
            cal[cal_neg] = True
            m = self._fit(params, cfg, X[~cal], y[~cal], weights[~cal])
            self._held_out_model = m
            self.calibration_kind = "time held-out"
            return m.predict_proba(X[cal])[:, 1], y[cal]
        folds = cfg.calibration_folds
        oof = np.zeros(len(y))
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=params["random_seed"])
        for tr, te in skf.split(X, y):
            m = self._fit(params, cfg, X.iloc[tr], y[tr], weights[tr])
            oof[te] = m.predict_proba(X.iloc[te])[:, 1]
        self.calibration_kind = "out-of-fold"
        return oof, y

    def percentile(self, p: np.ndarray) -> np.ndarray:
        """Share of the reference records (see ``fit``) scoring below ``p``: "a better fit than 96 % of them"."""
        ref = getattr(self, "reference_scores", None)
        if ref is None or len(ref) == 0:
            return np.full(len(np.atleast_1d(p)), np.nan)
        return np.searchsorted(ref, np.atleast_1d(p), side="left") / len(ref)

    def verdicts(self, p: np.ndarray) -> list[str]:
        buy, maybe = self.thresholds
        return [verdict_for(float(x), buy, maybe) for x in np.atleast_1d(p)]

    def features(self, releases: list[Release]):
        return build_features(self.profile, releases, self.embed(releases), self.k, tags=getattr(self, "tags", None),
                              contrast=getattr(self, "contrast", None), vote_k=getattr(self, "vote_k", 0),
                              contrast_tags=getattr(self, "contrast_tags", False))

    def score(self, releases: list[Release]) -> np.ndarray:
        if not releases:
            return np.zeros(0)
        return self.score_frame(self.features(releases).X)

    def pool(self, X: pd.DataFrame) -> Pool:
        """The rows as a CatBoost Pool. A DataFrame of a few hundred tag columns takes ~20 ms to convert
        column by column; two plain arrays (numeric, then categorical) take well under 1 ms."""
        cats = [c for c in self.columns if c in CATEGORICAL]
        nums = self.columns[:len(self.columns) - len(cats)]
        if self.columns[len(nums):] != cats:   # a model trained before the columns were ordered
            return Pool(X[self.columns], cat_features=cats)
        if len(X) <= 16:   # the reply path: one row through numpy beats pandas' per-column selection
            pos = X.columns.get_indexer(nums)
            if (pos < 0).any():
                raise KeyError(f"missing feature columns: {[c for c, p in zip(nums, pos) if p < 0]}")
            num = np.array(X.to_numpy(dtype=object)[:, pos], dtype=np.float32, order="C")
        else:
            num = np.array(X[nums].to_numpy(dtype=np.float32), order="C")
        data = FeaturesData(num_feature_data=num,
                            cat_feature_data=np.array([[str(v) for v in row]
                                                       for row in X[cats].itertuples(index=False)],
                                                      dtype=object).reshape(len(X), len(cats)) if cats else None,
                            num_feature_names=nums, cat_feature_names=cats or None)
        return Pool(data)

    def fitted(self) -> tuple[CatBoostClassifier | SeedEnsemble, PlattCalibrator]:
        """The model and its calibrator; ``RuntimeError`` before ``fit`` (or ``load``)."""
        if self.model is None or self.calibrator is None:
            raise RuntimeError("CatBoostScorer is not fitted")
        return self.model, self.calibrator

    def score_frame(self, X: pd.DataFrame) -> np.ndarray:
        model, calibrator = self.fitted()
        raw = model.predict_proba(self.pool(X))[:, 1]
        return calibrator.transform(raw)

    def contributions(self, X: pd.DataFrame, pool: Pool | None = None) -> pd.DataFrame:
        """Per-feature contributions (log-odds) for each row, summing to the raw score. CatBoost's
        "Approximate" SHAP (path attribution, as in Saabas) orders a card's few main drivers like the exact
        tree SHAP at under half its cost on the reply path."""
        model, _ = self.fitted()
        shap = model.get_feature_importance(pool if pool is not None else self.pool(X), type="ShapValues",
                                            shap_calc_type="Approximate")
        return pd.DataFrame(shap[:, :-1], columns=self.columns, index=X.index)

    def score_explained(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Calibrated scores and SHAP contributions from one Pool (the serving path)."""
        model, calibrator = self.fitted()
        pool = self.pool(X)
        return calibrator.transform(model.predict_proba(pool)[:, 1]), self.contributions(X, pool)
