"""The verdict a collector reads off a calibrated score, and its colour: one rule for cards, picks and groups."""
from __future__ import annotations

EMOJI = {"buy": "🟢", "maybe": "🟡", "skip": "🔴"}


def verdict_for(p: float, buy: float, maybe: float) -> str:
    """ "buy" at or above ``buy``, "maybe" at or above ``maybe``, else "skip"."""
    return "buy" if p >= buy else "maybe" if p >= maybe else "skip"


def verdict_emoji(verdict: str) -> str:
    return EMOJI.get(verdict, EMOJI["skip"])
