"""Offline buy-score evaluation, exactly as ../shared/docs/EVALUATION.md (copied to docs/EVALUATION.md)."""
from __future__ import annotations

import json
import logging
import math
import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.config import ModelConfig, get_config, resolve_path, section
from core.domain.release import CollectionItem, Release, others_pool
from core.ingest.readers import read_collection
from core.ingest.readers.catalogue import load_catalogue
from core.model.metrics import list_metrics, metric_names
from core.model.scorers.base import Embedder, Scorer, TrainingSet, negative_count
from core.model.scorers.baselines import ContentKNNScorer, PopularityScorer, StyleProfileScorer
from core.model.scorers.catboost_model import CatBoostScorer

log = logging.getLogger(__name__)

METHODS: dict[str, Callable[[], Scorer]] = {
    "model": CatBoostScorer,
    "popularity": PopularityScorer,
    "style_profile": StyleProfileScorer,
    "content_knn": ContentKNNScorer,
}
BASELINES = ["popularity", "style_profile", "content_knn"]
METRICS = metric_names(10)


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


def split_user(items: list[CollectionItem], catalogue: dict[int, Release], cfg: Mapping[str, Any],
               wantlist: list[CollectionItem] | None = None, variant: str = "main") -> Split:
    ecfg = cfg["eval"]
    seen: dict[int, CollectionItem] = {}
    for it in items:
        seen.setdefault(it.release.id, it)
    described = [(it, d) for it in seen.values() if (d := _describe(it, catalogue)) is not None]
    uniq = [it for it, _ in described]
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
    train_pos = [d for i, (_, d) in enumerate(described) if i not in test_idx]
    train_dates = [it.date_added for i, it in enumerate(uniq) if i not in test_idx]
    test_pos = [d for i, (_, d) in enumerate(described) if i in test_idx]
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


def metrics_for(scores_pos: np.ndarray, scores_neg: np.ndarray, lists: list[list[int]], used: list[int],
                probabilistic: bool, k: int) -> dict[str, float]:
    """The protocol's metrics (core/model/metrics.py) for index-based lists: ``lists`` hold indices into the test
    negatives, ``used`` the sorted indices that ``scores_neg`` scores, in order."""
    # ids: a negative is its index j (>= 0), the i-th positive is -1 - i, so the two never collide
    score_of = {j: float(v) for j, v in zip(used, scores_neg)}
    score_of.update({-1 - i: float(v) for i, v in enumerate(scores_pos)})
    id_lists = [[-1 - i] + list(lst) for i, lst in enumerate(lists)]
    return list_metrics([-1 - i for i in range(len(scores_pos))], id_lists, score_of, probabilistic, k)


