"""What every chat adapter does the same way, written once: progress shown by editing one message (throttled),
one long job per collector at a time, a "working on it" sign while a card is computed, and spotting a Discogs
token pasted where it must not be."""
from __future__ import annotations

from bot.common.busy import Busy
from bot.common.progress import Throttled
from bot.common.sync import read_collection
from bot.common.tokens import find_token, is_token
from bot.common.working import while_working

__all__ = ["Busy", "Throttled", "find_token", "is_token", "read_collection", "while_working"]
