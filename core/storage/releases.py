"""The shared cache of release records."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import (
    update,
)
from sqlmodel import Session, col, select

from core.domain.release import Release
from core.storage.database import Database
from core.storage.schema import (
    CachedRelease,
    _chunks,
    _dumps,
    utcnow,
)

log = logging.getLogger("core.storage")


class ReleaseCache(Database):
    """The shared cache of release records."""


    @staticmethod
    def _upsert_releases(s: Session, releases: Iterable[Release], source: str) -> int:
        """Insert or merge releases (new values win, existing ones fill the gaps) inside session ``s``."""
        by_id: dict[int, Release] = {}
        for r in releases:
            rid = int(r.id)
            by_id[rid] = by_id[rid].merged_with(r) if rid in by_id else r
        if not by_id:
            return 0
        ids = list(by_id)
        existing: dict[int, CachedRelease] = {}
        for chunk in _chunks(ids):
            for found in s.exec(select(CachedRelease).where(col(CachedRelease.release_id).in_(chunk))):
                existing[found.release_id] = found
        now = utcnow()
        changed = 0
        for rid, rel in by_id.items():
            row = existing.get(rid)
            if row is None:
                s.add(CachedRelease(release_id=rid, data=_dumps(rel.to_dict()), source=source, fetched_at=now))
                changed += 1
                continue
            old = row.release
            merged = rel.merged_with(old)
            if merged.to_dict() != old.to_dict():
                row.data = _dumps(merged.to_dict())
                row.source = source or row.source
                row.fetched_at = now
                s.add(row)
                changed += 1
        log.debug("releases: %d given, %d inserted/updated", len(by_id), changed)
        return len(by_id)

    def cache_releases(self, releases: list[Release], source: str = "") -> int:
        """Upsert releases into the cache (one transaction); returns the number of distinct ids."""
        with self._session() as s, s.begin():
            return self._upsert_releases(s, releases, source)

    def get_release(self, release_id: int) -> Release | None:
        """A cached release, or ``None``."""
        with self._session() as s:
            row = s.get(CachedRelease, int(release_id))
            return row.release if row else None

    def get_releases(self, ids: Iterable[int]) -> dict[int, Release]:
        """Cached releases by id (missing ids are simply absent)."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        out: dict[int, Release] = {}
        with self._session() as s:
            for chunk in _chunks(wanted):
                for row in s.exec(select(CachedRelease).where(col(CachedRelease.release_id).in_(chunk))):
                    out[row.release_id] = row.release
        return out

    def releases_fetched_since(self, since: datetime | None = None) -> list[Release]:
        """Every cached release fetched (or changed) at or after ``since`` (all when ``None``): what the candidate
        catalogue has not seen yet."""
        with self._session() as s:
            q = select(CachedRelease)
            if since is not None:
                q = q.where(col(CachedRelease.fetched_at) >= since)
            return [row.release for row in s.exec(q.order_by(col(CachedRelease.release_id)))]

    def releases_older_than(self, age: timedelta, ids: Iterable[int] | None = None, *,
                            now: datetime | None = None) -> list[int]:
        """Ids of cached releases fetched more than ``age`` ago (among ``ids`` if given), oldest fetch first.

        For a refresh policy: ids that are not cached at all are not returned (they need a first fetch, not a
        refresh). Note that :meth:`cache_releases` keeps ``fetched_at`` when the data did not change; call
        :meth:`touch_releases` after re-fetching from the source so unchanged releases count as fresh.
        """
        if age < timedelta(0):
            raise ValueError("age must not be negative")
        cutoff = (now or utcnow()) - age
        rows: list[tuple[int, datetime]] = []
        with self._session() as s:
            base = (select(col(CachedRelease.release_id), col(CachedRelease.fetched_at))
                    .where(col(CachedRelease.fetched_at) < cutoff))
            if ids is None:
                rows.extend(s.exec(base).all())
            else:
                wanted = list(dict.fromkeys(int(i) for i in ids))
                for chunk in _chunks(wanted):
                    rows.extend(s.exec(base.where(col(CachedRelease.release_id).in_(chunk))).all())
        rows.sort(key=lambda r: (r[1], r[0]))
        return [rid for rid, _ in rows]

    def touch_releases(self, ids: Iterable[int], when: datetime | None = None) -> int:
        """Mark cached releases as fetched at ``when`` (default now), one transaction; returns rows updated."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        stamp = when or utcnow()
        n = 0
        with self._session() as s, s.begin():
            for chunk in _chunks(wanted):
                res = s.exec(update(CachedRelease).where(col(CachedRelease.release_id).in_(chunk))
                             .values(fetched_at=stamp))
                n += res.rowcount or 0
        return n
