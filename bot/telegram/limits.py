"""Telegram's length limits, in the unit Telegram counts: UTF-16 code units (an emoji or a rare CJK character is
two of them, so ``len(str)`` under-counts). Every request the bot sends passes :class:`FitToLimits`, which fits
``text`` and ``caption`` before they leave, so no reply is ever refused as "message is too long" (and no progress
message is left standing because its final edit was refused).
"""
from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import BaseRateLimiter

MESSAGE_LIMIT = 4096          # Bot API: sendMessage / editMessageText text
CAPTION_LIMIT = 1024          # Bot API: photo captions
ANSWER_LIMIT = 200            # Bot API: answerCallbackQuery text
ELLIPSIS = "…"


def utf16_len(text: str) -> int:
    """The length Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` within ``limit`` UTF-16 code units, cut with "…" when longer (never through a surrogate pair)."""
    if utf16_len(text) <= limit:
        return text
    units = text.encode("utf-16-le")[: 2 * (limit - 1)]
    cut = units.decode("utf-16-le", errors="ignore")   # a half surrogate pair at the end is dropped
    return cut + ELLIPSIS


#: which field of which request has which limit
_FIELDS = {"caption": CAPTION_LIMIT}


class FitToLimits(BaseRateLimiter):
    """python-telegram-bot's hook on every request (``ApplicationBuilder.rate_limiter``): fits the texts in
    place, then sends. It paces nothing itself: python-telegram-bot retries a 429 after ``retry_after``."""

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                              kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                              rate_limit_args: Any) -> Any:
        text = data.get("text")
        if isinstance(text, str):
            data["text"] = fit(text, ANSWER_LIMIT if endpoint == "answerCallbackQuery" else MESSAGE_LIMIT)
        for key, limit in _FIELDS.items():
            if isinstance(data.get(key), str):
                data[key] = fit(data[key], limit)
        return await callback(*args, **kwargs)
