"""Features of a (user, release) pair.

Rows are built against a :class:`~core.model.profile.CollectionProfile`; collection-derived features always leave
out the candidate's own album (leave-one-out for training rows, see core/model/profile.py).
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from core.domain.release import Release
from core.model.profile import CollectionProfile, Neighbour, artist_keys, exclusion_matrix, neighbour_lists

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
    "neg_profile_cos": "on the genre/style profile of what other collectors buy",
    "profile_cos_margin": "nearer other collectors' genre/style profile than yours",
    "neg_style_max_share": "its styles are common among other collectors' records",
    "style_share_margin": "its styles are commoner among other collectors' records than yours",
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
    neighbour_sims: np.ndarray | None = None       # rows × k, nearest owned records first (NaN-padded)
    neighbour_positions: np.ndarray | None = None  # their positions in the profile (-1-padded)

    @cached_property
    def neighbours(self) -> list[list[Neighbour]]:
        """Per row, the nearest owned records (for reasons); built on demand: training never needs them."""
        if self.neighbour_sims is None:
            return [[] for _ in range(len(self.X))]
        if self.neighbour_positions is None:
            raise RuntimeError("FeatureFrame has neighbour_sims but no neighbour_positions")
        return neighbour_lists(self.neighbour_sims, self.neighbour_positions)


def _row_mean(a: np.ndarray) -> np.ndarray:
    """Mean of each row's non-NaN entries; 0 for a row with none (no neighbours: nothing is close)."""
    n = (~np.isnan(a)).sum(axis=1)
    return np.where(n > 0, np.nansum(a, axis=1) / np.maximum(n, 1), 0.0)


def knn_vote(pos_sims: np.ndarray, neg_sims: np.ndarray, n_pos: int, n_neg: int, k: int) -> np.ndarray:
    """Share of the collection's records among the ``k`` nearest of both sides, each side weighted by its size
    (1/n_pos, 1/n_neg) so that an even mix reads 0.5 whatever the sampling ratio; 0.5 with no neighbours."""
    sims = np.concatenate([pos_sims, neg_sims], axis=1)
    side = np.concatenate([np.ones_like(pos_sims), np.zeros_like(neg_sims)], axis=1)
    order = np.argsort(-np.nan_to_num(sims, nan=-np.inf), axis=1, kind="stable")[:, :k]
    top_s = np.take_along_axis(sims, order, axis=1)
    top_c = np.take_along_axis(side, order, axis=1)
    valid = ~np.isnan(top_s)
    wp = ((top_c == 1) & valid).sum(axis=1) / max(n_pos, 1)
    wn = ((top_c == 0) & valid).sum(axis=1) / max(n_neg, 1)
    with np.errstate(all="ignore"):
        return np.where(wp + wn > 0, wp / (wp + wn), 0.5)


def _log1p(v: int | float | None) -> float:
    return math.log1p(v) if v is not None and v >= 0 else float("nan")


def tag_tokens(r: Release) -> list[str]:
    return [f"g:{g}" for g in r.genres] + [f"s:{s}" for s in r.styles]


def tag_vocabulary(releases: list[Release], min_rows: int = 3) -> list[str]:
    """Genre/style tokens carried by at least ``min_rows`` training rows (the model's multi-hot columns)."""
    counts = Counter(t for r in releases for t in set(tag_tokens(r)))
    return sorted(t for t, c in counts.items() if c >= min_rows)


