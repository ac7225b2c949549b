"""Filling the candidate catalogue: the Discogs monthly dump streamed in batches (resumable), and every release the
bot has seen joined to it."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.catalogue.static import StaticEmbedder
from core.catalogue.store import CatalogueStore
from core.domain.release import Release
from core.ingest.readers.dump_xml import iter_dump_elements

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    read: int          # <release> elements read in this run (after any resumed part)
    stored: int        # releases written in this run
    skipped: int       # elements without an id, or outside --genre / --since
    resumed_from: int  # elements an interrupted run had already stored
    seconds: float
    total: int         # releases in the catalogue afterwards
    done: bool


def _wanted(r: Release, genres: set[str], since: int | None) -> bool:
    if genres and not genres & {g.lower() for g in r.genres}:
        return False
    return not (since is not None and (r.year is None or r.year < since))


def build_key(path: Path, genres: Iterable[str], since: int | None) -> str:
    """The build's identity: the same dump with the same filters resumes; anything else starts afresh."""
    st = path.stat()
    return f"build:{path.name}:{st.st_size}:{','.join(sorted(g.lower() for g in genres))}:{since or ''}"


def build_from_dump(store: CatalogueStore, path: str | Path, embedder: StaticEmbedder, *,
                    genres: Iterable[str] = (), since: int | None = None, batch: int = 5000,
                    progress: Callable[[str], None] | None = None, stop_after: int | None = None) -> BuildReport:
    """Stream ``path`` into ``store``: ``batch`` releases embedded and written per transaction, with the number of
    elements read, so that a rerun after a kill skips what is stored (it re-reads those elements, without
    parsing or embedding them). ``stop_after``: stop (resumably) after this many elements, for tests."""
    path = Path(path)
    genre_set = {g.lower() for g in genres}
    key = build_key(path, genre_set, since)
    if store.meta(key + ":done") == "1":
        return BuildReport(0, 0, 0, int(store.meta(key, "0") or 0), 0.0, store.count(), True)
    start = int(store.meta(key, "0") or 0)
    t0 = time.perf_counter()
    pending: list[Release] = []
    read = stored = skipped = 0
    n = 0

    def flush() -> None:
        nonlocal stored
        if pending:
            stored += store.put(pending, embedder.embed_releases(pending), "dump", progress=(key, n))
            pending.clear()
        else:
            store.set_meta(key, str(n))
        if progress:
            rate = (n - start) / max(time.perf_counter() - t0, 1e-9)
            progress(f"{n:,} releases read, {store.count():,} in the catalogue ({rate:,.0f}/s)")

    for release in iter_dump_elements(path, skip=start):
        if n < start:
            n += 1
            continue
        n += 1
        read += 1
        if release is None or not _wanted(release, genre_set, since):
            skipped += 1
        else:
            pending.append(release)
        if read % batch == 0:
            flush()
        if stop_after is not None and read >= stop_after:
            flush()
            return BuildReport(read, stored, skipped, start, time.perf_counter() - t0, store.count(), False)
    flush()
    store.set_meta(key + ":done", "1")
    return BuildReport(read, stored, skipped, start, time.perf_counter() - t0, store.count(), True)


def join_releases(store: CatalogueStore, releases: Iterable[Release], embedder: StaticEmbedder, source: str,
                  batch: int = 5000) -> list[int]:
    """Add (or fill in) releases the bot has seen; returns the ids that were new to the catalogue."""
    items = list({r.id: r for r in releases}.values())
    known = store.ids() if len(items) > 2000 else set(store.get([r.id for r in items]))
    new = [r.id for r in items if r.id not in known]
    for s in range(0, len(items), batch):
        part = items[s:s + batch]
        store.put(part, embedder.embed_releases(part), source, indexed=True)
    return new
