"""The Discogs CSV export (collection or wantlist), including the variants found in the wild.

Handled: custom "Collection …" columns; wantlist rows with an unlabelled trailing date column; a
leading index column written by pandas/R; R-mangled headers ("Catalog.", "Date.Added", "release.id");
";" or tab delimiters; day-first dates ("25/12/2014", "25.12.2014 13:01"); UTF-8/UTF-16/cp1252 text.
The export carries no genres or styles: enrich with ``catalogue.enrich_from_catalogue``.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from core.domain.release import CollectionItem, ImportResult, Release, clean_artist
from core.ingest.readers.common import (
    blank,
    date_order,
    dedupe,
    parse_date,
    parse_float,
    parse_format_string,
    parse_id,
    parse_rating,
    parse_year,
    text,
)
from core.ingest.readers.files import ImportLimits, ReaderError

log = logging.getLogger(__name__)

SOURCE = "csv"

# Normalised header (lower-case letters and digits only) → field.
COLUMNS: dict[str, str] = {
    "catalog": "catno", "catalogno": "catno", "catalognumber": "catno", "catno": "catno",
    "artist": "artist", "title": "title", "label": "label", "format": "format", "rating": "rating",
    "released": "released", "releaseid": "release_id", "collectionfolder": "folder",
    "dateadded": "date_added", "notes": "notes", "collectionnotes": "notes",
}
_DISCOGS_HINTS = {"catno", "artist", "title", "label", "format", "released"}
_INDEX_HEADERS = {"", "unnamed0", "index", "x"}
_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₩": "KRW", "CHF": "CHF"}
_inner_suffix = re.compile(r"\s\(\d+\)\*?(?=\s*(?:,|/|&|\+|·|•|\s-\s))")


def header_key(name: str) -> str:
    """Letters and digits of a header, lower-cased: "Date.Added", "Date Added" → "dateadded"."""
    return re.sub(r"[^a-z0-9]", "", (name or "").lower())


@dataclass
class Layout:
    """Where each field sits in the rows of one file."""

    columns: dict[str, int]
    width: int
    drop_index: bool = False
    price_columns: list[int] = field(default_factory=list)
    collection_columns: bool = False


def _decode(raw: bytes, name: str) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")
    if b"\x00" in raw[:8192]:
        raise ReaderError(f"{name}: binary file, not a CSV export")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ReaderError(f"{name}: cannot decode the file as text")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _layout(header: list[str], name: str) -> Layout:
    keys = [header_key(h) for h in header]
    drop_index = bool(keys) and keys[0] in _INDEX_HEADERS and len(keys) > 1 and keys[1] in COLUMNS
    if drop_index:
        keys = keys[1:]
    columns: dict[str, int] = {}
    price_columns: list[int] = []
    for i, k in enumerate(keys):
        fieldname = COLUMNS.get(k)
        if fieldname and fieldname not in columns:
            columns[fieldname] = i
        elif k.startswith("collection") and any(w in k for w in ("price", "paid", "cost")):
            price_columns.append(i)
    if "release_id" not in columns:
        shown = ", ".join(repr(h if len(h) <= 40 else h[:40] + "…") for h in header[:8])
        if not _DISCOGS_HINTS & set(columns):
            raise ReaderError(f"{name}: not a Discogs CSV export (header: {shown})")
        raise ReaderError(f"{name}: Discogs CSV export without a release_id column (header: {shown})")
    return Layout(columns=columns, width=len(keys), drop_index=drop_index, price_columns=price_columns,
                  collection_columns=any(k.startswith("collection") for k in keys))


def _money(value: Any) -> tuple[float | None, str | None]:
    """(amount, currency) from "$12.99", "12,50 €", "EUR 12.50", "12.5"."""
    s = text(value)
    if not s:
        return None, None
    currency = next((c for sym, c in _CURRENCY_SYMBOLS.items() if sym in s), None)
    code = re.search(r"\b([A-Z]{3})\b", s)
    if code:
        currency = code.group(1)
    number = re.search(r"\d[\d.,\s]*", s)
    return (parse_float(number.group(0).strip()) if number else None), currency


def clean_artist_credit(name: str) -> str:
    """A whole export artist credit, with "(2)" suffixes and "*" markers dropped inside it too."""
    return clean_artist(_inner_suffix.sub("", re.sub(r"\*(?=\s*(?:,|/|&|$))", "", name or "")))


def _split(value: Any) -> list[str]:
    return [p.strip() for p in text(value).split(", ")]


def _cell(row: list[str], layout: Layout, fieldname: str) -> str:
    i = layout.columns.get(fieldname)
    return row[i] if i is not None and i < len(row) else ""


def _date_cell(row: list[str], layout: Layout) -> str:
    """The Date Added cell, or the unlabelled trailing field some wantlist exports add."""
    value = _cell(row, layout, "date_added")
    if not blank(value) or "date_added" in layout.columns:
        return value
    extra = [c for c in row[layout.width:] if not blank(c)]
    return extra[0] if extra else ""


def _release(row: list[str], layout: Layout, rid: int) -> Release:
    formats, descriptions = parse_format_string(_cell(row, layout, "format"))
    artist = clean_artist_credit(text(_cell(row, layout, "artist")))
    return Release(
        id=rid,
        title=text(_cell(row, layout, "title")),
        artists=[artist] if artist else [],
        year=parse_year(_cell(row, layout, "released")),
        labels=dedupe(_split(_cell(row, layout, "label"))),
        catnos=dedupe(c for c in _split(_cell(row, layout, "catno")) if c.lower() != "none"),
        formats=formats,
        format_descriptions=descriptions,
    )


def _price(row: list[str], layout: Layout) -> tuple[float | None, str | None]:
    for i in layout.price_columns:
        if i < len(row) and not blank(row[i]):
            return _money(row[i])
    return None, None


def _rows(content: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows with their line numbers, streamed (a big export is read twice rather than held as
    rows); stops with the limit's message past ``imports.max_items`` rows."""
    first = content.lstrip("\ufeff").split("\n", 1)[0][:100_000]
    limit = ImportLimits.configured()
    reader = csv.reader(_bounded_lines(content, name, limit.max_row_bytes), delimiter=_delimiter(first))
    n = 0
    try:
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            n += 1
            if n > limit.max_items + 1:
                limit.check_items(name, n - 1)
            yield reader.line_num, row
    except csv.Error as exc:
        raise ReaderError(f"{name}: malformed CSV ({exc})") from exc


