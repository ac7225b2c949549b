"""Readers: every collection / catalogue source → normalised ``Release`` / ``CollectionItem`` records.

``read_collection(path)`` detects the format from the content (never the file name):

* a folder, or a JSON object with a ``releases`` / ``wants`` list → Discogs API pages (``api_json``)
* any other JSON list/object of records → a bundled JSON collection (``bundled_json``)
* XML, plain or gzipped → the monthly data-dump releases file (``dump_xml``)
* anything else → the Discogs CSV export (``csv_export``), which rejects what it cannot read.
"""
from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any, Callable

from core.domain.release import ImportResult, Release

log = logging.getLogger(__name__)

__all__ = ["ReaderError", "read_collection", "detect_format"]


class ReaderError(Exception):
    """A source file that cannot be read at all (missing, empty, binary, unknown shape, ...)."""


_GZIP_MAGIC = b"\x1f\x8b"


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == _GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as gz:
                return _GZIP_MAGIC + gz.read(n)
        except (OSError, EOFError) as exc:
            raise ReaderError(f"{path}: corrupt gzip file ({exc})") from exc
    return head


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


def load_json(path: Path) -> Any:
    """A JSON file, or a ReaderError naming what is wrong with it (missing, empty, not UTF-8, not JSON)."""
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    raw = path.read_bytes()
    if not raw.strip():
        raise ReaderError(f"{path}: file is empty")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ReaderError(f"{path}: not UTF-8 text ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ReaderError(f"{path}: invalid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ReaderError(f"{path}: {TOO_DEEP}") from exc


#: what a file nested past the interpreter's recursion limit is told (no export is nested like that)
TOO_DEEP = "nested far too deeply to be a Discogs export or collection file"


def _read_json(path: Path, list_name: str | None,
               master_resolver: Callable[[dict[str, Any]], int | None] | None) -> ImportResult:
    from core.ingest.readers.api_json import page_entries, read_api_pages
    from core.ingest.readers.bundled_json import read_bundled_json

    data = load_json(path)
    if page_entries(data) is not None:
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
    try:
        return _read_any(p, catalogue, list_name, master_resolver)
    except RecursionError as exc:   # deeply nested JSON or XML: a clear error, never a traceback
        raise ReaderError(f"{p}: {TOO_DEEP}") from exc


def _read_any(p: Path, catalogue: dict[int, Release] | None, list_name: str | None,
              master_resolver: Callable[[dict[str, Any]], int | None] | None) -> ImportResult:
    from core.ingest.readers.api_json import read_api_pages
    from core.ingest.readers.catalogue import enrich_from_catalogue
    from core.ingest.readers.csv_export import read_csv_export
    from core.ingest.readers.dump_xml import read_dump

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
