"""The protocol's metrics (docs/EVALUATION.md), computed exactly as ``../shared/tools/split_metrics.py`` does.

ROC-AUC of all test positives against all distinct negatives used; HR@k, NDCG@k and MRR over the ranking
lists with ties broken uniformly at random *in expectation* (the mean over every rank a tie could give, not
the rank of the mean); ECE over ``bins`` equal-width bins with ``min(int(p·bins), bins−1)`` as the bin.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score


def rank_metrics(pos: float, negs: np.ndarray, k: int = 10) -> tuple[float, float, float]:
    """Expected (HR@k, NDCG@k, reciprocal rank) of the positive among ``negs``, ties broken at random."""
    negs = np.asarray(negs, dtype=float)
    greater, ties = int((negs > pos).sum()), int((negs == pos).sum())
    ranks = np.arange(greater + 1, greater + ties + 2)
    return (float(np.mean(ranks <= k)), float(np.mean(np.where(ranks <= k, 1 / np.log2(ranks + 1), 0.0))),
            float(np.mean(1 / ranks)))


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: Σ over bins of |mean(p) − mean(y)| × the bin's share; NaN when empty."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    if len(p) == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[idx == b].mean() - y[idx == b].mean()) * (idx == b).mean()
                     for b in range(bins) if (idx == b).any()))


def metric_names(k: int = 10) -> list[str]:
    return ["auc", f"hr{k}", f"ndcg{k}", "mrr", "brier", "ece"]


def list_metrics(test_pos: Sequence[int], lists: Sequence[Sequence[int]], score_of: Mapping[int, float],
                 probabilistic: bool = False, k: int = 10) -> dict[str, float]:
    """Metrics of one split: ``lists`` are ``[positive, negative, …]`` of ids; ``score_of`` scores every id.

    Non-probabilistic scores get NaN Brier/ECE (a similarity is not a probability)."""
    negs_used = sorted({r for lst in lists for r in lst[1:]})
    ids = list(test_pos) + negs_used
    missing = [r for r in ids if r not in score_of]
    if missing:
        raise KeyError(f"{len(missing)} releases of the split have no score, e.g. {missing[:5]}")
    s = np.array([score_of[r] for r in ids], dtype=float)
    y = np.array([1] * len(test_pos) + [0] * len(negs_used))
    per_list = [rank_metrics(score_of[lst[0]], np.array([score_of[r] for r in lst[1:]], dtype=float), k)
                for lst in lists]
    hr, nd, rr = zip(*per_list) if per_list else ((), (), ())
    auc = float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")
    out = {"auc": auc, f"hr{k}": float(np.mean(hr)), f"ndcg{k}": float(np.mean(nd)), "mrr": float(np.mean(rr)),
           "brier": float("nan"), "ece": float("nan")}
    if probabilistic:
        out["brier"] = float(np.mean((s - y) ** 2))
        out["ece"] = ece(s, y)
    return out
