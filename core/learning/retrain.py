"""The learning loop: feedback becomes training rows, and a retrain replaces the model only if not worse.

Feedback weights (``learning.weights`` in configs/default.yaml):

==================  ========  ==============================================================
kind                label     why
==================  ========  ==============================================================
bought              positive  the strongest signal there is
implicit_bought     positive  a scored release that later appeared in the synced collection
like (👍)           positive  explicit, but cheaper than buying
dislike (👎)        negative  explicit: stronger than a sampled negative
weak_negative       negative  scored several times and never bought: weak evidence
==================  ========  ==============================================================

A disagreement (👎 on a score the model called a buy, 👍 on one it called a skip) is multiplied by
``disagreement_boost``: that is where the model has most to learn.

Retraining (``retrain``): see its docstring. In short, a new version replaces the current one only if it is
not worse on data neither has seen (what happened since the current model was trained), or — when too little
happened since — if its own time-split score is not worse than the current model's own, recorded the same way.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from core.config import Config, LearningConfig, section
from core.domain.release import Release, others_pool, stable_sample
from core.model.scorers.base import TrainingSet, negative_count
from core.model.scorers.catboost_model import CatBoostScorer
from core.ports import Trainable
from core.storage.schema import EXPLICIT_KINDS

log = logging.getLogger(__name__)

POSITIVE_KINDS = ("bought", "implicit_bought", "like")
NEGATIVE_KINDS = ("dislike", "weak_negative")


def last_training_at(store: Any, user: str) -> datetime | None:
    """When the user's newest model version (any status) was registered, or None."""
    models = store.models(user)
    return max(m.created_at for m in models) if models else None


def pending_feedback(store: Any, user: str) -> int:
    """Explicit feedback events (👍/👎/bought) created or changed since the user's last training."""
    counts = store.feedback_counts(user, last_training_at(store, user))
    return sum(int(counts.get(k, 0)) for k in EXPLICIT_KINDS)


def nothing_new(store: Any, user: str) -> str | None:
    """Why ``user`` need not be retrained (a sentence), or None when something is new: records added, or
    explicit feedback, since their newest model version — or no active model at all."""
    active = store.active_model(user)
    since = last_training_at(store, user)
    if active is None or since is None:
        return None
    if store.collection_added_since(user, since, None) or pending_feedback(store, user):
        return None
    return f"nothing new since {since:%Y-%m-%d %H:%M} UTC; {active.version} stays active"


def weights(cfg: Config | Mapping[str, Any]) -> dict[str, float]:
    """The training weight of each kind of evidence (``learning.weights``)."""
    return {k: float(v) for k, v in section(LearningConfig, cfg["learning"]).weights.items()}


def _day(x: Any) -> date | None:
    if x is None:
        return None
    if isinstance(x, datetime):
        return x.date()
    return x


@dataclass
class FeedbackRows:
    positives: list[Release] = field(default_factory=list)
    positive_weights: list[float] = field(default_factory=list)
    negatives: list[Release] = field(default_factory=list)
    negative_weights: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def feedback_rows(rec: Trainable, user: str, owned_ids: set[int], *, before: datetime | None = None,
                  since: datetime | None = None) -> FeedbackRows:
    """Training rows from the user's feedback in [since, before): latest vote per score, one row a release."""
    w = weights(rec.cfg)
    out = FeedbackRows()
    seen: dict[int, tuple[str, float]] = {}
    for fb in rec.store.feedback(user):
        at = fb.updated_at or fb.created_at
        if (before is not None and at >= before) or (since is not None and at < since):
            continue
        kind = fb.kind
        if kind not in POSITIVE_KINDS + NEGATIVE_KINDS:
            continue
        wt = w[kind] * (w["disagreement_boost"] if getattr(fb, "disagreement", False) else 1.0)
        prev = seen.get(fb.release_id)
        # a purchase outranks a vote; otherwise the latest word on a release wins
        if prev and prev[0] in ("bought", "implicit_bought") and kind not in ("bought", "implicit_bought"):
            continue
        seen[fb.release_id] = (kind, wt)
    releases = rec.store.get_releases(list(seen))
    for rid, (kind, wt) in seen.items():
        out.counts[kind] = out.counts.get(kind, 0) + 1
        if rid in owned_ids:
            continue   # already a positive through the collection
        r = releases.get(rid) or rec.catalogue.get(rid)
        if r is None:
            continue
        if kind in POSITIVE_KINDS:
            out.positives.append(r)
            out.positive_weights.append(wt)
        else:
            out.negatives.append(r)
            out.negative_weights.append(wt)
    return out


