"""Linking a Discogs account and syncing its collection and wantlist, politely.

A sync reads the collection (folder 0, newest first) and the wantlist page by page — ``basic_information`` is
enough for features, so 5,000 records cost ~50 requests — and writes nothing until every page arrived, in one
transaction: a sync cut short by Discogs going down leaves the previously imported collection intact.
A re-sync reads newest-first only until it meets what it already has; if the total count then disagrees
(records were removed), it falls back to a full read. Per-release details (have/want, lowest price) are
enriched separately at the rate limit's pace and cached with their fetch time (:class:`Enricher`).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from core.discogs.gateway import DiscogsError, DiscogsGateway
from core.domain.release import CollectionItem
from core.ingest.readers.api_json import items_from_page
from core.storage import Store

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]   # (list name, records read, total)


@dataclass
class SyncReport:
    list_name: str
    total: int
    fetched: int
    added: int
    requests: int
    full: bool
    seconds: float


def _key(it: CollectionItem) -> tuple[int, str]:
    return it.release.id, str(it.date_added or "")


class CollectionSync:
    def __init__(self, gateway: DiscogsGateway, store: Store, per_page: int = 100) -> None:
        self.gw = gateway
        self.store = store
        self.per_page = per_page

    def _page(self, list_name: str, username: str, page: int) -> dict:
        if list_name == "wantlist":
            return self.gw.wantlist_page(username, page, self.per_page)
        return self.gw.collection_page(username, page, self.per_page, order="desc")

    def sync_list(self, user: str, username: str, list_name: str = "collection", full: bool = False,
                  progress: Progress | None = None, state: dict | None = None) -> SyncReport:
        """Read one list and store it. ``state`` (persisted by the caller) remembers Discogs' item count."""
        t0 = time.perf_counter()
        state = state if state is not None else {}
        known_ids = {it.release.id for it in self.store.collection(user, list_name)}
        last_total = (state.get(list_name) or {}).get("items")
        incremental = bool(known_ids) and not full and last_total is not None
        fetched: list[CollectionItem] = []
        requests = 0
        page, pages, total = 1, 1, 0
        stopped_early = False
        while page <= pages:
            data = self._page(list_name, username, page)
            requests += 1
            pag = data.get("pagination") or {}
            pages = int(pag.get("pages") or 1)
            total = int(pag.get("items") or 0)
            items = items_from_page(data, list_name)
            for it in items:
                it.source = "discogs-api"
            fetched += items
            if progress:
                progress(list_name, len(fetched), total)
            if incremental and any(it.release.id in known_ids for it in items):
                stopped_early = True   # newest first: from the first known record on, everything is known
                break
            page += 1
        state[list_name] = {"items": total, "synced_at": datetime.now(timezone.utc).isoformat()}
        if stopped_early and last_total is not None:   # stopping early needs the last total (incremental)
            new = [it for it in fetched if it.release.id not in known_ids]
            if total == int(last_total) + len(new):
                if new:
                    self.store.add_items(user, new, list_name=list_name, source="discogs-api", discogs=True)
                return SyncReport(list_name, total, len(fetched), len({i.release.id for i in new}), requests,
                                  False, time.perf_counter() - t0)
            log.info("sync %s/%s: %d items now, expected %d: records were removed, full re-read",
                     user, list_name, total, int(last_total) + len(new))
            report = self.sync_list(user, username, list_name, full=True, progress=progress, state=state)
            report.requests += requests
            return report
        # a complete read: replace the stored list atomically (all pages arrived, or nothing is written)
        self.store.replace_collection(user, fetched, list_name=list_name, source="discogs-api", discogs=True)
        added = len({it.release.id for it in fetched} - known_ids)
        return SyncReport(list_name, total, len(fetched), added, requests, True, time.perf_counter() - t0)

    def sync(self, user: str, username: str, full: bool = False, progress: Progress | None = None,
             wantlist: bool = True, state: dict | None = None) -> list[SyncReport]:
        state = state if state is not None else {}
        reports = [self.sync_list(user, username, "collection", full, progress, state)]
        if wantlist:
            try:
                reports.append(self.sync_list(user, username, "wantlist", full, progress, state))
            except DiscogsError as exc:   # a private wantlist does not spoil the collection sync
                log.info("wantlist of %s not synced: %s", username, exc)
        return reports

    def sync_linked(self, user: str, full: bool = False, progress: Progress | None = None,
                    now: datetime | None = None) -> list[SyncReport]:
        """Sync the user's linked account from where its stored sync state left off, then store the new state
        (``LookupError`` when the user is not linked)."""
        acct = self.store.linked_account(user)
        if acct is None:
            raise LookupError("not linked")
        state = dict(acct.sync_state_dict)
        reports = self.sync(user, acct.discogs_username, full=full, progress=progress, state=state)
        self.store.set_sync_state(user, state, now or datetime.now(timezone.utc))
        if any(r.list_name == "wantlist" for r in reports):   # the wantlist is watched on the marketplace
            wanted = [it.release.id for it in self.store.collection(user, "wantlist")]
            added, dropped = self.store.sync_wanted(user, wanted, acct.currency or "EUR", now)
            log.info("wantlist watches of %s: %d added, %d dropped", user, added, dropped)
        return reports


@dataclass
class Enricher:
    """Fetch per-release details at the rate limit's pace and keep them no older than ``max_age``."""

    gateway: DiscogsGateway
    store: Store
    max_age: timedelta = timedelta(days=30)
    currency: str | None = None
    stopped: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    failed: int = 0

    def stale(self, ids: list[int]) -> list[int]:
        cached = self.store.get_releases(ids)
        old = set(self.store.releases_older_than(self.max_age, ids))
        return [i for i in ids if i not in cached or i in old or cached[i].have is None]

    def run(self, ids: list[int], progress: Callable[[int, int], None] | None = None) -> int:
        todo = self.stale(ids)
        for n, rid in enumerate(todo, 1):
            if self.stopped.is_set():
                break
            try:
                rel = self.gateway.release(rid)
                if self.currency:
                    price = self.gateway.price(rid, self.currency)
                    if price:
                        rel.lowest_price, rel.price_currency = price
                self.store.cache_releases([rel], source="discogs-api")
                self.store.touch_releases([rid])   # fetched now, even if nothing changed
                self.done += 1
            except DiscogsError as exc:
                self.failed += 1
                log.info("enrich %s: %s", rid, exc)
            if progress:
                progress(n, len(todo))
        return self.done

    def start(self, ids: list[int]) -> threading.Thread:
        t = threading.Thread(target=self.run, args=(ids,), name="discogs-enricher", daemon=True)
        t.start()
        return t
