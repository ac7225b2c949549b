"""Text shown on Discord as itself. Titles, artists, labels, file and member names come from users (an imported
file can call a record anything), so every such string is escaped before it reaches a message or an embed: all of
Discord's markdown — bold, masked links, spoilers, headings, quotes, code — and mentions. discord.py's
``escape_markdown`` leaves links alone by default and, from a URL on, the rest of the text too; here nothing is
left alone."""
from __future__ import annotations

import re

import discord

#: characters Discord's markdown gives a meaning anywhere in a line (a backslash shows them as themselves; with
#: "[" and "]" escaped no masked link can form, so parentheses may stay as they are)
_ANYWHERE = re.compile(r"([\\*_~|`\[\]])")
#: …and at the start of a line: headings, subtext, quotes, lists
_LINE_START = re.compile(r"(?m)^(\s*)(#|-#|>|-|\+|\d+\.)(?=\s)")


def safe(text: str) -> str:
    """``text`` escaped for Discord: it shows exactly as written and pings nobody."""
    out = _ANYWHERE.sub(r"\\\1", text)
    out = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), out)
    out = out.replace("<", "<\u200b")   # <@id>, <#channel>, <t:…> and <:emoji:…> stay text
    return discord.utils.escape_mentions(out)


def fit(text: str, limit: int = 2000) -> str:
    """Within Discord's limit (a message's content: 2,000 characters)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def say(text: str) -> str:
    """A text of core's as a Discord message: escaped (it may name anything a user imported), within the length
    limit."""
    return fit(safe(text))