def cap_positives(positives: list, dates: list, cap: int, seed: int) -> tuple[list, list]:
    """At most ``cap`` training positives (0: no cap): the latest-added half of the cap, then a seeded random
    sample of the rest, in their original order. Owned records left out still count as owned."""
    if cap <= 0 or len(positives) <= cap:
        return positives, dates
    order = sorted(range(len(positives)), key=lambda i: (dates[i] is not None, dates[i] or date.min), reverse=True)
    keep = set(order[:cap // 2])
    rest = [i for i in range(len(positives)) if i not in keep]
    keep.update(random.Random(seed).sample(rest, cap - len(keep)))
    log.info("training on %d of %d records (model.max_train_records)", cap, len(positives))
    idx = sorted(keep)
    return [positives[i] for i in idx], [dates[i] for i in idx]


def build_training_set(rec: Trainable, user: str, *, before: date | None = None,
                       feedback_before: datetime | None = None) -> TrainingSet | None:
    """Collection + wantlist positives (added before ``before``), feedback rows, sampled negatives."""
    mcfg = rec.cfg.model
    w = weights(rec.cfg)
    positives, dates = rec.positives(user, before)
    if len(positives) < mcfg.min_records:
        return None
    owned = {r.id for r in positives}
    positives, dates = cap_positives(positives, dates, mcfg.max_train_records, mcfg.seed)
    fb = feedback_rows(rec, user, owned, before=feedback_before)
    n_neg = negative_count(len(positives) + len(fb.positives), mcfg)
    avoid = positives + fb.positives + fb.negatives
    pool = others_pool(rec.catalogue, avoid)
    sampled = stable_sample(pool, n_neg, mcfg.seed)   # stable across retrains (see stable_sample)
    negatives = fb.negatives + sampled
    wts = ([w["collection"]] * len(positives) + fb.positive_weights + fb.negative_weights
           + [w["sampled_negative"]] * len(sampled))
    ts = TrainingSet(positives, negatives, rec.embed, mcfg, positive_dates=dates,
                     extra_positives=fb.positives, weights=wts, population=list(rec.catalogue.values()),
                     pool_size=len(pool))
    ts.log.extend(f"feedback used: {n}× {k}" for k, n in sorted(fb.counts.items()))
    return ts


@dataclass
class HoldoutScore:
    auc: float | None
    agreement: float | None   # share of held-out 👍/👎 the model agreed with (p ≥ 0.5 for 👍, < 0.5 for 👎)
    n_pos: int
    n_neg: int


@dataclass
class RetrainResult:
    user: str
    accepted: bool
    version: str | None
    champion_version: str | None
    challenger: HoldoutScore | None
    champion: HoldoutScore | None
    reason: str
    seconds: float
    log: list[str] = field(default_factory=list)
    n_positives: int = 0


def _holdout_cut(rec: Trainable, user: str, frac: float,
                 before: date | None = None) -> tuple[date | None, datetime | None]:
    """The day from which the newest ``frac`` of dated events (additions and feedback) are held out."""
    days = [it.date_added for it in rec.store.collection(user)
            if it.date_added and (before is None or it.date_added < before)]
    fbs = [fb.created_at for fb in rec.store.feedback(user) if before is None or fb.created_at.date() < before]
    events = sorted(days + [d.date() for d in fbs])
    if len(events) < 20:
        return None, None
    cut_day = events[int(len(events) * (1 - frac))]
    return cut_day, datetime(cut_day.year, cut_day.month, cut_day.day, tzinfo=timezone.utc)


def _holdout_sets(rec: Trainable, user: str, cut_day: date, cut_at: datetime):
    """Held-out positives (added on/after the cut, plus 👍/bought since), negatives and votes since the cut."""
    owned_all = {it.release.id: it for it in rec.store.collection(user)}
    hold_pos = [rec.resolve_local(i) for i, it in owned_all.items() if it.date_added and it.date_added >= cut_day]
    hold_pos = [r for r in hold_pos if r is not None]
    hold_fb = feedback_rows(rec, user, set(), since=cut_at)
    votes = [(r, True) for r in hold_fb.positives] + [(r, False) for r in hold_fb.negatives]
    hold_pos += [r for r in hold_fb.positives if r.id not in owned_all]
    seed = int(rec.cfg.model.seed)
    avoid = [it.release for it in owned_all.values()] + hold_fb.positives + hold_fb.negatives
    hold_neg = rec.negatives(avoid, max(5 * len(hold_pos), 50), seed + 17) + hold_fb.negatives
    return hold_pos, hold_neg, votes


def auc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of a ROC-AUC (Hanley & McNeil, 1982)."""
    if not n_pos or not n_neg:
        return float("inf")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(max(var, 0.0) ** 0.5)


def score_holdout(scorer, pos: list[Release], neg: list[Release], votes: list[tuple[Release, bool]]) -> HoldoutScore:
    auc = None
    if pos and neg:
        s = scorer.score(pos + neg)
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        auc = float(roc_auc_score(y, s))
    agreement = None
    if votes:
        p = scorer.score([r for r, _ in votes])
        agreement = float(np.mean([(pi >= 0.5) == liked for pi, (_, liked) in zip(p, votes)]))
    return HoldoutScore(auc, agreement, len(pos), len(neg))


def self_split(rec: Trainable, user: str, before: date | None = None,
               progress=None) -> tuple[HoldoutScore | None, dict]:
    """This configuration's own time-split figure on the user's data (see ``retrain``), and its record."""
    say = progress or (lambda msg: None)
    cut_day, cut_at = _holdout_cut(rec, user, float(rec.cfg.learning.holdout_fraction),
                                   before)
    if cut_day is None or cut_at is None:   # both or neither
        return None, {"mode": None, "self_auc": None, "cut": None}
    ts = build_training_set(rec, user, before=cut_day, feedback_before=cut_at)
    if ts is None:
        return None, {"mode": None, "self_auc": None, "cut": str(cut_day)}
    say("checking how well I read your newest records (a trial run without them)…")
    pos, neg, votes = _holdout_sets(rec, user, cut_day, cut_at)
    if before is not None:
        owned_before = {it.release.id for it in rec.store.collection(user)
                        if it.date_added and cut_day <= it.date_added < before}
        pos = [r for r in pos if r.id in owned_before]
    # the figure is about this configuration, not about the artefact: the held-out model (already fitted
    # for calibration) stands in for the final refit, which would cost a third CatBoost fit per training
    ts.config = {**ts.config, "refit_after_calibration": False}
    own = score_holdout(CatBoostScorer().fit(ts).attach(rec.embed), pos, neg, votes)
    return own, {"mode": "time split", "self_auc": own.auc, "self_n_pos": own.n_pos, "self_n_neg": own.n_neg,
                 "self_agreement": own.agreement, "cut": str(cut_day)}


def retrain(rec: Trainable, user: str, progress=None, run_id: str | None = None) -> RetrainResult:
    """Train a new version; it replaces the current one only if it is not worse on held-out data.

    Each version is measured the same way when it is trained — a copy trained without the user's newest
    ``holdout_fraction`` of events (records added, feedback given) scores them (ROC-AUC against a seeded
    sample of other collectors' records and the held-out 👎; agreement with held-out 👍/👎) — and that
    figure is recorded with the version. A challenger replaces the current model (the champion) only if
    its figure is not worse than the champion's recorded one by more than ``tolerance``: like is compared
    with like, and neither is scored on data it was trained on. (Scoring the champion on the challenger's
    hold-out would not be fair: it was trained on most of it.) A champion without a recorded figure is
    replaced.

    Either way the accepted model is then refitted on everything; a rejected one is kept aside (status
    "rejected") with the reason, and the digest says why.
    """
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    lcfg = section(LearningConfig, rec.cfg["learning"])
    tol = lcfg.tolerance
    if hasattr(rec.store, "record_implicit_purchases"):
        rec.store.record_implicit_purchases(user)
        rec.store.record_weak_negatives(user, lcfg.weak_negative_after)
    champion_mv = rec.store.active_model(user)
    champion_version = champion_mv.version if champion_mv else None
    champion_score = None
    challenger_score, own_record = self_split(rec, user, progress=say)
    mode = own_record["mode"]
    if champion_mv is not None and mode == "time split":
        rec_h = champion_mv.metrics_dict.get("holdout") or {}
        if rec_h.get("self_auc") is not None:
            champion_score = HoldoutScore(rec_h["self_auc"], None, int(rec_h.get("self_n_pos") or 0),
                                          int(rec_h.get("self_n_neg") or 0))
    if champion_mv is None:
        accepted, reason = True, "first model"
    elif challenger_score is None or challenger_score.auc is None or champion_score is None \
            or champion_score.auc is None:
        accepted, reason = True, "no comparable hold-out figure for the current model"
    else:
        # "worse" means worse beyond the noise of two small hold-outs (95 %), and by at least ``tolerance``; but
        # a drop of ``clearly_worse`` is refused however small the hold-outs (their noise would excuse anything)
        noise = 1.96 * (auc_se(challenger_score.auc, challenger_score.n_pos, challenger_score.n_neg) ** 2
                        + auc_se(champion_score.auc, champion_score.n_pos, champion_score.n_neg) ** 2) ** 0.5
        margin = max(tol, min(noise, lcfg.clearly_worse))
        if challenger_score.auc + margin >= champion_score.auc:
            accepted, reason = True, (f"hold-out ROC-AUC {challenger_score.auc:.3f} vs current "
                                      f"{champion_score.auc:.3f} (±{margin:.3f}, each on its own {mode}): not worse")
        else:
            accepted, reason = False, (f"hold-out ROC-AUC {challenger_score.auc:.3f} is worse than the current "
                                       f"model's {champion_score.auc:.3f} by more than {margin:.3f}: kept the "
                                       "current model")
    say("training the new model on everything…" if accepted else "keeping the current model…")
    metrics = {"holdout": {**own_record,
                           "challenger": challenger_score.__dict__ if challenger_score else None,
                           "champion": champion_score.__dict__ if champion_score else None},
               "decision": reason}
    if run_id:
        metrics["run"] = run_id
    report = rec.train(user, progress=progress, activate=accepted, status="active" if accepted else "rejected",
                       note=reason, extra_metrics=metrics)
    keep = lcfg.keep_versions
    if hasattr(rec.store, "prune_models"):
        for path in rec.store.prune_models(user, keep):
            Path(path).unlink(missing_ok=True)
    return RetrainResult(user, accepted, report.version, champion_version, challenger_score, champion_score,
                         reason, time.perf_counter() - t0, report.log, report.n_positives)
