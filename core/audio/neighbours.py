""""Sounds like": the record of a collection nearest in sound to another, over the standardised audio vectors
(:data:`core.audio.features.VECTOR_NAMES`), cosine on a FAISS inner-product index of the collection."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.domain.release import Release, album_key


@dataclass
class SoundIndex:
    """One collection's records that have a sound, in a FAISS index."""

    releases: list[Release]
    index: object        # faiss.IndexFlatIP over unit vectors

    @classmethod
    def build(cls, releases: list[Release], vectors: dict[int, np.ndarray]) -> "SoundIndex | None":
        import faiss

        have = [r for r in releases if r.id in vectors]
        if not have:
            return None
        X = np.stack([vectors[r.id] for r in have]).astype(np.float32)
        X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-9)
        idx = faiss.IndexFlatIP(X.shape[1])
        idx.add(X)
        return cls(have, idx)

    def nearest(self, release: Release, vector: np.ndarray, k: int = 5) -> tuple[Release, float] | None:
        """The nearest record of another album than ``release``'s, with its cosine similarity."""
        q = (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(np.float32)[None, :]
        sims, pos = self.index.search(q, min(k, len(self.releases)))   # type: ignore[attr-defined]
        mine = album_key(release)
        for s, p in zip(sims[0], pos[0]):
            if p < 0:
                continue
            other = self.releases[int(p)]
            if other.id != release.id and album_key(other) != mine:
                return other, float(s)
        return None


class SoundIndexes:
    """Each collector's :class:`SoundIndex`, rebuilt when their collection changed or after ``ttl_s`` (new
    sounds arrive from the background enrichment)."""

    def __init__(self, ttl_s: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, tuple[int, int], SoundIndex | None]] = {}
        self._lock = threading.Lock()

    def get(self, user: str, owned: list[Release],
            vectors: Callable[[list[int]], dict[int, np.ndarray]]) -> SoundIndex | None:
        key = (len(owned), sum(r.id for r in owned))
        now = self.clock()
        with self._lock:
            hit = self._cache.get(user)
            if hit is not None and hit[1] == key and now - hit[0] < self.ttl_s:
                return hit[2]
        index = SoundIndex.build(owned, vectors([r.id for r in owned]))
        with self._lock:
            self._cache[user] = (now, key, index)
        return index

    def forget(self, user: str) -> None:
        with self._lock:
            self._cache.pop(user, None)
