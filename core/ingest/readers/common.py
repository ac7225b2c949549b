"""Small parsing helpers shared by the readers (dates, numbers, format strings, URLs)."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any, Iterable

_NA = frozenset({"", "na", "nan", "none", "null", "n/a", "nat"})

_iso_date = re.compile(r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:$|[\sT])")
_short_date = re.compile(r"^\s*(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})(?:$|[\sT,])")
_year = re.compile(r"^\s*(\d{4})")
_int = re.compile(r"^\s*[+]?(\d+)(?:\.0*)?\s*$")
_url_id = re.compile(r"/(release|master)s?/(\d+)(?:[-/?#]|$)")


def blank(value: Any) -> bool:
    """True for ``None`` and the usual spellings of a missing cell ("", "NA", "nan", ...)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in _NA)


def text(value: Any) -> str:
    """A stripped string; ``""`` for missing values."""
    return "" if blank(value) else str(value).strip()


def dedupe(values: Iterable[str]) -> list[str]:
    """Non-empty values, duplicates removed, order kept."""
    out: list[str] = []
    for v in values:
        if v and v not in out:
            out.append(v)
    return out


def parse_int(value: Any) -> int | None:
    """An integer from 42, "42", "42.0"; ``None`` otherwise (floats with a fraction included)."""
    if isinstance(value, bool) or blank(value):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    m = _int.match(str(value))
    return int(m.group(1)) if m else None


def parse_id(value: Any) -> int | None:
    """A positive Discogs id, or ``None``."""
    n = parse_int(value)
    return n if n is not None and n > 0 else None


def parse_float(value: Any) -> float | None:
    """A float from a number or numeric string ("12.5", "12,50"); ``None`` otherwise."""
    if isinstance(value, bool) or blank(value):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if "," in s and "." not in s:
        s = s.replace(",", ".")
    else:
        s = s.replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def parse_rating(value: Any) -> int | None:
    """A 1..5 user rating; 0 and anything else → ``None``."""
    n = parse_int(value)
    return n if n is not None and 1 <= n <= 5 else None


def parse_year(value: Any) -> int | None:
    """A release year from 1999, "1999", "1999-03-00"; 0 / "Unknown" → ``None``."""
    if isinstance(value, bool) or blank(value):
        return None
    if isinstance(value, int):
        return value if 1000 <= value <= 2999 else None
    m = _year.match(str(value))
    if not m:
        return None
    y = int(m.group(1))
    return y if 1000 <= y <= 2999 else None


def _make_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _full_year(y: str) -> int:
    n = int(y)
    if len(y) == 4:
        return n
    return 2000 + n if n < 70 else 1900 + n


def date_order(values: Iterable[Any]) -> str:
    """Guess ``"dmy"`` or ``"mdy"`` for a column of short dates (day-first unless a value proves otherwise)."""
    day_first = month_first = False
    for v in values:
        m = _short_date.match(str(v)) if isinstance(v, str) else None
        if not m:
            continue
        a, sep, b = int(m.group(1)), m.group(2), int(m.group(3))
        if sep == "." or a > 12:
            day_first = True
        elif b > 12:
            month_first = True
    return "mdy" if month_first and not day_first else "dmy"


