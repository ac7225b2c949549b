"""Offline buy-score evaluation, exactly as ../shared/docs/EVALUATION.md (copied to docs/EVALUATION.md)."""
from __future__ import annotations

import logging
import math
import random
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from sklearn.metrics import roc_auc_score

from .calibration import expected_calibration_error
from .release import CollectionItem, Release, others_pool
from .scorers.base import Embedder, Scorer, TrainingSet
from .scorers.baselines import ContentKNNScorer, PopularityScorer, StyleProfileScorer
from .scorers.catboost_model import CatBoostScorer

log = logging.getLogger(__name__)

METHODS: dict[str, Callable[[], Scorer]] = {
    "model": CatBoostScorer,
    "popularity": PopularityScorer,
    "style_profile": StyleProfileScorer,
    "content_knn": ContentKNNScorer,
}
BASELINES = ["popularity", "style_profile", "content_knn"]
METRICS = ["roc_auc", "hr@10", "ndcg@10", "mrr", "brier", "ece"]


@dataclass
class Split:
    train_pos: list[Release]
    train_dates: list
    test_pos: list[Release]
    train_neg: list[Release]
    test_neg: list[Release]
    kind: str
    lists: list[list[int]] = field(default_factory=list)  # per test positive: indices into test_neg


def _describe(item: CollectionItem, catalogue: dict[int, Release] | None) -> Release | None:
    """With a catalogue, every release is described by its catalogue record; a release missing from it
    keeps only the fields every catalogue record has, so richness cannot identify the source. One that lacks
    even those (no genres: e.g. a CSV export row) can't be described like the negatives: ``None``."""
    r = item.release
    if catalogue is None:
        return r
    if r.id in catalogue:
        return catalogue[r.id]
    if not r.genres:
        return None
    return Release(id=r.id, title=r.title, artists=list(r.artists), year=r.year, master_id=r.master_id,
                   genres=list(r.genres), styles=list(r.styles))


def split_user(items: list[CollectionItem], catalogue: dict[int, Release], cfg: dict[str, Any],
               wantlist: list[CollectionItem] | None = None, variant: str = "main") -> Split:
    ecfg = cfg["eval"]
    seen: dict[int, CollectionItem] = {}
    for it in items:
        seen.setdefault(it.release.id, it)
    uniq = [it for it in seen.values() if _describe(it, catalogue) is not None]
    days = {it.date_added for it in uniq if it.date_added}
    n_test = int(round(len(uniq) * float(ecfg["test_fraction"])))
    if len(days) >= int(ecfg["min_distinct_days"]):
        kind = "time split"
        # undated records can't be "after" anything: they stay in training
        order = sorted(range(len(uniq)), key=lambda i: (uniq[i].date_added is not None,
                                                        uniq[i].date_added or 0, i))
        test_idx = set(order[len(order) - n_test:])
    else:
        kind = "random split"
        rng = random.Random(int(ecfg["seed"]))
        test_idx = set(rng.sample(range(len(uniq)), n_test))
    train_pos = [_describe(it, catalogue) for i, it in enumerate(uniq) if i not in test_idx]
    train_dates = [it.date_added for i, it in enumerate(uniq) if i not in test_idx]
    test_pos = [_describe(it, catalogue) for i, it in enumerate(uniq) if i in test_idx]
    want = [d for it in (wantlist or []) if it.release.id not in seen
            for d in [_describe(it, catalogue)] if d is not None]
    train_pos += want
    train_dates += [None] * len(want)
    # Test positives stay exactly as the protocol splits them, re-pressings of albums in training included.
    owned_ids = set(seen) | {r.id for r in want}
    all_user = [it.release for it in seen.values()] + [it.release for it in (wantlist or [])]
    pool = others_pool(catalogue, all_user + [catalogue[i] for i in owned_ids if i in catalogue])
    rng = random.Random(0)
    order = list(range(len(pool)))
    rng.shuffle(order)
    half = len(order) // 2
    train_neg = [pool[i] for i in order[:half]]
    test_neg = [pool[i] for i in order[half:]]
    split = Split(train_pos, train_dates, test_pos, train_neg, test_neg, kind)
    n_list = int(ecfg["list_negatives"])
    lrng = random.Random(int(ecfg["seed"]))
    years = np.array([r.year or 0 for r in test_neg])
    for p in test_pos:
        if variant == "yearmatch" and p.year:
            w = 1
            cand = np.flatnonzero((years > 0) & (np.abs(years - p.year) <= w))
            while len(cand) < n_list and w < 200:
                w += 1
                cand = np.flatnonzero((years > 0) & (np.abs(years - p.year) <= w))
            if len(cand) < n_list:
                cand = np.arange(len(test_neg))
            split.lists.append(sorted(lrng.sample(list(cand), min(n_list, len(cand)))))
        else:
            split.lists.append(sorted(lrng.sample(range(len(test_neg)), min(n_list, len(test_neg)))))
    return split


def _rank(pos_score: float, neg_scores: np.ndarray) -> float:
    """1-based rank of the positive; ties count half (the expectation under random tie-breaking)."""
    return 1.0 + float(np.sum(neg_scores > pos_score)) + 0.5 * float(np.sum(neg_scores == pos_score))


