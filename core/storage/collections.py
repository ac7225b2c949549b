"""Each user's collection and wantlist."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session, col, delete, select

from core.domain.release import CollectionItem, Release
from core.storage.releases import ReleaseCache
from core.storage.schema import (
    LIST_NAMES,
    CachedRelease,
    CollectionEntry,
    StagedEntry,
    _chunks,
    _dumps,
    _loads,
    utcnow,
)

log = logging.getLogger("core.storage")


# Only the Discogs sync passes ``discogs=True``: its release descriptions are Discogs' own and go to the shared
# cache. A file a user gives describes its releases for that user only (``CollectionEntry.release_data``),
# whatever its name or source label says.


@dataclass
class _Entry:
    """A collection entry on its way into the database (the fields of :class:`CollectionEntry` but its id)."""

    user_id: int
    release_id: int
    list_name: str
    date_added: date | None
    rating: int | None
    source: str
    price_paid: float | None
    currency: str | None
    created_at: datetime | None
    release_data: str | None


_ENTRY_COLUMNS = tuple(f.name for f in fields(_Entry))
#: what a re-import may change in a surviving entry (``created_at`` stays: when the bot first stored it)
_DATA_COLUMNS = ("date_added", "rating", "source", "price_paid", "currency", "release_data")
#: rows per write transaction: each holds SQLite's write lock for tens of milliseconds
_BATCH = 5000
#: staged rows older than this belong to an import that died; the next import sweeps them
STAGING_TTL = timedelta(hours=6)


class Collections(ReleaseCache):
    """Each user's collection and wantlist."""


    @staticmethod
    def _dedupe(items: Iterable[CollectionItem], list_name: str | None,
                source: str, own_data: bool = False) -> dict[tuple[int, str], _Entry]:
        """Entries keyed by (release id, list); duplicate copies merge (earliest date, first rating/price). Plain
        records, not ORM rows: a 250k-record import builds them in a second, outside the write transaction."""
        out: dict[tuple[int, str], _Entry] = {}
        dupes = 0
        now = utcnow()
        for it in items:
            ln = list_name or it.list_name or "collection"
            if ln not in LIST_NAMES:
                raise ValueError(f"list_name must be one of {LIST_NAMES}, got {ln!r}")
            rid = int(it.release.id)
            e = _Entry(
                user_id=0, release_id=rid, list_name=ln, date_added=it.date_added,
                rating=it.rating or None, source=it.source or source,
                price_paid=it.price_paid, currency=it.currency, created_at=now,
                release_data=_dumps(it.release.to_dict()) if own_data else None,
            )
            prev = out.get((rid, ln))
            if prev is None:
                out[(rid, ln)] = e
                continue
            dupes += 1
            if e.date_added and (prev.date_added is None or e.date_added < prev.date_added):
                prev.date_added = e.date_added
            for f in ("rating", "price_paid", "currency"):
                if getattr(prev, f) is None:
                    setattr(prev, f, getattr(e, f))
        if dupes:
            log.info("merged %d duplicate collection rows (same release, same list)", dupes)
        return out

    def _write_items(self, user_name: str, items: list[CollectionItem], list_name: str | None,
                     source: str, replace: bool, shared: bool = False) -> int:
        entries = self._dedupe(items, list_name, source, own_data=not shared)
        if shared:   # Discogs' own descriptions: shared facts, merged in short transactions of their own
            releases = [it.release for it in items]
            for part in _chunks(releases, _BATCH):
                with self._session() as s, s.begin():
                    self._upsert_releases(s, part, source)
        if replace:
            assert list_name is not None
            self._replace_staged(user_name, entries, list_name)
        else:
            self._upsert_entries(user_name, entries)
        log.info("%s %d %s entries for %s", "replaced" if replace else "upserted", len(entries),
                 list_name or "collection/wantlist", user_name)
        return len(entries)

    def _replace_staged(self, user_name: str, entries: dict[tuple[int, str], _Entry], list_name: str) -> int:
        """Replace the user's ``list_name`` entries atomically without holding the write lock for long: the new
        entries are staged in short transactions, then one transaction moves them in (a diff in SQL: only rows
        that changed are touched). A kill at any point leaves the previous list intact."""
        with self._session() as s, s.begin():
            uid = self._uid(self._ensure_user(s, user_name))
            # a killed import's leftovers (and this user's: one import per user replaces the previous one)
            s.exec(delete(StagedEntry).where(
                (col(StagedEntry.user_id) == uid) | (col(StagedEntry.staged_at) < utcnow() - STAGING_TTL)))
        batch = uuid.uuid4().hex
        table = StagedEntry.__table__  # type: ignore[attr-defined]
        rows = []
        for e in entries.values():
            e.user_id = uid
            rows.append({"batch": batch, **{c: getattr(e, c) for c in _ENTRY_COLUMNS}})
        for part in _chunks(rows, _BATCH):   # each chunk its own short transaction
            with self._session() as s, s.begin():
                s.connection().execute(insert(table), list(part))
        params = {"u": uid, "ln": list_name, "b": batch}
        changed = " OR ".join(f"e.{c} IS DISTINCT FROM g.{c}" for c in _DATA_COLUMNS)  # SQLite ≥ 3.39 and PostgreSQL
        cols = ", ".join(_ENTRY_COLUMNS)
        with self._session() as s, s.begin():
            conn = s.connection()
            conn.execute(text(
                "DELETE FROM collection_entries WHERE user_id = :u AND list_name = :ln AND release_id NOT IN "
                "(SELECT release_id FROM collection_staging WHERE batch = :b)"), params)
            # entries that survive the re-import keep the time the bot first stored them
            conn.execute(text(
                f"UPDATE collection_entries AS e SET {', '.join(f'{c} = g.{c}' for c in _DATA_COLUMNS)} "
                "FROM collection_staging AS g WHERE g.batch = :b AND e.user_id = :u AND e.list_name = :ln "
                f"AND e.release_id = g.release_id AND ({changed})"), params)
            conn.execute(text(
                f"INSERT INTO collection_entries ({cols}) SELECT {cols} FROM collection_staging AS g "
                "WHERE g.batch = :b AND NOT EXISTS (SELECT 1 FROM collection_entries AS e WHERE e.user_id = :u "
                "AND e.list_name = :ln AND e.release_id = g.release_id) ORDER BY g.id"), params)  # file order
        # the staged copy is no longer read: drop it in short transactions, after the switch
        while True:
            with self._session() as s, s.begin():
                gone = s.connection().execute(text(
                    "DELETE FROM collection_staging WHERE id IN (SELECT id FROM collection_staging "
                    "WHERE batch = :b LIMIT :n)"), {"b": batch, "n": _BATCH}).rowcount
            if not gone:
                break
        return len(entries)

    def _upsert_entries(self, user_name: str, entries: dict[tuple[int, str], _Entry]) -> None:
        """Add or update entries, new non-empty values winning; one short transaction per chunk."""
        keys = list(entries)
        for part in _chunks(keys, _BATCH):
            with self._session() as s, s.begin():
                user = self._ensure_user(s, user_name)
                uid = self._uid(user)
                existing: dict[tuple[int, str], CollectionEntry] = {}
                ids = sorted({rid for rid, _ in part})
                for chunk in _chunks(ids):
                    q = select(CollectionEntry).where(col(CollectionEntry.user_id) == uid,
                                                      col(CollectionEntry.release_id).in_(chunk))
                    for found in s.exec(q):
                        existing[(found.release_id, found.list_name)] = found
                new: list[dict[str, Any]] = []
                for key in part:
                    e = entries[key]
                    row = existing.get(key)
                    if row is None:
                        e.user_id = uid
                        new.append({c: getattr(e, c) for c in _ENTRY_COLUMNS})
                        continue
                    for f in ("date_added", "rating", "price_paid", "currency"):
                        v = getattr(e, f)
                        if v is not None:
                            setattr(row, f, v)
                    row.source = e.source or row.source
                    if e.release_data is not None:
                        row.release_data = e.release_data
                    s.add(row)
                if new:
                    s.connection().execute(insert(CollectionEntry.__table__), new)  # type: ignore[attr-defined]

    def replace_collection(self, user_name: str, items: list[CollectionItem], list_name: str = "collection",
                           source: str = "", *, discogs: bool = False) -> int:
        """Atomically replace the user's ``list_name`` entries with ``items``; returns the entries stored.

        Every item is stored under ``list_name``; copies of one release collapse into one entry. Releases are
        upserted into the cache, merged with any richer data already there. ``source`` is the fallback for
        items with no source of their own, and the cache's source label.
        """
        if list_name not in LIST_NAMES:
            raise ValueError(f"list_name must be one of {LIST_NAMES}, got {list_name!r}")
        return self._write_items(user_name, items, list_name, source, replace=True, shared=discogs)

    def add_items(self, user_name: str, items: list[CollectionItem], list_name: str | None = None,
                  source: str = "", *, discogs: bool = False) -> int:
        """Upsert entries without deleting others (``list_name=None``: each item's own list); returns the count.

        Existing entries keep their values where the new item has none.
        """
        if list_name is not None and list_name not in LIST_NAMES:
            raise ValueError(f"list_name must be one of {LIST_NAMES}, got {list_name!r}")
        return self._write_items(user_name, items, list_name, source, replace=False, shared=discogs)

    def collection(self, user_name: str, list_name: str | None = None) -> list[CollectionItem]:
        """The user's entries (one list or both) in insertion order, releases rebuilt from the cache."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = self._entries(user.id, list_name)
            rows = s.exec(q.order_by(col(CollectionEntry.id))).all()
        return self._items(rows)

    @staticmethod
    def _entries(user_id: int | None, list_name: str | None) -> Any:
        """Collection entries of a user (one list or both) with their cached releases."""
        q = (select(CollectionEntry, CachedRelease)
             .join(CachedRelease, col(CachedRelease.release_id) == col(CollectionEntry.release_id), isouter=True)
             .where(col(CollectionEntry.user_id) == user_id))
        return q if list_name is None else q.where(col(CollectionEntry.list_name) == list_name)

    @staticmethod
    def _items(rows: Iterable[tuple[CollectionEntry, CachedRelease | None]]) -> list[CollectionItem]:
        out: list[CollectionItem] = []
        for e, cr in rows:
            own = Release.from_dict(_loads(e.release_data, {})) if e.release_data else None
            if cr is not None:   # what Discogs said wins; the user's own file fills what it lacks
                rel = cr.release.merged_with(own) if own is not None else cr.release
            else:
                rel = own if own is not None else Release(id=e.release_id)
            out.append(CollectionItem(release=rel, date_added=e.date_added, rating=e.rating, source=e.source,
                                      list_name=e.list_name, price_paid=e.price_paid, currency=e.currency))
        return out

    def own_release(self, user_name: str, release_id: int) -> Release | None:
        """The release as the user's own collection or wantlist describes it (cache first), or None."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None
            rows = s.exec(self._entries(user.id, None).where(col(CollectionEntry.release_id) == int(release_id))
                          .limit(1)).all()
        items = self._items(rows)
        return items[0].release if items else None

    def collection_added_since(self, user_name: str, when: datetime,
                               list_name: str | None = "collection") -> list[CollectionItem]:
        """Entries the bot first stored at or after ``when`` (oldest first), e.g. for a digest.

        Based on the entry's ``created_at``, which re-imports keep for unchanged (release, list) pairs; entries
        stored before the column existed have none and are never returned. ``list_name=None``: both lists.
        """
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = self._entries(user.id, list_name).where(col(CollectionEntry.created_at) >= when)
            rows = s.exec(q.order_by(col(CollectionEntry.created_at), col(CollectionEntry.id))).all()
        return self._items(rows)

    def _forget_collections(self, s: Session, uid: int, user_name: str) -> dict[str, int]:
        """Erase the user's collection and wantlist entries (the shared release cache stays)."""
        res = s.exec(delete(CollectionEntry).where(col(CollectionEntry.user_id) == uid))
        s.exec(delete(StagedEntry).where(col(StagedEntry.user_id) == uid))
        return {"collection_entries": int(res.rowcount or 0)}
