"""Inline keyboards and their callback data (at most 64 bytes each, plain strings)."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.app import BUY_SHARES, CURRENCIES

LIKE, DISLIKE, BOUGHT, WHY, PICK, FORGET, SETTINGS = ("fb:like", "fb:dislike", "fb:bought", "why", "pick", "forget",
                                                      "set")
PICK_CARD, PICK_PAGE = "dp", "dpg"   # a Discover pick opened as a card; a page of picks
ADVENTUROUS = (0, 30, 60, 100)
FEEDBACK_LABELS = {"like": "👍", "dislike": "👎", "bought": "🛒 bought"}

MENU_CURRENCIES = CURRENCIES[:6]


def discogs_url(release_id: int) -> str:
    return f"https://www.discogs.com/release/{release_id}"


#: the 👀 button on a card: watch the record's price (whoever presses it, on their own list)
WATCH = "watch"


def card_keyboard(score_id: int, release_id: int | None = None, *, chosen: frozenset[str] | set[str] = frozenset(),
                  why: bool = True) -> InlineKeyboardMarkup:
    """👍 / 👎 / 🛒 bought, then ℹ️ why, a link to the release and 👀 watch; ``chosen`` kinds get a ✓."""
    row = [InlineKeyboardButton(label + (" ✓" if kind in chosen else ""), callback_data=f"fb:{kind}:{score_id}")
           for kind, label in FEEDBACK_LABELS.items()]
    second = []
    if why:
        second.append(InlineKeyboardButton("ℹ️ why", callback_data=f"{WHY}:{score_id}"))
    if release_id:
        second.append(InlineKeyboardButton("Discogs ↗", url=discogs_url(release_id)))
        second.append(InlineKeyboardButton("👀 watch", callback_data=f"{WATCH}:{release_id}"))
    return InlineKeyboardMarkup([row, second] if second else [row])


def candidates_keyboard(candidates: list, limit: int = 8) -> InlineKeyboardMarkup:
    """One button per candidate pressing (what tells them apart), picking scores it."""
    rows = []
    for c in candidates[:limit]:
        label = c.describe()
        rows.append([InlineKeyboardButton(label if len(label) <= 60 else label[:59] + "…",
                                          callback_data=f"{PICK}:{c.release_id}")])
    return InlineKeyboardMarkup(rows)


def forget_keyboard(tg_user_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("Yes, delete everything", callback_data=f"{FORGET}:yes:{tg_user_id}"),
        InlineKeyboardButton("Cancel", callback_data=f"{FORGET}:no:{tg_user_id}"),
    ]])


def settings_keyboard(buy_pct: int, currency: str, owner: str, adventurous_pct: int | None = None
                      ) -> InlineKeyboardMarkup:
    """The settings buttons; each carries its owner's Telegram id, so nobody else's press counts."""
    buys = [InlineKeyboardButton(f"🟢 top {p}%" + (" ✓" if p == buy_pct else ""),
                                 callback_data=f"{SETTINGS}:buy:{p}:{owner}") for p in BUY_SHARES]
    curs = [InlineKeyboardButton(c + (" ✓" if c == currency else ""), callback_data=f"{SETTINGS}:cur:{c}:{owner}")
            for c in MENU_CURRENCIES]
    rows = [buys, curs[:3], curs[3:]]
    if adventurous_pct is not None:
        rows.append([InlineKeyboardButton(f"🧭 {p}%" + (" ✓" if p == adventurous_pct else ""),
                                          callback_data=f"{SETTINGS}:adv:{p}:{owner}") for p in ADVENTUROUS])
    return InlineKeyboardMarkup(rows)


def picks_keyboard(score_ids: list[int], session: str, page: int, owner: int, more: bool = True
                   ) -> InlineKeyboardMarkup:
    """A page of picks: one number per pick (opens it as a card, with 👍 / 👎 / 🛒), then ◀ and ▶."""
    numbers = [InlineKeyboardButton(str(i + 1), callback_data=f"{PICK_CARD}:{sid}")
               for i, sid in enumerate(score_ids) if sid]
    rows = [numbers[i:i + 5] for i in range(0, len(numbers), 5)]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀ back", callback_data=f"{PICK_PAGE}:{session}:{page - 1}:{owner}"))
    if more:
        nav.append(InlineKeyboardButton("more ▶", callback_data=f"{PICK_PAGE}:{session}:{page + 1}:{owner}"))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def mark_chosen(markup: InlineKeyboardMarkup, kind: str) -> InlineKeyboardMarkup:
    """The card keyboard with ``kind`` ticked: 👍 and 👎 replace each other, 🛒 bought stays ticked once given."""
    rows = []
    for row in markup.inline_keyboard:
        new_row = []
        for b in row:
            data = b.callback_data if isinstance(b.callback_data, str) else ""
            if data.startswith("fb:"):
                k = data.split(":")[1]
                ticked = b.text.endswith(" ✓")
                if k == kind:
                    ticked = True
                elif kind in ("like", "dislike") and k in ("like", "dislike"):
                    ticked = False
                b = InlineKeyboardButton(FEEDBACK_LABELS[k] + (" ✓" if ticked else ""), callback_data=data)
            new_row.append(b)
        rows.append(new_row)
    return InlineKeyboardMarkup(rows)


def without_why(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    if markup is None:
        return None
    rows = [[b for b in row if not (isinstance(b.callback_data, str) and b.callback_data.startswith(f"{WHY}:"))]
            for row in markup.inline_keyboard]
    return InlineKeyboardMarkup([row for row in rows if row])
