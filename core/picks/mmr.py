"""Maximal marginal relevance over a ranked shortlist: each next pick trades relevance against its similarity to
the picks already taken, never a second pick by one artist in a page, and labels and styles spread."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float = 0.7,
        artists: Sequence[str] | None = None, labels: Sequence[Sequence[str]] | None = None,
        styles: Sequence[Sequence[str]] | None = None, allowed: np.ndarray | None = None,
        unique_artists: bool = True) -> list[int]:
    """Positions of the ``k`` picks, in order. ``relevance`` is rescaled to 0..1 by rank (so the trade-off means the
    same whatever the scores' spread); ``vectors`` are normalised. A label already taken costs 0.1, and each style
    already taken twice 0.05; ``allowed`` (bool per row) limits which rows may be picked."""
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    order = np.argsort(-relevance, kind="stable")
    rank_rel = np.empty(n)
    rank_rel[order] = 1.0 - np.arange(n) / max(n - 1, 1)
    max_sim = np.full(n, -np.inf)
    taken: list[int] = []
    open_ = np.ones(n, dtype=bool) if allowed is None else allowed.copy()
    seen_artists: set[str] = set()
    label_count: Counter[str] = Counter()
    style_count: Counter[str] = Counter()
    while len(taken) < k and open_.any():
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lam * rank_rel - (1.0 - lam) * penalty
        if labels is not None and label_count:
            value -= 0.1 * np.array([any(label_count[x] for x in ls) for ls in labels])
        if styles is not None and style_count:
            value -= 0.05 * np.array([sum(style_count[x] >= 2 for x in ss) for ss in styles])
        value[~open_] = -np.inf
        i = int(np.argmax(value))
        taken.append(i)
        open_[i] = False
        if artists is not None and unique_artists:
            seen_artists.add(artists[i])
            open_ &= np.array([a not in seen_artists for a in artists])
        if labels is not None:
            label_count.update(labels[i])
        if styles is not None:
            style_count.update(styles[i])
        max_sim = np.maximum(max_sim, vectors @ vectors[i])
    return taken
