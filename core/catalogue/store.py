"""The local candidate catalogue: one row per release (the fields the model needs, the master id, the album key,
a static embedding), in its own SQLite file beside the user database.

It is built from the Discogs monthly dump (:mod:`core.catalogue.build`) and joined by every release the bot has
seen (the bundled catalogue, pasted, synced and enriched ones). Rows are written in batches, each batch in one
short transaction together with the build's progress, so a killed build resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from core.config import private_dir
from core.domain.release import Release, album_key, norm_text

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY,
    master_id INTEGER,
    album TEXT NOT NULL,
    artist TEXT NOT NULL,
    year INTEGER,
    source TEXT NOT NULL,
    data TEXT NOT NULL,
    emb BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS releases_master ON releases(master_id);
CREATE INDEX IF NOT EXISTS releases_album ON releases(album);
CREATE TABLE IF NOT EXISTS unindexed (id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS release_tags (tag TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (tag, id))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _compact(r: Release) -> str:
    """The release as JSON without empty fields (a dump row is ~40 % empty fields) and without the cover."""
    d = {k: v for k, v in r.to_dict().items() if v not in (None, "", []) and k != "thumb"}
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


class CatalogueStore:
    """Candidate releases and their embeddings. One connection per thread; writes are short transactions."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._private()
        with self._conn() as c:
            c.executescript(SCHEMA)

    def _private(self) -> None:
        """The file 0600 in a 0700 folder, like the user database (it holds which releases a user pasted)."""
        if not self.path.parent.exists():
            private_dir(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        elif stat.S_IMODE(self.path.stat().st_mode) & 0o077:
            self.path.chmod(0o600)

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = c
        return c

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    # -- writing ------------------------------------------------------------------------------------
    def put(self, releases: list[Release], vectors: np.ndarray, source: str,
            progress: tuple[str, int] | None = None, *, indexed: bool = False) -> int:
        """Upsert ``releases`` with their vectors in one transaction (an existing row's fields fill the gaps of
        the new one); ``progress`` (key, elements read) is stored in the same transaction, for resuming.

        A bulk write (a dump build, ``indexed=False``) bumps the generation: the saved index is stale and is
        rebuilt. A release the bot has seen (``indexed=True``) is added to the live index instead and listed in
        ``unindexed`` until the next rebuild, so that an index loaded from disk takes it too."""
        if len(releases) != len(vectors):
            raise ValueError("one vector per release")
        c = self._conn()
        with c:
            existing = self.get([r.id for r in releases])
            rows = []
            for r, v in zip(releases, vectors):
                old = existing.get(r.id)
                if old is not None:
                    r = r.merged_with(old)
                rows.append((int(r.id), r.master_id, album_key(r), norm_text(r.artist), r.year, source,
                             _compact(r), np.asarray(v, dtype=np.float16).tobytes()))
            c.executemany("INSERT OR REPLACE INTO releases VALUES (?,?,?,?,?,?,?,?)", rows)
            tags = [(t, int(r.id)) for r in releases for t in dict.fromkeys([*r.styles, *r.genres])]
            c.executemany("INSERT OR IGNORE INTO release_tags VALUES (?, ?)", tags)
            if progress is not None:
                c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (progress[0], str(progress[1])))
            if indexed:
                c.executemany("INSERT OR IGNORE INTO unindexed VALUES (?)", [(int(r.id),) for r in releases
                                                                             if r.id not in existing])
            else:
                c.execute("INSERT OR REPLACE INTO meta VALUES ('generation', "
                          "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key='generation'), 0) + 1)")
        return len(rows)

    def unindexed(self) -> list[int]:
        """Releases joined since the index was last built (the saved index lacks them)."""
        return [int(r[0]) for r in self._conn().execute("SELECT id FROM unindexed ORDER BY id")]

    def clear_unindexed(self, up_to_generation: int) -> None:
        """After a rebuild at ``up_to_generation`` (which read every row): nothing is unindexed any more."""
        with self._conn() as c:
            if self.generation == up_to_generation:
                c.execute("DELETE FROM unindexed")

    def set_meta(self, key: str, value: str) -> None:
        with self._conn() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    # -- reading ------------------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM releases").fetchone()[0])

    @property
    def generation(self) -> int:
        """Bumped by every write: an index built at another generation is stale."""
        return int(self.meta("generation", "0") or 0)

    def ids(self) -> set[int]:
        return {int(r[0]) for r in self._conn().execute("SELECT id FROM releases")}

    def get(self, ids: Iterable[int]) -> dict[int, Release]:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, Release] = {}
        c = self._conn()
        for s in range(0, len(wanted), 900):
            part = wanted[s:s + 900]
            q = f"SELECT id, data FROM releases WHERE id IN ({','.join('?' * len(part))})"
            for rid, data in c.execute(q, part):
                out[int(rid)] = Release.from_dict(json.loads(data))
        return out

    def brief(self, ids: Iterable[int]) -> dict[int, tuple[str, int | None]]:
        """(album key, master id) by release id, without reading the records (cheap for thousands)."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, tuple[str, int | None]] = {}
        c = self._conn()
        for s in range(0, len(wanted), 900):
            part = wanted[s:s + 900]
            q = f"SELECT id, album, master_id FROM releases WHERE id IN ({','.join('?' * len(part))})"
            for rid, album, master in c.execute(q, part):
                out[int(rid)] = (album, master)
        return out

    def vectors(self, ids: list[int]) -> np.ndarray:
        """The stored vectors of ``ids`` (in that order; zeros for an unknown id)."""
        found: dict[int, np.ndarray] = {}
        c = self._conn()
        for s in range(0, len(ids), 900):
            part = [int(i) for i in ids[s:s + 900]]
            q = f"SELECT id, emb FROM releases WHERE id IN ({','.join('?' * len(part))})"
            for rid, emb in c.execute(q, part):
                found[int(rid)] = np.frombuffer(emb, dtype=np.float16)
        dim = next(iter(found.values())).shape[0] if found else 0
        out = np.zeros((len(ids), dim), dtype=np.float32)
        for i, rid in enumerate(ids):
            if rid in found:
                out[i] = found[rid]
        return out

    def iter_vectors(self, batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in id order, ``batch`` rows at a time: an index is built without the whole table."""
        last = -1
        c = self._conn()
        while True:
            rows = c.execute("SELECT id, emb FROM releases WHERE id > ? ORDER BY id LIMIT ?", (last, batch)).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
            yield ids, vecs.astype(np.float32)
            last = int(ids[-1])

    def other_pressings(self, master_ids: Iterable[int], albums: Iterable[str]) -> set[int]:
        """Ids of every release of these masters or album keys (other pressings of what a collector owns)."""
        out: set[int] = set()
        c = self._conn()
        for col, values in (("master_id", [int(m) for m in master_ids if m]), ("album", list(albums))):
            for s in range(0, len(values), 900):
                part = values[s:s + 900]
                q = f"SELECT id FROM releases WHERE {col} IN ({','.join('?' * len(part))})"
                out.update(int(r[0]) for r in c.execute(q, part))
        return out

    def tagged(self, tags: Iterable[str], limit: int = 20_000) -> list[int]:
        """Ids of releases carrying any of these styles or genres (canonical names), at most ``limit``."""
        wanted = list(dict.fromkeys(tags))
        if not wanted:
            return []
        q = f"SELECT DISTINCT id FROM release_tags WHERE tag IN ({','.join('?' * len(wanted))}) LIMIT ?"
        return [int(r[0]) for r in self._conn().execute(q, [*wanted, limit])]

    def tagged_among(self, tags: Iterable[str], ids: Iterable[int]) -> set[int]:
        """Which of ``ids`` carry any of these styles or genres."""
        wanted, pool = list(dict.fromkeys(tags)), list(dict.fromkeys(int(i) for i in ids))
        out: set[int] = set()
        if not wanted:
            return out
        c = self._conn()
        marks = ",".join("?" * len(wanted))
        for s in range(0, len(pool), 900):
            part = pool[s:s + 900]
            q = f"SELECT DISTINCT id FROM release_tags WHERE tag IN ({marks}) AND id IN ({','.join('?' * len(part))})"
            out.update(int(r[0]) for r in c.execute(q, [*wanted, *part]))
        return out

    def sample_ids(self, n: int, rng) -> list[int]:
        """About ``n`` random release ids (``rng``: a ``random.Random``), each found by an indexed seek."""
        c = self._conn()
        lo, hi = c.execute("SELECT MIN(id), MAX(id) FROM releases").fetchone()
        if lo is None:
            return []
        out: set[int] = set()
        for _ in range(n):
            row = c.execute("SELECT id FROM releases WHERE id >= ? ORDER BY id LIMIT 1",
                            (rng.randint(lo, hi),)).fetchone()
            if row:
                out.add(int(row[0]))
        return sorted(out)

    def by_artist(self, artist: str, limit: int = 200) -> list[int]:
        rows = self._conn().execute("SELECT id FROM releases WHERE artist=? LIMIT ?", (norm_text(artist), limit))
        return [int(r[0]) for r in rows]

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
