"""One polling pass over a collector's watched records: marketplace stats, most promising first, politely."""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.discogs.gateway import PRICE_KEEPS, DiscogsError, DiscogsGateway, NotFound
from core.storage.schema import Watch
from core.storage.watches import Check, Watches
from core.watch.rules import Alert, judge

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    """What a pass did: releases checked, alerts called for, what was left for the next pass and why."""

    checked: int = 0
    alerts: list[Alert] = field(default_factory=list)
    left: int = 0                  # watches not checked this pass (the window had no room, Discogs failed)
    gone: int = 0                  # releases Discogs no longer has
    stopped: str | None = None     # why the pass stopped early


def priority(w: Watch, score: float | None, now: datetime) -> float:
    """How much a check of ``w`` is worth now: a high buy score, a long time since the last check and few
    copies for sale all raise it; a release never checked comes first."""
    if w.checked_at is None:
        return math.inf
    hours = max(0.0, (now - w.checked_at).total_seconds() / 3600)
    return (0.05 + (score or 0.0)) * (1 + hours / 24) / (1 + 0.1 * (w.num_for_sale or 0))


#: the share of the token's rate-limit window a polling pass leaves to the collector's own look-ups
KEEP_SHARE = 0.34


def kept_slots(gateway: DiscogsGateway, share: float = KEEP_SHARE) -> int:
    """Slots of the token's window a pass never takes: a share of its limit (60 a minute with a token, 25
    without), at least :data:`~core.discogs.gateway.PRICE_KEEPS`."""
    limit = gateway.limiter.limit if gateway.limiter is not None else 60
    return max(PRICE_KEEPS, math.ceil(limit * share))


def poll_user(store: Watches, gateway: DiscogsGateway, user: str, currency: str, now: datetime,
              scores: Mapping[int, float] | None = None, *, keep: int | None = None,
              limit: int | None = None) -> PollReport:
    """Check the user's watched releases (not those Discogs deleted), most promising first, while the user's
    rate-limit window has more than ``keep`` slots free (default :func:`kept_slots`: their own look-ups keep
    those, a burst of links pasted at once included); each check is kept
    (the watch, the release's price history) before the next, so a pass stopped anywhere resumes where it
    stopped. ``scores``: the user's buy probability per release, where known. Returns the alerts called for;
    sending them (quiet hours, the daily cap) is the caller's."""
    report = PollReport()
    todo = sorted((w for w in store.watches(user) if not w.gone),
                  key=lambda w: -priority(w, (scores or {}).get(w.release_id), now))
    if limit is not None:
        report.left += max(0, len(todo) - limit)
        todo = todo[:limit]
    for i, w in enumerate(todo):
        if gateway.limiter is not None and not gateway.limiter.has_room(keep=kept_slots(gateway) if keep is None
                                                                         else keep):
            report.left += len(todo) - i
            report.stopped = "the rest of this minute's Discogs requests are kept for your own look-ups"
            break
        try:
            stats = gateway.market_stats(w.release_id, currency)
            check = Check(stats.lowest, stats.currency, stats.num_for_sale, stats.blocked)
        except NotFound:
            check = Check(None, currency.upper(), 0, gone=True)
            report.gone += 1
        except DiscogsError as exc:   # a 429 after the retries, a 5xx, no answer: the next pass resumes here
            report.left += len(todo) - i
            report.stopped = exc.user_message.rstrip(".")
            log.info("watch pass for %s stopped: %s", user, type(exc).__name__)
            break
        assert w.id is not None
        kept = store.record_check(w.id, check, now)
        report.checked += 1
        if kept is None:   # unwatched meanwhile
            continue
        before, history = kept
        alert = judge(user, before, history, check)
        if alert is not None:
            report.alerts.append(alert)
    log.info("watch poll for %s: %d checked, %d alerts, %d left%s", user, report.checked, len(report.alerts),
             report.left, f" ({report.stopped})" if report.stopped else "")
    return report
