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


#: how a price is written in each currency Discogs accepts (the symbol where one is unambiguous)
SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "MXN": "MX$",
           "BRL": "R$", "CHF": "CHF ", "SEK": "SEK ", "ZAR": "R"}
WORDS = {"buy": "Buy", "maybe": "Maybe", "skip": "Skip"}


def money(amount: float, currency: str | None) -> str:
    """ "£12.50", "€32.10", "$51.45", "¥4,800"; an unknown currency after the amount ("12.50 XYZ")."""
    cur = (currency or "").upper()
    digits = f"{amount:,.0f}" if cur == "JPY" else f"{amount:,.2f}"
    if cur in SYMBOLS:
        return f"{SYMBOLS[cur]}{digits}"
    return f"{digits} {cur}".rstrip()


def rank(card: ScoreCard) -> float | None:
    """The share of records other collectors bought that suit the collector better than this one (0.02: their
    top 2 %); None without a personal model."""
    return None if card.percentile is None else max(0.0, 1.0 - card.percentile)


def top(share: float) -> str:
    return f"top {max(1, round(share * 100))} %"


def standing(card: ScoreCard, whom: str = "you") -> str:
    """Where the record stands for the collector, in the verdict's own terms: "top 2 % for you" for a buy or a
    maybe, "1 in 12 records other collectors bought suits you better" for a skip (never a skip that sounds
    like a good fit, nor a buy that sounds like a weak one); "a first estimate" without a personal model."""
    r = rank(card)
    if r is None:
        return "a first estimate"
    if card.verdict != "skip":
        return f"{top(r)} for {whom}"
    better = "most records" if r >= 0.5 else f"1 in {max(2, round(1 / max(r, 1e-9)))} records"
    verb = "suit" if r >= 0.5 else "suits"
    return f"{better} other collectors bought {verb} {whom} better"


def verdict_line(card: ScoreCard) -> str:
    """The headline: the verdict and the one figure to act on; an album the collector owns says so first."""
    if card.owned:
        return f"📀 You already own this — {card.owned}"
    return f"{card.emoji} {WORDS.get(card.verdict, card.verdict)} — {standing(card)}"


def chance_line(card: ScoreCard) -> str:
    """ "18 % chance you'd buy it (a typical record: 2 %)"; for an owned album, the same for a second copy."""
    chance = f"{percent(card.probability)} chance you'd buy it"
    if card.owned:
        return f"A second copy? {WORDS.get(card.verdict, card.verdict).lower()} — {standing(card)} ({chance})"
    if card.typical is not None and card.verdict != "skip":
        chance += f" (a typical record: {percent(card.typical)})"
    return chance


def market_line(card: ScoreCard) -> str | None:
    """Price and demand in one line ("🏷️ from €23.50 · 1,234 have / 567 want"), or None when unknown."""
    r = card.release
    bits = []
    if r.lowest_price is not None:
        bits.append(f"🏷️ from {money(r.lowest_price, r.price_currency)}")
    if r.have is not None or r.want is not None:
        have = f"{r.have:,}" if r.have is not None else "?"
        want = f"{r.want:,}" if r.want is not None else "?"
        bits.append(f"{have} have / {want} want")
    return " · ".join(bits) or None


def preview_line(card: ScoreCard) -> str | None:
    """ "▶ Hear it: “Track 2” on Deezer — https://www.deezer.com/track/3135557" (the service's page for the
    track, never the short-lived file), or None when no preview was heard."""
    if card.preview is None:
        return None
    what, url = card.preview
    return f"▶ Hear it: {what} — {url}"


def _body(card: ScoreCard, reasons: list[str]) -> list[str]:
    lines = [verdict_line(card), card.release.display, chance_line(card), f"({card.score_type})"]
    lines += [f"• {r}" for r in reasons]
    lines += card.notes
    market = market_line(card)
    if market:
        lines.append(market)
    hear = preview_line(card)
    if hear:
        lines.append(hear)
    return lines


def render_card(card: ScoreCard) -> str:
    """The whole card (the shell): every reason."""
    return "\n".join(_body(card, card.reasons) + ["React 👍 / 👎, or say \"bought\". " + ATTRIBUTION])


def render_chat_card(card: ScoreCard, max_reasons: int = 2) -> str:
    """A compact card for chat bots with buttons: the headline, the record, its chance, its top reasons, the
    notes, price and have/want, the attribution. :func:`render_why` holds the rest."""
    return "\n".join(_body(card, card.reasons[:max_reasons]) + [ATTRIBUTION])


def render_why(card: ScoreCard) -> str:
    """Every reason and note behind a score, and what the figures mean (the "why" expansion of a chat card)."""
    lines = [f"Why {WORDS.get(card.verdict, card.verdict).lower()}:"]
    lines += [f"• {r}" for r in card.reasons] or ["• nothing in your collection stands out for this one"]
    lines += card.notes
    if card.shares is not None:
        buy, maybe = card.shares
        lines.append(f"How to read it: of the records I give about {percent(card.probability)}, about that many "
                     f"are ones you'd buy. 🟢 buy means it suits you better than {100 - round(buy * 100)} in 100 "
                     f"records other collectors bought, 🟡 maybe better than {100 - round(maybe * 100)} "
                     "(/settings changes it).")
    else:
        lines.append("Scored from records similar to yours: your personal model isn't ready yet.")
    return "\n".join(lines)


def contradictions(card: ScoreCard) -> list[str]:
    """What on the rendered card disagrees with itself or with the collection (empty: none). Checked on every
    card of the verdict benchmark (benchmarks/bench_verdicts.py) and in the tests: the headline's verdict is the
    card's; a 🟢 buy / 🟡 maybe stands inside the share it promises and a 🔴 skip outside it; no skip is worded
    as a good fit nor a buy as a weak one; an owned album leads with it and is never a plain buy; the price is
    said once."""
    out = []
    text = render_chat_card(card)
    head = text.splitlines()[0]
    word = WORDS.get(card.verdict, card.verdict)
    r = rank(card)
    if card.owned:
        if not head.startswith("📀"):
            out.append("owned album not in the headline")
    elif not head.startswith(f"{card.emoji} {word} — "):
        out.append(f"headline {head!r} is not the verdict {card.verdict}")
    if r is not None and card.shares is not None:
        buy, maybe = card.shares
        pct = max(1, round(r * 100))
        if card.verdict == "buy" and pct > round(buy * 100):
            out.append(f"a buy in the top {pct} % (buy promises the top {round(buy * 100)} %)")
        if card.verdict == "maybe" and pct > round(maybe * 100):
            out.append(f"a maybe in the top {pct} %")
        if card.verdict == "skip" and r < maybe - 0.005:
            out.append(f"a skip inside the top {round(maybe * 100)} %")
    if card.verdict == "skip" and ("top " in head or "better fit" in text):
        out.append("a skip worded as a good fit")
    if card.verdict == "buy" and "suit" in head:
        out.append("a buy worded as a weak fit")
    if text.count("🏷️") > 1 or "lowest price" in text:
        out.append("the price twice")
    return out
