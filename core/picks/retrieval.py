"""Candidate retrieval: several probes near the collection, each searched in the catalogue index.

- the collection's clusters (k-means centroids of what is owned, each probe's share of candidates by its size);
- the latest additions (recent purchases) and the records the collector liked or bought after a card;
- the query's own vector, when there are words.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Probe:
    kind: str            # "cluster" | "recent" | "liked" | "query"
    vector: np.ndarray
    weight: float        # share of the candidate budget


def cluster_centroids(vectors: np.ndarray, max_clusters: int = 12, per_cluster: int = 40,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(normalised centroids, share of records) of a k-means over ``vectors``: one cluster per ``per_cluster``
    records, at most ``max_clusters``."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32), np.zeros(0)
    k = int(min(max_clusters, max(1, n // per_cluster)))
    if k == 1:
        c = vectors.mean(axis=0, keepdims=True)
        return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-9), np.ones(1)
    import faiss  # noqa: PLC0415

    km = faiss.Kmeans(vectors.shape[1], k, niter=20, seed=seed, spherical=True, verbose=False)
    km.train(np.ascontiguousarray(vectors, dtype=np.float32))
    _, assign = km.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
    share = np.bincount(assign[:, 0], minlength=k) / n
    keep = share > 0
    centroids = np.asarray(km.centroids, dtype=np.float32)
    return centroids[keep], share[keep]


def make_probes(owned: np.ndarray, recent: np.ndarray, liked: np.ndarray, query: np.ndarray | None = None,
                max_clusters: int = 12) -> list[Probe]:
    """The probes for one collector; the collection's clusters take most of the budget, recent additions and
    liked records a share each, and a query (when given) half of it."""
    probes: list[Probe] = []
    centroids, share = cluster_centroids(owned, max_clusters)
    parts = {"cluster": 0.6, "recent": 0.2 if len(recent) else 0.0, "liked": 0.2 if len(liked) else 0.0}
    total = sum(parts.values()) or 1.0
    scale = 0.5 if query is not None else 1.0
    for c, s in zip(centroids, share):
        probes.append(Probe("cluster", c, scale * parts["cluster"] / total * float(s)))
    for kind, vecs in (("recent", recent), ("liked", liked)):
        for v in vecs:
            probes.append(Probe(kind, v, scale * parts[kind] / total / len(vecs)))
    if query is not None:
        probes.append(Probe("query", query.reshape(-1), 0.5))
    return probes


def retrieve(search, probes: list[Probe], budget: int, exclude: set[int]) -> dict[int, tuple[float, str]]:
    """Up to about ``budget`` candidates: release id → (best similarity to a probe, that probe's kind). ``search``
    is ``(queries, k) → (sims, ids)`` (the catalogue index); excluded ids are dropped, and each probe asks for its
    share of the budget plus room for what is excluded."""
    if not probes:
        return {}
    out: dict[int, tuple[float, str]] = {}
    by_k: dict[int, list[Probe]] = {}
    for p in probes:
        k = max(10, int(round(budget * p.weight)))
        by_k.setdefault(k + min(len(exclude), k), []).append(p)
    for k, group in by_k.items():
        sims, ids = search(np.stack([p.vector for p in group]).astype(np.float32), k)
        for p, srow, irow in zip(group, sims, ids):
            for s, rid in zip(srow, irow):
                rid = int(rid)
                if rid < 0 or rid in exclude:
                    continue
                if rid not in out or s > out[rid][0]:
                    out[rid] = (float(s), p.kind)
    return out