def build_features(profile: CollectionProfile, releases: list[Release], emb: np.ndarray,
                   k: int = 5, folds: list[int | None] | None = None, tags: list[str] | None = None,
                   contrast: CollectionProfile | None = None, vote_k: int = 0,
                   contrast_tags: bool = False) -> FeatureFrame:
    """One row per release; neighbours (owned records, nearest first) kept for reasons.

    ``folds`` (training rows only) names the collection fold each row is described without. ``tags``: genre and
    style tokens that become 0/1 columns (NaN for an untagged release: unknown, not "none"). ``contrast``: the
    training negatives (records other collectors bought) as a profile of their own, folded like the collection:
    how close a candidate comes to *them* is the other side of how close it comes to the collection.
    """
    folds = folds if folds is not None else [None] * len(releases)
    excluded = [profile.excluded(r, f) for r, f in zip(releases, folds)]
    exm = exclusion_matrix(excluded, profile.n)
    n_keep = max(k, 5)
    nb_sims, nb_pos = profile.neighbour_arrays(emb, exm, max(n_keep, vote_k))
    cos = profile.profile_cosine(profile.transform_tokens(releases), exm, folds)
    yd = profile.year_density_batch([r.year for r in releases], exm)
    with np.errstate(all="ignore"):
        knn_max = np.nan_to_num(nb_sims[:, 0], nan=0.0) if len(releases) else np.zeros(0)
        knn_mean = _row_mean(nb_sims[:, :k])
    rows = []
    for i, (r, ex_list, pc, ydens) in enumerate(zip(releases, excluded, cos, yd)):
        ex = set(ex_list)
        n_eff = max(profile.n - len(ex), 1)
        sc = profile.style_counts(r, ex)
        gc = profile.genre_counts(r, ex)
        shares = [c / n_eff for c in sc.values()]
        gshares = [c / n_eff for c in gc.values()]
        have, want = r.have, r.want
        nan = float("nan")
        tagged = bool(r.styles or r.genres)  # untagged means *unknown* (e.g. a CSV export row), not "no style"
        rows.append({
            "knn_max": float(knn_max[i]),
            "knn_mean": float(knn_mean[i]),
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
    blocks = [X]
    if contrast is not None and contrast.n:
        cex = exclusion_matrix([contrast.excluded(r, f) for r, f in zip(releases, folds)], contrast.n)
        c_sims, _ = contrast.neighbour_arrays(emb, cex, max(k, vote_k))
        with np.errstate(all="ignore"):
            neg_max = np.nan_to_num(c_sims[:, 0], nan=0.0)
            side = {"neg_knn_max": neg_max,
                    "neg_knn_mean": _row_mean(c_sims[:, :k]),
                    "knn_margin": knn_max - neg_max}
        if vote_k:
            side["knn_vote"] = knn_vote(nb_sims[:, :vote_k], c_sims[:, :vote_k], profile.n, contrast.n, vote_k)
        if contrast_tags:
            # the same contrast on the tag side: how much of the negatives shares the release's styles, and the
            # TF-IDF profile cosine against them
            c_cos = contrast.profile_cosine(contrast.transform_tokens(releases), cex)
            c_share = np.zeros(len(releases))
            for i, r in enumerate(releases):
                ex = set(cex.indices[cex.indptr[i]:cex.indptr[i + 1]].tolist())
                sc = contrast.style_counts(r, ex)
                c_share[i] = max(sc.values()) / max(contrast.n - len(ex), 1) if sc else np.nan
            own_share = X["style_max_share"].to_numpy(dtype=float)
            side.update({"neg_profile_cos": c_cos, "profile_cos_margin": X["profile_cos"].to_numpy() - c_cos,
                         "neg_style_max_share": c_share, "style_share_margin": own_share - c_share})
        blocks.append(pd.DataFrame(side, index=X.index))
    if tags:
        blocks.append(_tag_columns(releases, tags, X.index))
    if len(blocks) > 1:
        X = pd.concat(blocks, axis=1)
    return FeatureFrame(X, nb_sims[:, :n_keep], nb_pos[:, :n_keep])


def _tag_columns(releases: list[Release], tags: list[str], index: pd.Index) -> pd.DataFrame:
    """0/1 columns for ``tags`` (NaN for an untagged release: unknown, not "none")."""
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
    return pd.DataFrame(M, columns=[f"tag={t}" for t in tags], index=index)


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
