"""The candidate catalogue (what Discover picks from): a store, its FAISS index and the static embedding."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.catalogue.build import BuildReport, build_from_dump, join_releases
from core.catalogue.index import CatalogueIndex
from core.catalogue.static import StaticEmbedder, static_embedder
from core.catalogue.store import CatalogueStore
from core.config import resolve_path
from core.domain.release import Release

log = logging.getLogger(__name__)

__all__ = ["BuildReport", "Catalogue", "CatalogueIndex", "CatalogueStore", "StaticEmbedder"]


class Catalogue:
    """The store, its index (loaded or rebuilt when stale) and the embedder, for one process."""

    def __init__(self, cfg: Any, db_path: Path | None = None, index_path: Path | None = None,
                 embedder: StaticEmbedder | None = None) -> None:
        self.cfg = cfg.discover
        self.db_path = db_path or resolve_path(self.cfg.catalogue_db)
        self.index_path = index_path or resolve_path(self.cfg.index_file)
        self._embedder = embedder
        self._store: CatalogueStore | None = None
        self._index: CatalogueIndex | None = None
        self._lock = threading.RLock()

    @property
    def store(self) -> CatalogueStore:
        with self._lock:
            if self._store is None:
                self._store = CatalogueStore(self.db_path)
            return self._store

    @property
    def embedder(self) -> StaticEmbedder:
        if self._embedder is None:
            self._embedder = static_embedder()
        return self._embedder

    def build(self, dump: str | Path, genres: Iterable[str] = (), since: int | None = None,
              progress=None, stop_after: int | None = None) -> BuildReport:
        report = build_from_dump(self.store, dump, self.embedder, genres=genres, since=since,
                                 batch=int(self.cfg.batch), progress=progress, stop_after=stop_after)
        if report.done:
            self.rebuild_index(progress)
        return report

    def rebuild_index(self, progress=None) -> CatalogueIndex:
        with self._lock:
            if progress:
                progress(f"indexing {self.store.count():,} releases…")
            gen = self.store.generation
            self._index = CatalogueIndex.build(self.store, int(self.cfg.exact_below), int(self.cfg.nprobe),
                                               refine_factor=int(self.cfg.refine_factor))
            self._index.save(self.index_path)
            self.store.clear_unindexed(gen)
            return self._index

    @property
    def index(self) -> CatalogueIndex:
        """The index for searching now.

        - current (the store's generation): the loaded one, or the saved one plus what joined since it was saved;
        - a newer one saved by another process (a finished `crate catalogue build`): loaded;
        - a big (IVF) index that a build in progress made stale: kept as it is — rebuilding millions inline would
          hold a chat reply for minutes; the build saves the new one when it finishes;
        - none, or a small stale one: rebuilt here (seconds).
        """
        with self._lock:
            gen = self.store.generation
            live = self._index
            if live is not None and live.generation == gen:
                return live
            saved = CatalogueIndex.saved_generation(self.index_path)
            if live is not None and live.kind == "ivfpq" and saved == live.generation:
                return live   # stale, and nothing newer on disk yet
            loaded = CatalogueIndex.load(self.index_path) if saved is not None else None
            if loaded is not None and (loaded.generation == gen or loaded.kind == "ivfpq"):
                late = self.store.unindexed()
                if late:
                    loaded.add(np.array(late, dtype=np.int64), self.store.vectors(late), loaded.generation)
                if loaded.generation != gen:
                    log.info("catalogue index %s is older than the catalogue (a build in progress?): used as "
                             "it is until the build saves a new one", self.index_path)
                self._index = loaded
                return loaded
            return self.rebuild_index()

    def join(self, releases: Iterable[Release], source: str) -> int:
        """Add releases the bot has seen; the index takes the new ones without a rebuild. Returns how many were new."""
        rel = list(releases)
        if not rel:
            return 0
        with self._lock:
            index = self.index   # current (loaded, or built once) before the write, so the new ones are added
            new = join_releases(self.store, rel, self.embedder, source)
            if new:   # (never a rewrite of the index file: `unindexed` tells the next load what to add)
                index.add(np.array(new, dtype=np.int64), self.store.vectors(new), index.generation)
            return len(new)

    def join_seen(self, bundled: dict[int, Release], release_cache: Any) -> int:
        """The bundled catalogue (once) and every release cached since the last join."""
        with self._lock:
            n = 0
            if self.store.meta("joined:bundled") != str(len(bundled)):
                n += self.join(bundled.values(), "bundled")
                self.store.set_meta("joined:bundled", str(len(bundled)))
            last = self.store.meta("joined:cache-at")
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            since = datetime.fromisoformat(last) if last else None
            seen = release_cache.releases_fetched_since(since)
            if seen:
                n += self.join(seen, "seen")
            self.store.set_meta("joined:cache-at", now.isoformat())
            return n

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)