def evaluate_user(name: str, items: list[CollectionItem], catalogue: dict[int, Release], embed: Embedder,
                  cfg: Mapping[str, Any], wantlist: list[CollectionItem] | None = None, variant: str = "main",
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
    n_neg = min(len(split.train_neg), negative_count(len(split.train_pos), mcfg))
    train_neg = random.Random(section(ModelConfig, mcfg).seed).sample(split.train_neg, n_neg)
    result: dict[str, Any] = {
        "user": name, "split": split.kind, "n_releases": n_unique, "n_described": n_described, "variant": variant,
        "n_train_pos": len(split.train_pos),
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


def method_stats(rows: list[dict], k: int = 10) -> dict[str, dict[str, dict[str, float]]]:
    """Per method (in METHODS order) and metric: mean and median over the rows that have it (NaN skipped)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for m in [m for m in METHODS if any(m in r["methods"] for r in rows)]:
        out[m] = {}
        for metric in metric_names(k):
            vals = [r["methods"][m][metric] for r in rows if m in r["methods"]
                    and not math.isnan(r["methods"][m][metric])]
            out[m][metric] = {"mean": statistics.fmean(vals) if vals else float("nan"),
                              "median": statistics.median(vals) if vals else float("nan")}
    return out


def summarise(results: list[dict], k: int = 10) -> dict:
    done = [r for r in results if "methods" in r]
    summary: dict[str, Any] = {"users": len(done), "skipped": [r["user"] for r in results if "skipped" in r],
                               "methods": {}}
    summary["methods"] = method_stats(done, k)
    for metric in ["auc", f"hr{k}"]:
        wins = 0
        for r in done:
            if "model" in r["methods"]:
                best = max((r["methods"][b][metric] for b in BASELINES if b in r["methods"]), default=-1)
                wins += r["methods"]["model"][metric] > best
        summary[f"model_beats_best_baseline_{metric}"] = wins
    return summary


def format_table(results: list[dict], summary: dict, k: int = 10) -> str:
    cols = metric_names(k)
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
    lines.append(f"  model beats the best baseline on ROC-AUC for {summary['model_beats_best_baseline_auc']}"
                 f" of {summary['users']} users, on HR@{k} for {summary[f'model_beats_best_baseline_hr{k}']}")
    return "\n".join(lines)


# -- the protocol's own splits (../shared/data/eval/splits/<variant>/<user>/split.json) ------------------------
@dataclass
class ProtocolSplit:
    """One split exactly as the protocol drew it, with the training collection that sits beside it."""

    user: str
    variant: str
    path: str
    train_pos: list[int]
    test_pos: list[int]
    train_neg_pool: list[int]
    test_lists: list[list[int]]
    train_items: list[CollectionItem]
    kind: str = ""

    @property
    def scored_ids(self) -> list[int]:
        """Every id a method must score: the test positives and every negative used in a list."""
        return list(self.test_pos) + sorted({r for lst in self.test_lists for r in lst[1:]} - set(self.test_pos))


def load_split(path: str | Path) -> ProtocolSplit:
    """Read ``split.json`` and the ``train_collection.json`` beside it (the API's collection-page shape)."""

    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    coll = path.parent / "train_collection.json"
    items = read_collection(coll).items if coll.is_file() else []
    return ProtocolSplit(user=str(raw.get("user") or path.parent.name), variant=str(raw.get("variant") or ""),
                         path=str(path), train_pos=[int(i) for i in raw["train_pos"]],
                         test_pos=[int(i) for i in raw["test_pos"]],
                         train_neg_pool=[int(i) for i in raw["train_neg_pool"]],
                         test_lists=[[int(i) for i in lst] for lst in raw["test_lists"]], train_items=items,
                         kind=str(raw.get("split") or ""))


def split_training_set(split: ProtocolSplit, catalogue: dict[int, Release], embed: Embedder,
                       cfg: Mapping[str, Any], embed_text=None) -> TrainingSet:
    """Train positives described by their catalogue records (the collection file only says what is owned and
    when), negatives drawn only from ``train_neg_pool``: ``model.negative_ratio`` per positive (at least
    ``model.min_negatives``, at most the pool), seeded."""
    mcfg = dict(cfg["model"])
    by_id = {it.release.id: it for it in split.train_items}
    positives, dates = [], []
    for rid in split.train_pos:
        r = catalogue.get(rid) or (by_id[rid].release if rid in by_id else None)
        if r is None:
            continue
        positives.append(r)
        dates.append(by_id[rid].date_added if rid in by_id else None)
    pool = [catalogue[i] for i in split.train_neg_pool if i in catalogue]
    n_neg = min(len(pool), negative_count(len(positives), mcfg))
    negatives = random.Random(section(ModelConfig, mcfg).seed).sample(pool, n_neg)
    return TrainingSet(positives, negatives, embed, mcfg, positive_dates=dates,
                       population=list(catalogue.values()), embed_text=embed_text, pool_size=len(pool))


def verdict_shares(verdicts_pos: list[str], verdicts_neg: list[str]) -> dict[str, dict[str, float]]:
    def share(vs: list[str]) -> dict[str, float]:
        return {v: (sum(x == v for x in vs) / len(vs) if vs else float("nan")) for v in ("buy", "maybe", "skip")}

    return {"test_pos": share(verdicts_pos), "test_neg": share(verdicts_neg)}


def evaluate_split(split: ProtocolSplit, catalogue: dict[int, Release], embed: Embedder, cfg: Mapping[str, Any],
                   methods: list[str] | None = None, embed_text=None,
                   progress: Callable[[str], None] | None = None) -> dict:
    """Train every method on exactly this split and report the protocol's metrics (core/model/metrics.py), the
    model's verdict shares, and every score (``scores``: method → {release id: score})."""
    k = int(cfg["eval"]["k"])
    ts0 = split_training_set(split, catalogue, embed, cfg, embed_text)
    ids = split.scored_ids
    missing = [i for i in ids if i not in catalogue]
    if missing:
        raise KeyError(f"{split.path}: {len(missing)} scored releases are not in the catalogue, e.g. {missing[:5]}")
    cands = [catalogue[i] for i in ids]
    neg_ids = set(ids) - set(split.test_pos)
    result: dict[str, Any] = {"user": split.user, "variant": split.variant, "split": split.kind,
                              "path": split.path, "n_train_pos": len(ts0.positives), "n_test_pos": len(split.test_pos),
                              "n_train_neg": len(ts0.negatives), "n_test_neg_used": len(neg_ids),
                              "popularity_coverage": PopularityScorer.coverage(cands), "methods": {},
                              "scores": {}, "training_log": []}
    for mname in methods or list(METHODS):
        if progress:
            progress(f"{split.user} ({split.variant}): {mname}")
        ts = split_training_set(split, catalogue, embed, cfg, embed_text)
        scorer = METHODS[mname]().fit(ts)
        s = scorer.score(cands)
        score_of = {rid: float(v) for rid, v in zip(ids, s)}
        result["methods"][mname] = list_metrics(split.test_pos, split.test_lists, score_of, scorer.probabilistic, k)
        result["scores"][mname] = score_of
        result["training_log"] += ts.log
        if hasattr(scorer, "verdicts"):
            v = scorer.verdicts(s)
            result["verdicts"] = verdict_shares([x for rid, x in zip(ids, v) if rid not in neg_ids],
                                                [x for rid, x in zip(ids, v) if rid in neg_ids])
    return result


def load_eval_catalogue(path: str | Path | None = None) -> dict[int, Release]:
    """The evaluation's catalogue: ``path``, or the bundled releases with community have/want. The bundled label
    side table stays out: the protocol describes every release by the catalogue's own fields (docs/EVALUATION.md)."""

    if path:
        return load_catalogue(path)
    p = get_config().paths
    return load_catalogue(resolve_path(p["catalogue"]), None, resolve_path(p["catalogue_community"]))


def find_splits(split_dir: str | Path) -> list[Path]:
    """Every ``<user>/split.json`` under ``split_dir`` (or ``split_dir`` itself when it holds one)."""
    d = Path(split_dir)
    if (d / "split.json").is_file():
        return [d / "split.json"]
    return sorted(d.glob("*/split.json"))


def reference_for(split: ProtocolSplit, reference_dir: str | Path | None = None) -> dict | None:
    """The reference implementation's figures for this split (``reference/<variant>/<user>.json``), when there.

    Without ``reference_dir``, looked for where the protocol keeps them: ``splits/../reference``."""
    root = Path(reference_dir) if reference_dir else Path(split.path).parents[2].parent / "reference"
    for cand in (root / split.variant / f"{split.user}.json", root / f"{split.user}.json"):
        if cand.is_file():
            return json.loads(cand.read_text(encoding="utf-8")).get("methods")
    return None


# our method → the reference's name for the same thing
REFERENCE_NAMES = {"model": "catboost", "popularity": "popularity", "style_profile": "profile_tfidf",
                   "content_knn": "knn_minilm"}


def summarise_splits(rows: list[dict], k: int = 10) -> dict:
    """Mean and median of every metric per method, the model's wins against the best baseline and against the
    reference model, and the mean verdict shares."""
    summary: dict[str, Any] = {"users": len(rows), "methods": {}}
    summary["methods"] = method_stats(rows, k)
    paired_all = [r for r in rows if r.get("reference") and "catboost" in r["reference"]]
    if paired_all:
        summary["reference"] = {metric: statistics.fmean(r["reference"]["catboost"][metric] for r in paired_all)
                                for metric in ("auc", f"hr{k}", f"ndcg{k}", "ece")
                                if all(metric in r["reference"]["catboost"] for r in paired_all)}
    for metric in ["auc", f"hr{k}"]:
        summary[f"model_beats_best_baseline_{metric}"] = sum(
            r["methods"]["model"][metric] > max((r["methods"][b][metric] for b in BASELINES if b in r["methods"]),
                                                default=-1) for r in rows if "model" in r["methods"])
        paired = [r for r in rows if r.get("reference") and "model" in r["methods"]]
        if paired:
            summary[f"model_beats_reference_{metric}"] = sum(
                r["methods"]["model"][metric] > r["reference"]["catboost"][metric] for r in paired)
    with_verdicts = [r["verdicts"] for r in rows if "verdicts" in r]
    if with_verdicts:
        summary["verdicts"] = {side: {v: statistics.fmean(x[side][v] for x in with_verdicts)
                                      for v in ("buy", "maybe", "skip")} for side in ("test_pos", "test_neg")}
    return summary


def draw_families(names: list[str]) -> dict[str, list[str]]:
    """Group split folders that are re-draws of one protocol: ``all``, ``all-seed1``… → ``{"all": [...]}``."""
    fam: dict[str, list[str]] = {}
    for n in names:
        fam.setdefault(n.split("-seed")[0], []).append(n)
    return {f: ns for f, ns in fam.items() if len(ns) > 1}


def spread(summaries: dict[str, dict], k: int = 10) -> dict:
    """Over several draws of one protocol (e.g. ``all``, ``all-seed1..4``): per method and metric, the mean over
    users of each draw, then their mean, standard deviation, min and max — the noise of the figures. The
    reference model's per-draw means, when known, come as ``reference``."""
    out: dict[str, dict] = {}
    refs = [s["reference"] for s in summaries.values() if "reference" in s]
    if len(refs) == len(summaries):
        out["reference"] = {metric: {"mean": statistics.fmean(r[metric] for r in refs),
                                     "sd": statistics.pstdev([r[metric] for r in refs]),
                                     "min": min(r[metric] for r in refs), "max": max(r[metric] for r in refs),
                                     "draws": len(refs)} for metric in refs[0]}
    methods = {m for s in summaries.values() for m in s["methods"]}
    for m in sorted(methods, key=list(METHODS).index):
        out[m] = {}
        for metric in metric_names(k):
            vals = [s["methods"][m][metric]["mean"] for s in summaries.values() if m in s["methods"]
                    and not math.isnan(s["methods"][m][metric]["mean"])]
            if vals:
                out[m][metric] = {"mean": statistics.fmean(vals), "sd": statistics.pstdev(vals),
                                  "min": min(vals), "max": max(vals), "draws": len(vals)}
    return out


def format_split_table(rows: list[dict], summary: dict, k: int = 10) -> str:
    """Per user and method: ours and, where known, the reference's figure beside it ("0.949 / 0.941")."""
    cols = ["auc", f"hr{k}", f"ndcg{k}", "mrr", "ece"]
    lines = [f"{'user':<20} {'variant':<10} {'method':<14} " + " ".join(f"{c + ' ours/ref':>15}" for c in cols)]
    for r in rows:
        ref = r.get("reference") or {}
        for m, vals in r["methods"].items():
            rv = ref.get(REFERENCE_NAMES.get(m, m), {})
            cells = []
            for c in cols:
                ours = "–" if math.isnan(vals[c]) else f"{vals[c]:.3f}"
                theirs = f"{rv[c]:.3f}" if isinstance(rv.get(c), (int, float)) else "–"
                cells.append(f"{ours + ' / ' + theirs:>15}")
            lines.append(f"{r['user']:<20} {r['variant']:<10} {m:<14} " + " ".join(cells))
        if "verdicts" in r:
            v = r["verdicts"]
            lines.append(f"{'':<20} {'':<10} {'verdicts':<14} test positives buy {v['test_pos']['buy']:.0%} maybe "
                         f"{v['test_pos']['maybe']:.0%} · test negatives buy {v['test_neg']['buy']:.0%} maybe "
                         f"{v['test_neg']['maybe']:.0%}")
    lines.append("")
    lines.append(f"summary over {summary['users']} users (mean / median)")
    for m, vals in summary["methods"].items():
        lines.append(f"  {m:<14} " + "  ".join(
            f"{c} {vals[c]['mean']:.3f}/{vals[c]['median']:.3f}" for c in metric_names(k)
            if not math.isnan(vals[c]['mean'])))
    if "reference" in summary:
        lines.append("  reference model (catboost) mean: " + "  ".join(
            f"{c} {v:.3f}" for c, v in summary["reference"].items()))
        lines.append(f"  model beats the reference model on AUC for {summary.get('model_beats_reference_auc', 0)} "
                     f"of {summary['users']} users, on HR@{k} for {summary.get(f'model_beats_reference_hr{k}', 0)}")
    lines.append(f"  model beats the best baseline on AUC for {summary['model_beats_best_baseline_auc']} of "
                 f"{summary['users']} users, on HR@{k} for {summary[f'model_beats_best_baseline_hr{k}']}")
    if "verdicts" in summary:
        v = summary["verdicts"]
        lines.append(f"  verdicts: test positives buy or maybe {v['test_pos']['buy'] + v['test_pos']['maybe']:.0%}, "
                     f"test negatives {v['test_neg']['buy'] + v['test_neg']['maybe']:.0%}")
    return "\n".join(lines)


def format_spread(sp: dict, k: int = 10, family: str = "") -> str:
    lines = [f"spread over the negative draws{' of ' + family if family else ''} "
             "(mean over users per draw: mean ± sd [min – max])"]
    for m, metrics in sp.items():
        lines.append(f"  {m:<14} " + "  ".join(
            f"{c} {v['mean']:.3f}±{v['sd']:.3f} [{v['min']:.3f}–{v['max']:.3f}]" for c, v in metrics.items()
            if c in ("auc", f"hr{k}", f"ndcg{k}", "ece")))
    return "\n".join(lines)
