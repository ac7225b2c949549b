"""When a marketplace check of a watched record is worth telling the collector about."""
from __future__ import annotations

from dataclasses import dataclass

from core.storage.schema import PriceHistory, Watch
from core.storage.watches import Check

#: a price this far under the lowest seen before is a clear drop (the alert says by how much)
CLEAR_DROP = 0.15


@dataclass(frozen=True)
class Alert:
    """One alert for a collector: the record, its price now, and why it alerts."""

    user: str
    watch_id: int
    release_id: int
    price: float
    currency: str
    num_for_sale: int
    reason: str          # back | below_max | drop
    why: str             # the sentence the collector reads


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def judge(user: str, before: Watch, history: PriceHistory, check: Check) -> Alert | None:
    """The alert a check calls for, or None. ``before``: the watch as the previous check left it; ``history``:
    the release's prices before this check. An alert needs a price; the price the last alert went out at never
    alerts again (a small change of a cent included)."""
    if check.gone or check.blocked or check.lowest is None or before.id is None:
        return None
    price = check.lowest
    if before.alerted_price is not None and abs(price - before.alerted_price) < 0.01:
        return None
    n = check.num_for_sale
    copies = f"{n} cop{'y' if n == 1 else 'ies'} for sale"

    def alert(reason: str, why: str) -> Alert:
        return Alert(user, before.id or 0, before.release_id, price, check.currency, n, reason, why)

    if before.checked_at is not None and (before.blocked or before.lowest_price is None or not before.num_for_sale):
        return alert("back", f"for sale again: {copies}, from {_money(price, check.currency)}")
    if before.max_price is not None and price <= before.max_price:
        return alert("below_max", f"{_money(price, check.currency)} — within your maximum of "
                                  f"{_money(before.max_price, check.currency)} ({copies})")
    low = history.lowest_price
    if low is not None and history.checks > 0 and price <= low * (1 - CLEAR_DROP):
        pct = round(100 * (1 - price / low))
        return alert("drop", f"{_money(price, check.currency)}, {pct} % under the lowest seen before "
                             f"({_money(low, check.currency)}; {copies})")
    return None
