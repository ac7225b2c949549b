"""Turn whatever a user pastes in a chat into a Discogs reference, offline (no network).

Understood forms:

* web links to a release or master, with or without the title slug, old style
  (``/Title/release/1``), language prefix (``/de/``, ``/pt_BR/``), ``www.``/``m.``/no subdomain,
  http/https/no scheme, query string, fragment, trailing slash;
* API links (``api.discogs.com/releases/1``, ``/masters/1``, ``/marketplace/listings/1``);
* marketplace item links (``/sell/item/1``, kind ``"listing"``);
* Discogs markup ids ``[r1]``/``[m1]`` and ``r1``/``m1``;
* a bare release id (``249504``).

Ids must be 1 to 10 digits and not 0. The host is checked with :mod:`urllib.parse`: it must be
``discogs.com`` or a subdomain of it (``www.discogs.com.evil.example`` is not).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["DiscogsRef", "NotDiscogsLink", "find_refs", "parse_ref", "parse_ref_strict"]

KINDS = ("release", "master", "listing")
MAX_ID_DIGITS = 10

NOT_DISCOGS_MESSAGE = (
    "That link isn't a Discogs page — paste a Discogs release or master link "
    "(https://www.discogs.com/release/…) or a release id."
)
NO_REF_MESSAGE = (
    "I couldn't find a Discogs record in that — paste a Discogs release or master link "
    "(https://www.discogs.com/release/…) or a release id (like 249504)."
)
WRONG_PAGE_MESSAGE = (
    "That Discogs link isn't a record page (artist, label and other pages can't be checked) — "
    "paste a release or master link (https://www.discogs.com/release/…) or a release id."
)
BAD_ID_MESSAGE = (
    "That doesn't look like a Discogs id — ids are whole numbers of at most 10 digits, "
    "like 249504. Paste the release or master link if you're unsure."
)


@dataclass(frozen=True)
class DiscogsRef:
    """A reference to one Discogs page: a release, a master release or a marketplace listing."""

    kind: str  # "release" | "master" | "listing"
    id: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown Discogs ref kind {self.kind!r}")
        if not isinstance(self.id, int) or self.id <= 0:
            raise ValueError(f"Discogs ids are positive integers, got {self.id!r}")


class NotDiscogsLink(ValueError):
    """The text is a link to another site; ``str(exc)`` is a friendly message for the user."""

    def __init__(self, message: str = NOT_DISCOGS_MESSAGE) -> None:
        super().__init__(message)


# --- pieces ------------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_MARKUP = re.compile(r"\[([rm])(\d+)\]|([rm])(\d+)", re.IGNORECASE)
_BRACKET_MARKUP = re.compile(r"\[[rm]\d+\]", re.IGNORECASE)
# A path segment holding an id, optionally followed by "-Title-Slug".
_ID_SEGMENT = re.compile(r"(\d+)(?:-.*)?")
_LANG = re.compile(r"[a-z]{2}(?:_[a-z]{2})?", re.IGNORECASE)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_DOMAIN_START = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?(?=[/?#]|$)", re.IGNORECASE)
# Chat tokens: [r1]/[m1] markup on its own, else runs without whitespace, brackets, quotes, <>.
_TOKEN = re.compile(r"\[[rm]\d+\]|[^\s<>\[\]()\"'`|]+", re.IGNORECASE)
_LEADING_JUNK = "<(\"'`"
_TRAILING_JUNK = ">)\"'`.,;:!?"
_WEB_KINDS = {"release": "release", "master": "master"}
_API_KINDS = {"releases": "release", "masters": "master"}
# First path segments that are Discogs pages in their own right, never an old-style title slug.
_RESERVED = {"artist", "label", "user", "sell", "seller", "lists", "list", "search", "group",
             "forum", "composition", "buy", "mywantlist", "wantlist", "collection"}


def _make_id(digits: str) -> int | None:
    """Digits -> id, or None for 0 or more than MAX_ID_DIGITS digits."""
    if not digits.isdigit() or len(digits) > MAX_ID_DIGITS:
        return None
    value = int(digits)
    return value if value > 0 else None


def _ref(kind: str, digits: str) -> DiscogsRef | None:
    """A ref of ``kind`` when ``digits`` is a valid id."""
    ident = _make_id(digits)
    return DiscogsRef(kind, ident) if ident is not None else None


def _id_from_segment(segment: str) -> str | None:
    """The id digits at the start of a path segment like ``249504-Rick-Astley-…``."""
    match = _ID_SEGMENT.fullmatch(segment)
    return match.group(1) if match else None


def _clean(token: str) -> str:
    """Strip whitespace and the wrapping/punctuation chat adds around a pasted link or id."""
    token = token.strip()
    previous = None
    while token != previous:
        previous = token
        token = token.lstrip(_LEADING_JUNK).rstrip(_TRAILING_JUNK).strip()
    return token


def _looks_like_url(token: str) -> bool:
    """True for ``scheme://…``, ``www.…``, or ``host.tld/…`` (and bare ``*discogs.com``)."""
    if _SCHEME.match(token) or token.lower().startswith("www."):
        return True
    match = _DOMAIN_START.match(token)
    if not match:
        return False
    host = match.group(0).split(":")[0].lower()
    return len(token) > match.end() or host.endswith("discogs.com")


