"""The one normalised release record every reader produces, and a user's collection item."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Iterable, Mapping

#: the longest text one field keeps, and the most values one list keeps: Discogs' own data stays far below them; a
#: file's 120 kB "artist" is cut here, before it can reach a database row or a chat message
MAX_TEXT = 300
MAX_VALUES = 40
#: control characters and the direction overrides that could disguise a name in a chat message
_HIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202d\u202e]")
#: a spreadsheet formula ("=HYPERLINK(...)") pasted into a cell: kept as text, never as something to evaluate
_FORMULA = re.compile(r"^[=+@]+(?=[A-Za-z_]+\()")
_SCHEME = re.compile(r"^[A-Za-z][\w+.-]*:")
_LIST_FIELDS = ("artists", "labels", "catnos", "formats", "format_descriptions", "genres", "styles", "barcodes")


def bounded_text(value: str, limit: int = MAX_TEXT) -> str:
    """``value`` without hidden characters or a leading formula sign, cut to ``limit`` characters (with …)."""
    if _HIDDEN.search(value):
        value = _HIDDEN.sub("", value)
    if value[:1] in "=+@" and _FORMULA.match(value):
        value = _FORMULA.sub("", value)
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


@dataclass
class Release:
    """A Discogs release, normalised from any source.

    Optional fields are ``None`` (or empty lists) when the source does not carry them; never guessed.
    """

    id: int
    title: str = ""
    artists: list[str] = field(default_factory=list)
    year: int | None = None
    master_id: int | None = None
    labels: list[str] = field(default_factory=list)
    catnos: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)          # e.g. ["Vinyl"]
    format_descriptions: list[str] = field(default_factory=list)  # e.g. ["LP", "Album"]
    country: str | None = None
    genres: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    have: int | None = None
    want: int | None = None
    community_rating: float | None = None
    lowest_price: float | None = None
    price_currency: str | None = None
    barcodes: list[str] = field(default_factory=list)
    thumb: str | None = None

    def __post_init__(self) -> None:
        """Every text bounded and cleaned (see :func:`bounded_text`), whatever the source."""
        if isinstance(self.title, str):
            self.title = bounded_text(self.title)
        for name in _LIST_FIELDS:
            values = getattr(self, name)
            if len(values) > MAX_VALUES or any(isinstance(v, str) and (len(v) > MAX_TEXT or _HIDDEN.search(v)
                                                                       or v[:1] in "=+@") for v in values):
                setattr(self, name, [bounded_text(v) if isinstance(v, str) else v for v in values[:MAX_VALUES]])
        for name in ("country", "price_currency"):
            v = getattr(self, name)
            if isinstance(v, str) and (len(v) > 60 or _HIDDEN.search(v)):
                setattr(self, name, bounded_text(v, 60))
        if isinstance(self.thumb, str) and (len(self.thumb) > 1000 or _SCHEME.match(self.thumb)
                                            and not self.thumb.startswith(("https://", "http://"))):
            self.thumb = None   # a cover is a web address (or a path on the API's host), nothing else

    @property
    def artist(self) -> str:
        return ", ".join(self.artists) if self.artists else "Unknown Artist"

    @property
    def display(self) -> str:
        y = f" ({self.year})" if self.year else ""
        return f"{self.artist} – {self.title}{y}"

    def to_dict(self) -> dict[str, Any]:
        """Every field, lists copied (the fields are flat: this is ``asdict`` without its slow deep copy)."""
        return {f: (list(v) if isinstance(v, list) else v) for f in self.__dataclass_fields__
                for v in (getattr(self, f),)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Release":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def merged_with(self, other: "Release") -> "Release":
        """Fill this record's missing fields from ``other`` (same release id)."""
        out = self.to_dict()
        for k, v in other.to_dict().items():
            if out.get(k) in (None, "", []) and v not in (None, "", []):
                out[k] = v
        return Release.from_dict(out)


@dataclass
class CollectionItem:
    """One row of a user's collection or wantlist."""

    release: Release
    date_added: date | None = None
    rating: int | None = None          # 1..5, None when unrated
    source: str = ""                   # e.g. "csv", "api-page", "lanebecker-json"
    list_name: str = "collection"      # "collection" or "wantlist"
    price_paid: float | None = None
    currency: str | None = None


@dataclass
class ImportResult:
    """What a reader produced, and what it skipped (with reasons)."""

    items: list[CollectionItem] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row locator, reason)
    source: str = ""
    unresolved: list[dict[str, Any]] = field(default_factory=list)  # e.g. master-only refs to resolve later
    count: int = -1           # records read, where ``items`` was not carried along (an import in a worker process)
    skipped_count: int = -1   # rows skipped, where ``skipped`` holds only the first of them

    @property
    def n_items(self) -> int:
        return self.count if self.count >= 0 else len(self.items)

    @property
    def n_skipped(self) -> int:
        return self.skipped_count if self.skipped_count >= 0 else len(self.skipped)

    def summary(self) -> str:
        lines = [f"imported {self.n_items} records from {self.source or 'file'}"]
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, why in self.skipped:
                reasons[why] = reasons.get(why, 0) + 1
            lines.append(f"skipped {self.n_skipped}: " + "; ".join(f"{n}× {r}" for r, n in sorted(reasons.items())))
        return "\n".join(lines)


_ws = re.compile(r"\s+")
_paren = re.compile(r"\s*\(\d+\)$")  # Discogs disambiguation suffix: "Nirvana (2)"


@lru_cache(maxsize=200_000)
def norm_text(s: str) -> str:
    """Lower-case, accent-folded, whitespace-collapsed text for matching names (memoised: names repeat)."""
    s = unicodedata.normalize("NFKD", s or "")
    s = "".join(c for c in s if not unicodedata.combining(c))
    return _ws.sub(" ", s).strip().lower()


def clean_artist(name: str) -> str:
    """Drop Discogs' "(2)" disambiguation suffix and a trailing '*' (ANV marker)."""
    name = (name or "").strip().rstrip("*").strip()
    return _paren.sub("", name)


def album_key(r: Release) -> str:
    """Normalised artist+title: another pressing of the same album shares this key."""
    return norm_text(r.artist) + " | " + norm_text(r.title)


def id_hash(seed: int | str, release_id: int) -> int:
    """A seeded hash of a release id: a draw that depends on the release, never on its position in a list."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(f"{seed}:{release_id}".encode(), digest_size=8).digest(), "big")


def stable_sample(pool: Iterable[Release], n: int, seed: int) -> list[Release]:
    """``n`` releases of ``pool`` chosen by a seeded hash of each release's id, not by position: the same release
    is chosen whatever else the pool holds, so a retrain after a few 👎 (which leave the pool) or a few new
    records re-draws almost none of its records others bought — and moves nothing the feedback was not about."""
    return sorted(pool, key=lambda r: id_hash(seed, r.id))[:max(0, n)]


def others_pool(catalogue: Mapping[int, Release], owned: Iterable[Release]) -> list[Release]:
    """Catalogue releases that are not the user's: not owned or wanted, and not another pressing of an album
    they have (same master, or same normalised artist + title). In release-id order, for seeded sampling."""
    owned = list(owned)
    ids = {r.id for r in owned}
    masters = {r.master_id for r in owned if r.master_id}
    albums = {album_key(r) for r in owned}
    return [r for rid, r in sorted(catalogue.items()) if rid not in ids
            and not (r.master_id and r.master_id in masters) and album_key(r) not in albums]

