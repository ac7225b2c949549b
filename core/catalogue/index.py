"""The FAISS index over the catalogue's static embeddings: exact inner product below ``exact_below`` releases, an
IVF-PQ index with a scalar-quantised refinement above (recall@100 against exact search is measured in
benchmarks/bench_catalogue_scale.py). Ids are release ids; new releases are added without a rebuild."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from core.catalogue.store import CatalogueStore

log = logging.getLogger(__name__)


def _faiss():
    import faiss  # noqa: PLC0415 (a few hundred ms: only when an index is needed)

    return faiss


class CatalogueIndex:
    def __init__(self, index, generation: int, kind: str) -> None:
        self.index = index
        self.generation = generation
        self.kind = kind
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, store: CatalogueStore, exact_below: int = 100_000, nprobe: int = 128,
              train_size: int = 100_000, seed: int = 0, refine_factor: int = 32) -> "CatalogueIndex":
        faiss = _faiss()
        n = store.count()
        generation = store.generation
        dim = None
        if n < exact_below:
            index = None
            for ids, vecs in store.iter_vectors():
                if index is None:
                    dim = vecs.shape[1]
                    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
                index.add_with_ids(vecs, ids)
            if index is None:
                index = faiss.IndexIDMap2(faiss.IndexFlatIP(256))
            return cls(index, generation, "exact")
        # train on a seeded sample of the vectors, read in id order (never the whole table in memory)
        rng = np.random.default_rng(seed)
        keep = min(1.0, train_size / n)
        sample = []
        for _, vecs in store.iter_vectors():
            sample.append(vecs[rng.random(len(vecs)) < keep])
        train = np.concatenate(sample)
        dim = train.shape[1]
        nlist = int(min(16384, max(16, min(4 * np.sqrt(n), n / 40))))   # ≥ 40 training points per list
        refine = faiss.index_factory(dim, f"IVF{nlist},PQ{dim // 4}x8,Refine(SQ8)", faiss.METRIC_INNER_PRODUCT)
        log.info("training an IVF%d,PQ%d index on %d of %d vectors", nlist, dim // 4, len(train), n)
        ivf = faiss.downcast_index(faiss.extract_index_ivf(refine))
        ivf.do_polysemous_training = False   # (minutes, and only for Hamming filtering, which is not used)
        ivf.nprobe = nprobe
        refine.train(train)
        faiss.downcast_index(refine).k_factor = refine_factor   # PQ shortlists this many × k, SQ8 re-ranks them
        index = faiss.IndexIDMap2(refine)   # release ids (the refinement stage keeps no ids of its own)
        for ids, vecs in store.iter_vectors():
            index.add_with_ids(vecs, ids)
        return cls(index, generation, "ivfpq")

    def add(self, ids: np.ndarray, vecs: np.ndarray, generation: int) -> None:
        with self._lock:
            self.index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), np.asarray(ids, dtype=np.int64))
            self.generation = generation

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, release ids) per query row; ids -1 where fewer than ``k`` exist."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size or 1))
        return self.index.search(q, k)

    def save(self, path: Path) -> None:
        faiss = _faiss()
        tmp = path.with_suffix(".tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)
        path.with_suffix(".gen").write_text(f"{self.generation} {self.kind}\n")

    @staticmethod
    def saved_generation(path: Path) -> int | None:
        """The generation of the index saved at ``path`` (None: none saved, or unreadable)."""
        try:
            return int(path.with_suffix(".gen").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @classmethod
    def load(cls, path: Path) -> "CatalogueIndex | None":
        if not path.is_file() or not path.with_suffix(".gen").is_file():
            return None
        try:
            gen, kind = path.with_suffix(".gen").read_text().split()
            return cls(_faiss().read_index(str(path)), int(gen), kind)
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("catalogue index %s unreadable (%s): rebuilding", path, exc)
            return None

    def memory_bytes(self) -> int:
        """What the index holds in memory (its serialised size is the same layout)."""
        faiss = _faiss()
        return int(faiss.serialize_index(self.index).size)
