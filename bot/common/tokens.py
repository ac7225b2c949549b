"""How a Discogs personal access token looks (40 letters and digits), to take one down wherever it is pasted."""
from __future__ import annotations

import re

#: letters and digits, at least one letter, 32 to 64 long (Discogs makes 40); found inside longer runs too, since
#: taking down a message too many is better than leaving a token up
TOKEN_LIKE = re.compile(r"(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{32,64}")


def find_token(text: str) -> str | None:
    """The first token-like word of ``text``, if any."""
    m = TOKEN_LIKE.search(text or "")
    return m.group(0) if m else None


def is_token(text: str) -> bool:
    """Whether ``text`` is nothing but a token (a private message to take as one)."""
    return TOKEN_LIKE.fullmatch((text or "").strip()) is not None
