"""Stream the monthly Discogs data-dump releases XML (gzipped or plain) into ``Release`` records.

Uses ``ElementTree.iterparse`` and clears every finished ``<release>`` (and the root's children), so
memory stays flat however large the dump is.
"""
from __future__ import annotations

import gzip
import io
import logging
import xml.etree.ElementTree as ET
import zlib
from io import BufferedIOBase
from pathlib import Path
from typing import Any, Iterator

from core.domain.release import CollectionItem, ImportResult, Release, clean_artist
from core.ingest.readers.common import dedupe, parse_id, parse_year, text
from core.ingest.readers.files import ImportLimits, LimitedReader, ReaderError, TagGuard
from core.ingest.vocab import normalise_genres, normalise_styles

log = logging.getLogger(__name__)

SOURCE = "dump-xml"


def _open(path: Path, limited: bool = True) -> BufferedIOBase:
    """The file, decompressed (within the import limits unless ``limited`` is false) when gzipped."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if not limited:   # the operator's own monthly dump (10 GB compressed): no collection-file limits
        return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    limits = ImportLimits.configured()
    raw: Any = LimitedReader(path, limits) if magic == b"\x1f\x8b" else io.FileIO(path, "rb")
    return io.BufferedReader(TagGuard(raw, path, limits.max_row_bytes))


#: elements one ``<release>`` may hold (a real one holds hundreds: tracks, credits, identifiers)
MAX_RELEASE_ELEMENTS = 50_000


def release_from_element(elem: ET.Element) -> Release:
    """A ``Release`` from one ``<release>`` element; ``ValueError`` when it has no id."""
    rid = parse_id(elem.get("id"))
    if rid is None:
        raise ValueError(f"release element without a valid id ({elem.get('id')!r})")
    labels = elem.findall("labels/label")
    formats = elem.findall("formats/format")
    return Release(
        id=rid,
        title=text(elem.findtext("title")),
        artists=dedupe(clean_artist(text(a.findtext("name"))) for a in elem.findall("artists/artist")),
        year=parse_year(elem.findtext("released")),
        master_id=parse_id(elem.findtext("master_id")),
        labels=dedupe(text(lab.get("name")) for lab in labels),
        catnos=dedupe(c for c in (text(lab.get("catno")) for lab in labels) if c.lower() != "none"),
        formats=dedupe(text(f.get("name")) for f in formats),
        format_descriptions=dedupe(text(d.text) for f in formats for d in f.findall("descriptions/description")),
        country=text(elem.findtext("country")) or None,
        genres=normalise_genres([g.text or "" for g in elem.findall("genres/genre")]),
        styles=normalise_styles([s.text or "" for s in elem.findall("styles/style")]),
        barcodes=dedupe(text(i.get("value")) for i in elem.findall("identifiers/identifier")
                        if text(i.get("type")).lower() == "barcode"),
    )


def _iter_elements(path: Path, limited: bool = True) -> Iterator[ET.Element]:
    """Each top-level ``<release>`` element, cleared once the caller has used it."""
    root: ET.Element | None = None
    depth = inside = 0
    max_depth = ImportLimits.configured().max_depth if limited else 10_000
    with _open(path, limited) as fh:
        try:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                if event == "start":
                    if root is None:
                        root = elem
                        if elem.tag not in ("releases", "release"):
                            raise ReaderError(f"{path}: not a releases dump (root element <{elem.tag}>)")
                    depth += 1
                    inside += 1
                    if limited and (depth > max_depth or inside > MAX_RELEASE_ELEMENTS):
                        raise ReaderError(f"{path}: one release nested too deeply or holding more than "
                                          f"{MAX_RELEASE_ELEMENTS:,} elements: that is no Discogs data dump")
                    continue
                depth -= 1
                release_depth = 0 if root is not None and root.tag == "release" else 1
                if elem.tag == "release" and depth == release_depth:
                    inside = 0
                    yield elem
                    elem.clear()
                    if root is not None and root is not elem:
                        root.clear()
        except ET.ParseError as exc:
            raise ReaderError(f"{path}: malformed XML ({exc})") from exc
        except (OSError, EOFError, zlib.error) as exc:
            raise ReaderError(f"{path}: cannot read ({exc})") from exc


def _iter(path: str | Path, limited: bool = True, skip: int = 0) -> Iterator[tuple[Release | None, str]]:
    p = Path(path)
    if not p.is_file():
        raise ReaderError(f"{p}: file not found")
    for n, elem in enumerate(_iter_elements(p, limited)):
        if n < skip:
            yield None, ""   # already read by an interrupted run: counted, not parsed
            continue
        try:
            yield release_from_element(elem), ""
        except ValueError:
            yield None, f"release #{n} (id={elem.get('id')!r})"


def iter_dump_elements(path: str | Path, skip: int = 0) -> Iterator[Release | None]:
    """Every ``<release>`` element of a whole monthly dump, in order, as a ``Release`` (``None`` for one without an
    id, and for each of the first ``skip``, which a resumed build has already stored). No collection-file limits:
    this is for ``crate catalogue build`` over the operator's own download."""
    for release, _ in _iter(path, limited=False, skip=skip):
        yield release


def iter_dump_releases(path: str | Path) -> Iterator[Release]:
    """Stream ``Release`` records from a releases dump; elements without an id are logged and skipped."""
    for release, where in _iter(path):
        if release is None:
            log.warning("%s: skipped %s: missing release id", path, where)
            continue
        yield release


def read_dump(path: str | Path, *, list_name: str = "collection") -> ImportResult:
    """A whole (small) dump file as an ``ImportResult`` of undated items."""
    result = ImportResult(source=str(path))
    limits = ImportLimits.configured()
    for release, where in _iter(path):
        limits.check_items(path, len(result.items) + len(result.skipped))
        if release is None:
            result.skipped.append((where, "missing release id"))
        else:
            result.items.append(CollectionItem(release=release, source=SOURCE, list_name=list_name))
    return result
