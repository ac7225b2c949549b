"""Watch: tell a collector when a record they want, or would buy, becomes cheap enough — with the buy score.

Discogs' API has no "listings of a release" call, and its web marketplace answers scrapers with bot protection;
what it gives per release, within the rate limit, is ``GET /marketplace/stats/{id}`` (the lowest price in a
currency, how many are for sale, whether the release is barred from sale). The poller (:mod:`core.watch.poller`)
asks it for the collector's watched releases — their wantlist and the records they marked — most promising
first, at a pace that leaves their rate-limit window room for their own look-ups, and keeps a price history per
release. The rules (:mod:`core.watch.rules`) decide when a check is worth an alert: the record is for sale again,
it fell under the collector's maximum, or clearly under its own history; never twice for the same price.
"""
from __future__ import annotations

from core.watch.poller import KEEP_SHARE, PollReport, kept_slots, poll_user
from core.watch.rules import CLEAR_DROP, Alert, judge

__all__ = ["Alert", "CLEAR_DROP", "KEEP_SHARE", "PollReport", "judge", "kept_slots", "poll_user"]