def _is_discogs_host(host: str | None) -> bool:
    """Exactly ``discogs.com`` or a subdomain of it."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    return host == "discogs.com" or host.endswith(".discogs.com")


def _parse_path(host: str, segments: list[str]) -> DiscogsRef | None:
    """Read a ref from the path segments of a Discogs URL."""
    if host.lower().rstrip(".").startswith("api."):
        if len(segments) >= 2 and segments[0].lower() in _API_KINDS:
            return _ref(_API_KINDS[segments[0].lower()], segments[1])
        if len(segments) >= 3 and [s.lower() for s in segments[:2]] == ["marketplace", "listings"]:
            return _ref("listing", segments[2])
        return None

    if segments and _LANG.fullmatch(segments[0]) and segments[0].lower() not in _WEB_KINDS:
        segments = segments[1:]
    lowered = [s.lower() for s in segments]

    # /sell/item/123, /sell/release/123 (the marketplace page of a release)
    if len(segments) >= 3 and lowered[0] == "sell":
        digits = _id_from_segment(segments[2])
        if digits is None:
            return None
        if lowered[1] == "item":
            return _ref("listing", digits)
        if lowered[1] in _WEB_KINDS:
            return _ref(_WEB_KINDS[lowered[1]], digits)
        return None

    # /release/123-Slug, /master/view/123 (very old), /Title-Slug/release/123 (old style)
    for start in (0, 1):
        if len(segments) < start + 2 or lowered[start] not in _WEB_KINDS:
            continue
        if start == 1 and lowered[0] in _RESERVED:
            return None
        rest = segments[start + 1:]
        if rest[0].lower() == "view" and len(rest) > 1:
            rest = rest[1:]
        digits = _id_from_segment(rest[0])
        return _ref(_WEB_KINDS[lowered[start]], digits) if digits else None
    return None


def _parse_url(token: str) -> tuple[bool, DiscogsRef | None]:
    """Parse a URL-looking token: (is it a Discogs URL, the ref it points at)."""
    candidate = token if _SCHEME.match(token) else "https://" + token
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError:
        return False, None
    if parts.scheme.lower() not in ("http", "https") or not _is_discogs_host(host):
        return False, None
    assert host is not None
    segments = [s for s in parts.path.split("/") if s]
    return True, _parse_path(host, segments)


def _parse_id(token: str) -> DiscogsRef | None:
    """``[r1]``, ``[m1]``, ``r1``, ``m1`` or a bare release id like ``249504``."""
    if _DIGITS.fullmatch(token):
        return _ref("release", token)
    match = _MARKUP.fullmatch(token)
    if not match:
        return None
    letter = (match.group(1) or match.group(3)).lower()
    digits = match.group(2) or match.group(4)
    return _ref("release" if letter == "r" else "master", digits)


def _parse_token(token: str) -> DiscogsRef | None:
    """Parse one cleaned token (no whitespace) as a URL or an id."""
    if not token:
        return None
    if _looks_like_url(token):
        return _parse_url(token)[1]
    return _parse_id(token)


# --- public API --------------------------------------------------------------------------------

def find_refs(text: str) -> list[DiscogsRef]:
    """Every Discogs ref in a chat message, in order of appearance, without duplicates.

    In running text only Discogs links and ``[r1]``/``[m1]`` markup count (a stray "3" or "m2"
    in a sentence is not a ref); a message that is *only* an id (``249504``, ``r1``) counts too.
    """
    if not text:
        return []
    if len(text.split()) == 1:   # one token: a link or an id alone (several links are each read below)
        whole = _parse_token(_clean(text))
        if whole is not None:
            return [whole]
    refs: list[DiscogsRef] = []
    for match in _TOKEN.finditer(text):
        token = _clean(match.group(0))
        if _BRACKET_MARKUP.fullmatch(token):
            ref = _parse_id(token)
        elif _looks_like_url(token):
            ref = _parse_url(token)[1]
        else:
            ref = None
        if ref is not None and ref not in refs:
            refs.append(ref)
    return refs


def parse_ref(text: str) -> DiscogsRef | None:
    """The Discogs ref in what the user pasted, or None.

    The whole text may be a link or an id; failing that, the first ref ``find_refs`` sees in it.
    """
    refs = find_refs(text)
    return refs[0] if refs else None


def parse_ref_strict(text: str) -> DiscogsRef:
    """Like :func:`parse_ref`, but explain failure with a friendly, user-facing message.

    Raises :class:`NotDiscogsLink` for a link to another site, :class:`ValueError` otherwise.
    """
    ref = parse_ref(text)
    if ref is not None:
        return ref
    discogs_link = other_link = bad_id = False
    for match in _TOKEN.finditer(text or ""):
        token = _clean(match.group(0))
        if _looks_like_url(token):
            if _parse_url(token)[0]:
                discogs_link = True
            else:
                other_link = True
        elif _MARKUP.fullmatch(token) or _DIGITS.fullmatch(token) or _BRACKET_MARKUP.fullmatch(token):
            bad_id = True
    if discogs_link:
        raise ValueError(WRONG_PAGE_MESSAGE)
    if other_link:
        raise NotDiscogsLink()
    if bad_id and len((text or "").split()) == 1:
        raise ValueError(BAD_ID_MESSAGE)
    raise ValueError(NO_REF_MESSAGE)
