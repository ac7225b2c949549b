"""Watches: the records a collector watches on the marketplace (marked ones and their wantlist), what the poller
last saw of each, the release's price history (shared), and the alerts sent."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, func, select

from core.storage.database import Database
from core.storage.schema import PriceHistory, User, Watch, WatchAlert, _as_utc, utcnow

#: where a watch comes from: marked by the collector (a card's button, /watch), or their Discogs wantlist
WATCH_SOURCES = ("watch", "wantlist")


@dataclass(frozen=True)
class Check:
    """What one marketplace look at a watched release found (see :meth:`Watches.record_check`)."""

    lowest: float | None
    currency: str
    num_for_sale: int
    blocked: bool = False
    gone: bool = False


class Watches(Database):
    """Per-user watch lists; the price history is per release and currency, shared by everyone watching it."""

    def watch(self, user_name: str, release_id: int, *, max_price: float | None = None, currency: str = "EUR",
              source: str = "watch", now: datetime | None = None) -> Watch:
        """Start watching ``release_id`` (or update the watch: a new maximum, a marked watch over a wanted one).
        A wantlist sync never turns a marked watch back into a wanted one, nor drops its maximum."""
        if source not in WATCH_SOURCES:
            raise ValueError(f"unknown watch source {source!r}")
        with self._session() as s, s.begin():
            uid = self._uid(self._ensure_user(s, user_name))
            row = s.exec(select(Watch).where(col(Watch.user_id) == uid,
                                             col(Watch.release_id) == int(release_id))).first()
            if row is None:
                row = Watch(user_id=uid, release_id=int(release_id), source=source, currency=currency.upper(),
                            max_price=max_price, added_at=_as_utc(now) if now else utcnow())
            elif source == "watch":
                row.source = "watch"
                row.max_price = max_price if max_price is not None else row.max_price
                row.currency = currency.upper()
            s.add(row)
            s.flush()
            s.refresh(row)
            s.expunge(row)
            return row

    def unwatch(self, user_name: str, release_id: int) -> bool:
        """Stop watching; False when it was not watched."""
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            if user is None:
                return False
            res = s.exec(delete(Watch).where(col(Watch.user_id) == self._uid(user),
                                             col(Watch.release_id) == int(release_id)))
            return bool(res.rowcount)

    def watches(self, user_name: str) -> list[Watch]:
        """The user's watches, oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            rows = s.exec(select(Watch).where(col(Watch.user_id) == self._uid(user)).order_by(col(Watch.id))).all()
            for r in rows:
                s.expunge(r)
            return list(rows)

    def sync_wanted(self, user_name: str, release_ids: list[int], currency: str,
                    now: datetime | None = None) -> tuple[int, int]:
        """Make the user's wantlist watches the wantlist ``release_ids``: new wants are watched, wants no longer
        on it stop being watched (marked watches stay). Returns (added, removed)."""
        wanted = {int(r) for r in release_ids}
        with self._session() as s, s.begin():
            uid = self._uid(self._ensure_user(s, user_name))
            have = {w.release_id: w for w in s.exec(select(Watch).where(col(Watch.user_id) == uid)).all()}
            added = 0
            for rid in sorted(wanted - set(have)):
                s.add(Watch(user_id=uid, release_id=rid, source="wantlist", currency=currency.upper(),
                            added_at=_as_utc(now) if now else utcnow()))
                added += 1
            gone = [w for rid, w in have.items() if w.source == "wantlist" and rid not in wanted]
            for w in gone:
                s.delete(w)
            return added, len(gone)

    def record_check(self, watch_id: int, check: Check, now: datetime) -> tuple[Watch, PriceHistory] | None:
        """Keep what a marketplace look found: on the watch, and in the release's price history (before this
        check's price is added to it, the history is what the caller compares with). Returns the watch as it
        was before and the history as it was before; None when the watch is gone (unwatched meanwhile)."""
        now = _as_utc(now)
        with self._session() as s, s.begin():
            row = s.get(Watch, watch_id)
            if row is None:
                return None
            before = Watch.model_validate(row.model_dump())
            hist = s.get(PriceHistory, (row.release_id, check.currency))
            prior = (PriceHistory.model_validate(hist.model_dump()) if hist is not None
                     else PriceHistory(release_id=row.release_id, currency=check.currency, first_at=now, last_at=now))
            row.checked_at, row.lowest_price, row.num_for_sale = now, check.lowest, check.num_for_sale
            row.blocked, row.gone = check.blocked, check.gone
            s.add(row)
            if hist is None:
                hist = PriceHistory(release_id=row.release_id, currency=check.currency, first_price=check.lowest,
                                    first_at=now, last_at=now)
            if check.lowest is not None and (hist.lowest_price is None or check.lowest < hist.lowest_price):
                hist.lowest_price, hist.lowest_at = check.lowest, now
            if hist.first_price is None:
                hist.first_price = check.lowest
            hist.last_price, hist.last_at, hist.checks = check.lowest, now, hist.checks + 1
            s.add(hist)
            return before, prior

    def price_history(self, release_id: int, currency: str) -> PriceHistory | None:
        with self._session() as s:
            row = s.get(PriceHistory, (int(release_id), currency.upper()))
            if row is not None:
                s.expunge(row)
            return row

    def record_alert(self, user_name: str, watch_id: int, price: float | None, currency: str, reason: str,
                     now: datetime) -> None:
        """An alert went out: the watch remembers its price (no repeat alert for it), the log counts it."""
        now = _as_utc(now)
        with self._session() as s, s.begin():
            row = s.get(Watch, watch_id)
            if row is None:
                return
            row.alerted_price, row.alerted_at = price, now
            s.add(row)
            s.add(WatchAlert(user_id=row.user_id, release_id=row.release_id, price=price, currency=currency,
                             reason=reason, sent_at=now))

    def alerts_since(self, user_name: str, since: datetime) -> list[WatchAlert]:
        """The alerts sent to the user since ``since``, oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            rows = s.exec(select(WatchAlert).where(col(WatchAlert.user_id) == self._uid(user),
                                                   col(WatchAlert.sent_at) >= _as_utc(since))
                          .order_by(col(WatchAlert.sent_at))).all()
            for r in rows:
                s.expunge(r)
            return list(rows)

    def users_watching(self) -> list[str]:
        """Names of the users with at least one watch, sorted."""
        with self._session() as s:
            q = (select(User.name).join(Watch, col(Watch.user_id) == col(User.id))
                 .group_by(col(User.name)).having(func.count(col(Watch.id)) > 0).order_by(col(User.name)))
            return list(s.exec(q).all())

    def _forget_watches(self, s: Session, uid: int, user_name: str) -> dict[str, int]:
        a = s.exec(delete(WatchAlert).where(col(WatchAlert.user_id) == uid))
        w = s.exec(delete(Watch).where(col(Watch.user_id) == uid))
        return {"watch_alerts": int(a.rowcount or 0), "watches": int(w.rowcount or 0)}
