"""Readers: every collection / catalogue source → normalised ``Release`` / ``CollectionItem`` records.

``read_collection(path)`` detects the format from the content (never the file name):

* a folder, or a JSON object with a ``releases`` / ``wants`` list → Discogs API pages (``api_json``)
* any other JSON list/object of records → a bundled JSON collection (``bundled_json``)
* XML, plain or gzipped → the monthly data-dump releases file (``dump_xml``)
* anything else → the Discogs CSV export (``csv_export``), which rejects what it cannot read.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from core.domain.release import ImportResult, Release
from core.ingest.readers.api_json import page_entries, read_api_pages
from core.ingest.readers.bundled_json import read_bundled_json
from core.ingest.readers.catalogue import enrich_from_catalogue
from core.ingest.readers.csv_export import read_csv_export
from core.ingest.readers.dump_xml import read_dump
from core.ingest.readers.files import _GZIP_MAGIC, TOO_DEEP, ImportLimits, ReaderError, _head, load_json

log = logging.getLogger(__name__)

__all__ = ["ReaderError", "read_collection", "detect_format", "load_json", "TOO_DEEP"]


def detect_format(path: str | Path) -> str:
    """``"api-pages"``, ``"json"``, ``"dump-xml"`` or ``"csv"`` for ``path``, from its content."""
    p = Path(path)
    if not p.exists():
        raise ReaderError(f"{p}: file not found")
    if p.is_dir():
        return "api-pages"
    head = _head(p)
    gzipped = head[:2] == _GZIP_MAGIC
    body = head[2:] if gzipped else head
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ReaderError(f"{p}: file is empty")
    if stripped[:1] == b"<":
        return "dump-xml"
    if gzipped:
        raise ReaderError(f"{p}: gzip file that does not hold XML")
    if stripped[:1] in (b"{", b"["):
        return "json"
    return "csv"


def _read_json(path: Path, list_name: str | None,
               master_resolver: Callable[[dict[str, Any]], int | None] | None) -> ImportResult:
    data = load_json(path)
    if page_entries(data) is not None:
        data = None   # read again page by page: never two copies at once
        return read_api_pages(path, list_name=list_name)
    return read_bundled_json(data, source=str(path), list_name=list_name, master_resolver=master_resolver)


def read_collection(path: str | Path, *, catalogue: dict[int, Release] | None = None,
                    list_name: str | None = None,
                    master_resolver: Callable[[dict[str, Any]], int | None] | None = None) -> ImportResult:
    """Read any supported collection/wantlist source into an ``ImportResult``.

    ``list_name`` ("collection" / "wantlist") overrides what the source says; ``catalogue`` fills
    fields the source lacks (genres, styles, year, ...); ``master_resolver`` turns master-only
    references into release ids (see ``bundled_json``). Raises ``ReaderError`` for unreadable input.
    """
    p = Path(path)
    limits = ImportLimits.configured()
    if p.is_file():
        limits.check_size(p)
    try:
        result = _read_any(p, catalogue, list_name, master_resolver)
    except RecursionError as exc:   # deeply nested JSON or XML: a clear error, never a traceback
        raise ReaderError(f"{p}: {TOO_DEEP}") from exc
    limits.check_items(p, len(result.items))
    return result


def _read_any(p: Path, catalogue: dict[int, Release] | None, list_name: str | None,
              master_resolver: Callable[[dict[str, Any]], int | None] | None) -> ImportResult:
    kind = detect_format(p)
    log.info("reading %s as %s", p, kind)
    if kind == "api-pages":
        result = read_api_pages(p, list_name=list_name)
    elif kind == "json":
        result = _read_json(p, list_name, master_resolver)
    elif kind == "dump-xml":
        result = read_dump(p, list_name=list_name or "collection")
    else:
        result = read_csv_export(p, list_name=list_name)
    if catalogue:
        result.items = enrich_from_catalogue(result.items, catalogue)
    return result
