"""Plain-text rendering of score cards and summaries, shared by every chat adapter."""
from __future__ import annotations

from core.recommender import ScoreCard

ATTRIBUTION = "Data provided by Discogs."


def percent(p: float) -> str:
    """A probability for people: "42 %", "<1 %" below one per cent, ">99 %" above 99 (never "0 %" or "100 %")."""
    if p < 0.01:
        return "<1 %"
    if p > 0.99:
        return ">99 %"
    return f"{round(p * 100):d} %"


def verdict_line(card: ScoreCard) -> str:
    return f"{card.emoji} {percent(card.probability)} match — {card.verdict}"


def percentile_line(card: ScoreCard) -> str | None:
    """ "a better fit for you than 96 % of records others bought" — what the verdict is read off."""
    if card.percentile is None:
        return None
    share = min(card.percentile, 0.99)
    return f"a better fit for you than {int(share * 100)} % of records other collectors bought"


def render_card(card: ScoreCard) -> str:
    lines = [verdict_line(card), card.release.display, f"({card.score_type})"]
    pct_line = percentile_line(card)
    if pct_line:
        lines.append(pct_line)
    lines += [f"• {r}" for r in card.reasons]
    lines += card.notes
    lines.append("React 👍 / 👎, or say \"bought\". " + ATTRIBUTION)
    return "\n".join(lines)


def market_line(card: ScoreCard) -> str | None:
    """Price and demand in one line ("💶 from 23.50 EUR · 1,234 have / 567 want"), or None when unknown."""
    r = card.release
    bits = []
    if r.lowest_price is not None:
        cur = f" {r.price_currency}" if r.price_currency else ""
        bits.append(f"💶 from {r.lowest_price:,.2f}{cur}")
    if r.have is not None or r.want is not None:
        have = f"{r.have:,}" if r.have is not None else "?"
        want = f"{r.want:,}" if r.want is not None else "?"
        bits.append(f"{have} have / {want} want")
    return " · ".join(bits) or None


def render_chat_card(card: ScoreCard, max_reasons: int = 2) -> str:
    """A compact card for chat bots with buttons: the verdict and score, the record, its top reasons, the notes,
    price and have/want, the attribution. :func:`render_why` holds the rest."""
    lines = [verdict_line(card), card.release.display, f"({card.score_type})"]
    pct_line = percentile_line(card)
    if pct_line:
        lines.append(pct_line)
    lines += [f"• {r}" for r in card.reasons[:max_reasons]]
    lines += card.notes
    market = market_line(card)
    if market:
        lines.append(market)
    lines.append(ATTRIBUTION)
    return "\n".join(lines)


def render_why(card: ScoreCard) -> str:
    """Every reason and note behind a score, and what the number means (the "why" expansion of a chat card)."""
    lines = [f"Why {percent(card.probability)}:"]
    lines += [f"• {r}" for r in card.reasons] or ["• nothing in your collection stands out for this one"]
    lines += card.notes
    if card.model_version:
        lines.append(f"Scored by your personal model (version {card.model_version}), calibrated: of the records "
                     f"scored around {percent(card.probability)}, about that share are ones you'd buy. The verdict "
                     "compares it with records other collectors bought: 🟢 buy beats all but 2 % of them, 🟡 maybe "
                     "all but 8 %.")
    else:
        lines.append("Scored from records similar to yours (no personal model yet).")
    return "\n".join(lines)