def _bounded_lines(content: str, name: str, max_len: int) -> Iterator[str]:
    """The lines, refusing one longer than ``imports.max_row_bytes`` before the CSV reader splits it (a line of
    millions of commas would become millions of cells)."""
    for n, line in enumerate(io.StringIO(content), 1):
        if len(line) > max_len:
            raise ReaderError(f"{name}: line {n} is over {max_len // 1000:,} kB long (imports.max_row_bytes): "
                              "that is no Discogs export row")
        yield line


def _infer_list_name(layout: Layout) -> str:
    if "folder" in layout.columns or layout.collection_columns:
        return "collection"
    return "wantlist" if "notes" in layout.columns else "collection"


def read_csv_export(path: str | Path, *, list_name: str | None = None) -> ImportResult:
    """Read a Discogs CSV export; unreadable rows go to ``ImportResult.skipped`` with a reason.

    ``list_name`` defaults to "collection" when the file has collection columns (CollectionFolder,
    "Collection …") and "wantlist" when it has only Notes. Raises ``ReaderError`` for a file that is
    missing, empty, binary, not a Discogs export or without a release_id column.
    """
    p = Path(path)
    if not p.is_file():
        raise ReaderError(f"{p}: file not found")
    content = _decode(p.read_bytes(), p.name)
    if not content.strip():
        raise ReaderError(f"{p.name}: file is empty")
    header = next(_rows(content, p.name), None)
    if header is None:
        raise ReaderError(f"{p.name}: file is empty")
    layout = _layout(header[1], p.name)

    def body() -> Iterator[tuple[int, list[str]]]:
        rows = _rows(content, p.name)
        next(rows)
        for n, r in rows:
            yield n, (r[1:] if layout.drop_index else r)

    order = date_order(_date_cell(r, layout) for _, r in body())   # pass 1: how the dates are written
    result = ImportResult(source=str(p))
    name = list_name or _infer_list_name(layout)
    for line, row in body():                                       # pass 2: the records
        item = _item(row, layout, order, name, f"{p.name} line {line}", result)
        if item is not None:
            result.items.append(item)
    log.info("%s: %d rows read, %d skipped", p.name, len(result.items), len(result.skipped))
    return result


def _item(row: list[str], layout: Layout, order: str, list_name: str, where: str,
          result: ImportResult) -> CollectionItem | None:
    raw_id = _cell(row, layout, "release_id")
    if blank(raw_id):
        result.skipped.append((where, "missing release_id"))
        return None
    rid = parse_id(raw_id)
    if rid is None:
        result.skipped.append((f"{where} (release_id={raw_id.strip()!r})", "invalid release_id"))
        return None
    price, currency = _price(row, layout)
    return CollectionItem(
        release=_release(row, layout, rid),
        date_added=parse_date(_date_cell(row, layout), order),
        rating=parse_rating(_cell(row, layout, "rating")),
        source=SOURCE,
        list_name=list_name,
        price_paid=price,
        currency=currency,
    )
