"""Plain-text rendering of score cards and summaries, shared by every chat adapter."""
from __future__ import annotations

from .recommender import ScoreCard

ATTRIBUTION = "Data provided by Discogs."


def verdict_line(card: ScoreCard) -> str:
    return f"{card.emoji} {card.probability:.0%} match — {card.verdict}"


def render_card(card: ScoreCard) -> str:
    lines = [verdict_line(card), card.release.display, f"({card.score_type})"]
    lines += [f"• {r}" for r in card.reasons]
    lines += card.notes
    lines.append("React 👍 / 👎, or say \"bought\". " + ATTRIBUTION)
    return "\n".join(lines)