def parse_date(value: Any, order: str = "dmy") -> date | None:
    """A ``date`` from ISO ("2014-12-05 20:23:02", "2015-04-14T03:23:29-07:00") or short
    ("25/12/2014", "25.12.2014 13:01", "12/25/2014" with ``order="mdy"``) forms; ``None`` if unreadable."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if blank(value) or not isinstance(value, str):
        return None
    m = _iso_date.match(value)
    if m:
        return _make_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _short_date.match(value)
    if m:
        a, sep, b, y = int(m.group(1)), m.group(2), int(m.group(3)), _full_year(m.group(4))
        if sep == "." or order != "mdy":
            return _make_date(y, b, a)
        return _make_date(y, a, b)
    return None


def discogs_url_id(url: Any) -> tuple[str, int] | None:
    """``("release", 123)`` or ``("master", 456)`` from a discogs.com URL; ``None`` for anything else."""
    if not isinstance(url, str) or "discogs.com" not in url.lower():
        return None
    m = _url_id.search(url)
    return (m.group(1), int(m.group(2))) if m else None


def clean_country(value: Any) -> str | None:
    """Country text without flag emoji or other symbols ("Japan 🇯🇵" → "Japan")."""
    s = "".join(c for c in text(value) if unicodedata.category(c) not in ("So", "Sk", "Cf", "Co", "Cn"))
    s = re.sub(r"\s+", " ", s).strip()
    return s or None


# Discogs CSV export format abbreviations → (format name, description the API gives, if any).
FORMAT_ABBREVIATIONS: dict[str, tuple[str, str | None]] = {
    "LP": ("Vinyl", "LP"), '12"': ("Vinyl", '12"'), '10"': ("Vinyl", '10"'), '7"': ("Vinyl", '7"'),
    "Vinyl": ("Vinyl", None), "Flexi": ("Flexi-disc", None), "Shellac": ("Shellac", None),
    "Lathe": ("Lathe Cut", None), "Acetate": ("Acetate", None),
    "CD": ("CD", None), "CDr": ("CDr", None), "SACD": ("SACD", None), "CDV": ("CDV", None),
    "Cass": ("Cassette", None), "Cassette": ("Cassette", None), "MiniDisc": ("Minidisc", None),
    "8-Trk": ("8-Track Cartridge", None), "Reel": ("Reel-To-Reel", None),
    "DVD": ("DVD", None), "DVD-V": ("DVD", "DVD-Video"), "DVD-A": ("DVD", "DVD-Audio"), "DVDr": ("DVDr", None),
    "Blu-ray": ("Blu-ray", None), "VHS": ("VHS", None), "File": ("File", None),
    "Box": ("Box Set", None), "All Media": ("All Media", None), "Memory Stick": ("Memory Stick", None),
}

# Description abbreviations used in the export → the names the API and the dump use.
DESCRIPTION_ABBREVIATIONS: dict[str, str] = {
    "Album": "Album", "EP": "EP", "Single": "Single", "Maxi": "Maxi-Single", "Mini": "Mini-Album",
    "Comp": "Compilation", "RE": "Reissue", "RM": "Remastered", "RP": "Repress", "Ltd": "Limited Edition",
    "Num": "Numbered", "Promo": "Promo", "TP": "Test Pressing", "Unofficial": "Unofficial Release",
    "Smplr": "Sampler", "Mono": "Mono", "Stereo": "Stereo", "Quad": "Quadraphonic", "Mixed": "Mixed",
    "S/Sided": "Single Sided", "Etch": "Etched", "Pic": "Picture Disc", "Gat": "Gatefold",
    "Dlx": "Deluxe Edition", "Ltd Ed": "Limited Edition", "Cons": "Club Edition", "Club": "Club Edition",
    "Transcription": "Transcription", "Mispress": "Mispress", "Misprint": "Misprint", "Enh": "Enhanced",
    "Car": "Card Backed", "Ptd": "Partially Mixed", "Copy Prot.": "Copy Protected",
    "MP3": "MP3", "FLAC": "FLAC", "WAV": "WAV", "AAC": "AAC", "33 ⅓ RPM": "33 ⅓ RPM",
    "45 RPM": "45 RPM", "78 RPM": "78 RPM",
}

_qty = re.compile(r"^(\d+)\s*x\s*(.+)$")
_media_sep = re.compile(r"\s\+\s")


def parse_format_string(value: Any) -> tuple[list[str], list[str]]:
    """Split an export format string ("2xLP, Album, Gat + CD") into format names and descriptions.

    Parts joined by " + " are separate media; within a part the first token may carry a quantity
    ("2xLP"). Free-text tokens the export abbreviates (colours such as "Whi") are dropped.
    """
    formats: list[str] = []
    descriptions: list[str] = []
    for part in _media_sep.split(text(value)):
        for token in (t.strip() for t in part.split(",")):
            m = _qty.match(token)
            name = m.group(2).strip() if m else token
            if name in FORMAT_ABBREVIATIONS:
                fmt, desc = FORMAT_ABBREVIATIONS[name]
                formats.append(fmt)
                descriptions.append(desc or "")
            elif token in DESCRIPTION_ABBREVIATIONS:
                descriptions.append(DESCRIPTION_ABBREVIATIONS[token])
    return dedupe(formats), dedupe(descriptions)