def metrics_for(scores_pos: np.ndarray, scores_neg: np.ndarray, lists: list[list[int]], used: list[int],
                probabilistic: bool, k: int) -> dict[str, float]:
    pos_of = {j: i for i, j in enumerate(used)}
    ranks = []
    for p, lst in zip(scores_pos, lists):
        ranks.append(_rank(p, scores_neg[[pos_of[j] for j in lst]]))
    ranks_a = np.array(ranks)
    y = np.r_[np.ones(len(scores_pos)), np.zeros(len(scores_neg))]
    s = np.r_[scores_pos, scores_neg]
    out = {
        "roc_auc": float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan"),
        f"hr@{k}": float(np.mean(ranks_a <= k)),
        f"ndcg@{k}": float(np.mean([1 / math.log2(r + 1) if r <= k else 0.0 for r in ranks_a])),
        "mrr": float(np.mean(1.0 / ranks_a)),
    }
    if probabilistic:
        out["brier"] = float(np.mean((s - y) ** 2))
        out["ece"] = expected_calibration_error(s, y)
    else:
        out["brier"] = out["ece"] = float("nan")
    return out


def evaluate_user(name: str, items: list[CollectionItem], catalogue: dict[int, Release], embed: Embedder,
                  cfg: dict[str, Any], wantlist: list[CollectionItem] | None = None, variant: str = "main",
                  methods: list[str] | None = None, progress: Callable[[str], None] | None = None) -> dict:
    n_unique = len({it.release.id for it in items})
    n_described = len({it.release.id for it in items if _describe(it, catalogue) is not None})
    if n_unique < int(cfg["eval"]["min_records"]):
        return {"user": name, "skipped": f"only {n_unique} releases (< {cfg['eval']['min_records']})"}
    if n_described < int(cfg["eval"]["min_records"]):
        return {"user": name, "skipped": f"only {n_described} of {n_unique} releases can be described like the "
                                         "catalogue (the rest are not in it and carry no genres/styles)"}
    split = split_user(items, catalogue, cfg, wantlist, variant)
    used = sorted({j for lst in split.lists for j in lst})
    neg_used = [split.test_neg[j] for j in used]
    k = int(cfg["eval"]["k"])
    mcfg = dict(cfg["model"])
    ratio = float(mcfg.get("negative_ratio", 3.0))
    n_neg = min(len(split.train_neg), int(round(ratio * len(split.train_pos))))
    train_neg = random.Random(int(mcfg.get("seed", 0))).sample(split.train_neg, n_neg)
    result = {"user": name, "split": split.kind, "n_releases": n_unique, "n_described": n_described, "variant": variant, "n_train_pos": len(split.train_pos),
              "n_test_pos": len(split.test_pos), "n_train_neg": len(train_neg),
              "n_test_neg_used": len(neg_used),
              "popularity_coverage": PopularityScorer.coverage(split.test_pos + neg_used), "methods": {},
              "training_log": []}
    for mname in methods or list(METHODS):
        if progress:
            progress(f"{name}: {mname}")
        ts = TrainingSet(split.train_pos, train_neg, embed, mcfg, positive_dates=split.train_dates)
        scorer = METHODS[mname]().fit(ts)
        sp, sn = scorer.score(split.test_pos), scorer.score(neg_used)
        result["methods"][mname] = metrics_for(sp, sn, split.lists, used, scorer.probabilistic, k)
        if ts.log:
            result["training_log"] += ts.log
    return result


def summarise(results: list[dict], k: int = 10) -> dict:
    done = [r for r in results if "methods" in r]
    summary: dict[str, Any] = {"users": len(done), "skipped": [r["user"] for r in results if "skipped" in r],
                               "methods": {}}
    names = sorted({m for r in done for m in r["methods"]}, key=lambda m: list(METHODS).index(m))
    for m in names:
        summary["methods"][m] = {}
        for metric in ["roc_auc", f"hr@{k}", f"ndcg@{k}", "mrr", "brier", "ece"]:
            vals = [r["methods"][m][metric] for r in done if m in r["methods"]
                    and not math.isnan(r["methods"][m][metric])]
            summary["methods"][m][metric] = {"mean": statistics.fmean(vals) if vals else float("nan"),
                                             "median": statistics.median(vals) if vals else float("nan")}
    for metric in ["roc_auc", f"hr@{k}"]:
        wins = 0
        for r in done:
            if "model" in r["methods"]:
                best = max((r["methods"][b][metric] for b in BASELINES if b in r["methods"]), default=-1)
                wins += r["methods"]["model"][metric] > best
        summary[f"model_beats_best_baseline_{metric}"] = wins
    return summary


def format_table(results: list[dict], summary: dict, k: int = 10) -> str:
    cols = ["roc_auc", f"hr@{k}", f"ndcg@{k}", "mrr", "brier", "ece"]
    lines = [f"{'user':<20} {'split':<12} {'method':<14} " + " ".join(f"{c:>8}" for c in cols)]
    for r in results:
        if "skipped" in r:
            lines.append(f"{r['user']:<20} skipped: {r['skipped']}")
            continue
        for m, vals in r["methods"].items():
            lines.append(f"{r['user']:<20} {r['split']:<12} {m:<14} " +
                         " ".join(f"{vals[c]:>8.3f}" if not math.isnan(vals[c]) else f"{'–':>8}" for c in cols))
    lines.append("")
    lines.append(f"summary over {summary['users']} users (mean / median)")
    for m, vals in summary["methods"].items():
        lines.append(f"  {m:<14} " + "  ".join(
            f"{c} {vals[c]['mean']:.3f}/{vals[c]['median']:.3f}" for c in cols if not math.isnan(vals[c]['mean'])))
    lines.append(f"  model beats the best baseline on ROC-AUC for {summary['model_beats_best_baseline_roc_auc']}"
                 f" of {summary['users']} users, on HR@{k} for {summary[f'model_beats_best_baseline_hr@{k}']}")
    return "\n".join(lines)
