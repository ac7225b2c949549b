"""How score cards and group answers look on Discord: embeds (colour by verdict, the cover as thumbnail)."""
from __future__ import annotations

import discord

from core.app import ATTRIBUTION, KIND_LABELS, GroupAnswer, PickPage, ScoreCard
from core.app.cards import chance_line, market_line, percent, verdict_line

from .text import safe

COLOURS = {"buy": discord.Colour.green(), "maybe": discord.Colour.gold(), "skip": discord.Colour.red()}
FIELD_LIMIT, TITLE_LIMIT = 1024, 256


def release_url(release_id: int) -> str:
    return f"https://www.discogs.com/release/{int(release_id)}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def card_embed(card: ScoreCard, *, all_reasons: bool = False, for_name: str | None = None) -> discord.Embed:
    """The card: the verdict and score as title, the record, reasons, price and have/want, Discogs' credit."""
    r = card.release
    title = verdict_line(card) + (f" for {safe(for_name)}" if for_name else "")
    colour = discord.Colour.blurple() if card.owned else COLOURS.get(card.verdict)
    e = discord.Embed(title=_cut(title, TITLE_LIMIT), url=release_url(r.id), colour=colour,
                      description=_cut(f"**{safe(r.display)}**\n({card.score_type})", 4000))
    if r.thumb and r.thumb.startswith(("https://", "http://")):
        e.set_thumbnail(url=r.thumb)
    reasons = card.reasons if all_reasons else card.reasons[:3]
    if reasons:
        e.add_field(name="Why", value=_cut("\n".join(f"• {safe(x)}" for x in reasons),
                                           FIELD_LIMIT), inline=False)
    e.add_field(name="Chance", value=chance_line(card), inline=False)
    market = market_line(card)
    if market:
        e.add_field(name="Price · have / want", value=safe(market), inline=False)
    if card.preview is not None:
        what, url = card.preview
        e.add_field(name="▶ Hear it", value=_cut(f"[{safe(what)}]({url})", FIELD_LIMIT), inline=False)
    if card.notes:
        e.add_field(name="Note", value=_cut(safe("\n".join(card.notes)), FIELD_LIMIT), inline=False)
    e.set_footer(text=ATTRIBUTION.rstrip("."))
    return e


def group_embed(answer: GroupAnswer, *, harmony: bool = False) -> discord.Embed:
    """``/whowants`` (and ``/groupbuy``): every sharing member's score, best first."""
    assert answer.release is not None
    r = answer.release
    e = discord.Embed(title=_cut(f"Who here would buy {safe(r.display)}?", TITLE_LIMIT), url=release_url(r.id),
                      colour=discord.Colour.blurple(),
                      description=_cut("\n".join(safe(m.line) for m in answer.rows)
                                       or "Nobody to rank yet.", 4000))
    if r.thumb and r.thumb.startswith(("https://", "http://")):
        e.set_thumbnail(url=r.thumb)
    if harmony:
        h = answer.harmony
        e.add_field(name="Group harmony", value=answer.harmony_line(), inline=False)
        if h is not None:
            e.add_field(name="Mean", value=percent(h[0])).add_field(name="Lowest", value=percent(h[1]))
    e.set_footer(text=ATTRIBUTION.rstrip("."))
    return e


def picks_embed(page: PickPage) -> discord.Embed:
    """A page of /discover picks: one numbered line each (linked to Discogs), its kind and best reason."""
    picks = page.picks
    words = f" for “{safe(picks.query)}”" if picks.query else ""
    lines = []
    for i, p in enumerate(picks.picks):
        r = p.release
        why = p.best_reason
        line = (f"**{i + 1}.** {p.emoji} {percent(p.probability)} [{safe(r.display)}]"
                f"({release_url(r.id)})\n{KIND_LABELS.get(p.kind, p.kind)}" + (f" · {safe(why)}" if why else ""))
        if p.match:
            line += f"\n{safe(p.match)}"
        lines.append(_cut(line, 390))
    body = "\n".join(lines + [safe(n) for n in picks.notes]) or "Nothing new to pick right now."
    e = discord.Embed(title=_cut(f"✨ Picks for you{words} — page {page.page + 1}", TITLE_LIMIT),
                      colour=discord.Colour.blurple(), description=_cut(body, 4000))
    if picks.picks:
        e.add_field(name="Tell me", value="Tap a number to open that pick as a card: 👍 / 👎 / 🛒 bought.",
                    inline=False)
    e.set_footer(text=ATTRIBUTION.rstrip("."))
    return e
