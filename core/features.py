"""Features of a (user, release) pair.

Rows are built against a :class:`~core.profile.CollectionProfile`; collection-derived features always leave
out the candidate's own album (leave-one-out for training rows, see core/profile.py).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .profile import CollectionProfile, artist_keys
from .release import Release

log = logging.getLogger(__name__)

CATEGORICAL = ["artist"]   # CatBoost categoricals (ordered target statistics: no row sees its own label)

# Human wording for each feature, used when a feature pulls a score down.
FEATURE_WORDS = {
    "artist": "an artist you have not bought",
    "knn_max": "not much like any single record you own",
    "knn_mean": "far from the bulk of your collection",
    "neg_knn_max": "much like records other collectors buy instead",
    "neg_knn_mean": "much like records other collectors buy instead",
    "knn_margin": "closer to other collectors' records than to yours",
    "knn_vote": "its nearest records are mostly other collectors'",
    "artist_count": "no other records by this artist in your collection",
    "label_count": "a label you rarely buy",
    "style_mean_share": "its styles are a small part of your collection",
    "style_max_share": "none of its styles is one you collect much",
    "style_known_frac": "styles you have not collected yet",
    "genre_max_share": "a genre you rarely buy",
    "profile_cos": "off your usual genre/style/label profile",
    "year_density": "from a period you rarely buy",
    "have_log": "its popularity",
    "want_log": "few people want it",
    "want_have_ratio": "easy to find (low demand)",
    "community_rating": "modest community rating",
    "lowest_price_log": "its price",
    "n_styles": "its style tags",
    "n_formats": "its format",
}


@dataclass
class FeatureFrame:
    X: pd.DataFrame
    neighbours: list[list] = field(default_factory=list)


def _log1p(v: int | float | None) -> float:
    return math.log1p(v) if v is not None and v >= 0 else float("nan")


def tag_tokens(r: Release) -> list[str]:
    return [f"g:{g}" for g in r.genres] + [f"s:{s}" for s in r.styles]


def tag_vocabulary(releases: list[Release], min_rows: int = 3) -> list[str]:
    """Genre/style tokens carried by at least ``min_rows`` training rows (the model's multi-hot columns)."""
    from collections import Counter

    counts = Counter(t for r in releases for t in set(tag_tokens(r)))
    return sorted(t for t, c in counts.items() if c >= min_rows)


def build_features(profile: CollectionProfile, releases: list[Release], emb: np.ndarray,
                   k: int = 5, folds: list[int | None] | None = None, tags: list[str] | None = None,
                   contrast: CollectionProfile | None = None, vote_k: int = 0) -> FeatureFrame:
    """One row per release; neighbours (owned records, nearest first) kept for reasons.

    ``folds`` (training rows only) names the collection fold each row is described without. ``tags``: genre and
    style tokens that become 0/1 columns (NaN for an untagged release: unknown, not "none"). ``contrast``: the
    training negatives (records other collectors bought) as a profile of their own, folded like the collection:
    how close a candidate comes to *them* is the other side of how close it comes to the collection.
    """
    folds = folds if folds is not None else [None] * len(releases)
    excluded = [profile.excluded(r, f) for r, f in zip(releases, folds)]
    nbs = profile.neighbours_batch(emb, excluded, max(k, 5))
    cos = profile.profile_cosine(profile.transform_tokens(releases), excluded, folds)
    yd = profile.year_density_batch([r.year for r in releases], excluded)
    rows = []
    for r, ex_list, nb, pc, ydens in zip(releases, excluded, nbs, cos, yd):
        ex = set(ex_list)
        n_eff = max(profile.n - len(ex), 1)
        sims = [x.similarity for x in nb[:k]]
        sc = profile.style_counts(r, ex)
        gc = profile.genre_counts(r, ex)
        shares = [c / n_eff for c in sc.values()]
        gshares = [c / n_eff for c in gc.values()]
        have, want = r.have, r.want
        nan = float("nan")
        tagged = bool(r.styles or r.genres)  # untagged means *unknown* (e.g. a CSV export row), not "no style"
        rows.append({
            "knn_max": sims[0] if sims else 0.0,
            "knn_mean": float(np.mean(sims)) if sims else 0.0,
            "artist_count": float(profile.artist_count(r, ex)),
            "label_count": profile.label_count(r, ex),
            "style_mean_share": float(np.mean(shares)) if shares else (0.0 if tagged else nan),
            "style_max_share": float(np.max(shares)) if shares else (0.0 if tagged else nan),
            "style_known_frac": float(np.mean([c > 0 for c in sc.values()])) if sc else (0.0 if tagged else nan),
            "genre_max_share": float(np.max(gshares)) if gshares else (0.0 if tagged else nan),
            "profile_cos": float(pc),
            "year_density": float(ydens),
            "n_styles": float(len(r.styles)) if tagged else nan,
            "n_formats": float(len(r.format_descriptions)) if (r.formats or r.format_descriptions) else float("nan"),
            "have_log": _log1p(have),
            "want_log": _log1p(want),
            "want_have_ratio": (want / max(have, 1)) if have is not None and want is not None else float("nan"),
            "community_rating": r.community_rating if r.community_rating is not None else float("nan"),
            "lowest_price_log": _log1p(r.lowest_price),
            "artist": (artist_keys(r) or ["various"])[0],
        })
    X = pd.DataFrame(rows)
    if contrast is not None and contrast.n:
        cex = [contrast.excluded(r, f) for r, f in zip(releases, folds)]
        cnb = contrast.neighbours_batch(emb, cex, max(k, vote_k))
        X["neg_knn_max"] = [nb[0].similarity if nb else 0.0 for nb in cnb]
        X["neg_knn_mean"] = [float(np.mean([x.similarity for x in nb[:k]])) if nb else 0.0 for nb in cnb]
        X["knn_margin"] = X["knn_max"] - X["neg_knn_max"]
        if vote_k:
            # a kNN vote: the share of the collection's records among the vote_k nearest of both sides, each side
            # weighted by its size so that an even mix reads 0.5 whatever the sampling ratio
            pnb = profile.neighbours_batch(emb, excluded, vote_k)
            w_pos, w_neg = 1.0 / max(profile.n, 1), 1.0 / max(contrast.n, 1)
            votes = []
            for a, b in zip(pnb, cnb):
                merged = sorted([(x.similarity, 1) for x in a] + [(x.similarity, 0) for x in b], reverse=True)[:vote_k]
                wp = sum(w_pos for _, c in merged if c)
                wn = sum(w_neg for _, c in merged if not c)
                votes.append(wp / (wp + wn) if merged else 0.5)
            X["knn_vote"] = votes
    if tags:
        col = {t: i for i, t in enumerate(tags)}
        M = np.zeros((len(releases), len(tags)), dtype=np.float32)
        for i, r in enumerate(releases):
            if not (r.styles or r.genres):
                M[i, :] = np.nan
                continue
            for t in tag_tokens(r):
                j = col.get(t)
                if j is not None:
                    M[i, j] = 1.0
        X = pd.concat([X, pd.DataFrame(M, columns=[f"tag={t}" for t in tags], index=X.index)], axis=1)
    return FeatureFrame(X, nbs)


def presence_report(X: pd.DataFrame, y: np.ndarray, max_gap: float) -> tuple[list[str], list[str]]:
    """Split columns into (kept, dropped-with-reason) by how differently present they are per class.

    A column known for nearly every positive but a fraction of the negatives encodes the *source* of a
    record (one collector's rich export vs a thin catalogue), not taste. Constant columns are dropped too.
    """
    kept: list[str] = []
    notes: list[str] = []
    pos, neg = y == 1, y == 0
    for col in X.columns:
        present = X[col].notna().to_numpy()
        p_pos = present[pos].mean() if pos.any() else 0.0
        p_neg = present[neg].mean() if neg.any() else 0.0
        vals = X[col].dropna()
        if vals.nunique() <= 1:
            notes.append(f"left out {col}: no variation ({p_pos:.0%} of positives / {p_neg:.0%} of negatives known)")
            continue
        if abs(p_pos - p_neg) > max_gap:
            notes.append(f"left out {col}: known for {p_pos:.0%} of your records but {p_neg:.0%} of the "
                         f"negatives — it would tell where a record came from, not taste")
            continue
        kept.append(col)
    return kept, notes
