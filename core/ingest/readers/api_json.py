"""Discogs API JSON: full release objects, ``basic_information`` objects, collection and wantlist pages."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

from core.domain.release import CollectionItem, ImportResult, Release, clean_artist
from core.ingest.readers.common import (
    dedupe,
    parse_date,
    parse_float,
    parse_id,
    parse_int,
    parse_rating,
    parse_year,
    text,
)
from core.ingest.readers.files import ReaderError, load_json
from core.ingest.vocab import normalise_genres, normalise_styles

log = logging.getLogger(__name__)

SOURCE = "api-page"
PAGE_KEYS = {"releases": "collection", "wants": "wantlist"}
_LIST_ALIASES = {"releases": "collection", "wants": "wantlist", "collection": "collection", "wantlist": "wantlist"}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _artists(obj: dict[str, Any]) -> list[str]:
    names = []
    for a in obj.get("artists") or []:
        name = a.get("name") if isinstance(a, dict) else a
        if isinstance(name, str):
            names.append(clean_artist(name))
    return dedupe(names)


def _labels(obj: dict[str, Any]) -> tuple[list[str], list[str]]:
    labels = _dicts(obj.get("labels"))
    names = dedupe(text(lab.get("name")) for lab in labels)
    catnos = dedupe(c for c in (text(lab.get("catno")) for lab in labels) if c.lower() != "none")
    return names, catnos


def _formats(obj: dict[str, Any]) -> tuple[list[str], list[str]]:
    formats = _dicts(obj.get("formats"))
    names = dedupe(text(f.get("name")) for f in formats)
    descriptions = dedupe(text(d) for f in formats for d in (f.get("descriptions") or []))
    return names, descriptions


def _barcodes(obj: dict[str, Any]) -> list[str]:
    return dedupe(text(i.get("value")) for i in _dicts(obj.get("identifiers"))
                  if text(i.get("type")).lower() == "barcode")


def _community(obj: dict[str, Any]) -> tuple[int | None, int | None, float | None]:
    """(have, want, average rating); an average over zero votes is ``None``."""
    raw_community = obj.get("community")
    community: dict[str, Any] = raw_community if isinstance(raw_community, dict) else obj
    raw_rating = community.get("rating")
    rating: dict[str, Any] = raw_rating if isinstance(raw_rating, dict) else {}
    avg = parse_float(rating.get("average"))
    if not avg or parse_int(rating.get("count")) == 0:
        avg = None
    return parse_int(community.get("have")), parse_int(community.get("want")), avg


def release_from_api(obj: dict[str, Any]) -> Release:
    """A ``Release`` from a full ``GET /releases/{id}`` object or a ``basic_information`` object.

    A collection/wantlist entry wrapping ``basic_information`` is accepted too. Raises ``ValueError``
    when the object has no usable release id.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    raw_info = obj.get("basic_information")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else obj
    rid = parse_id(info.get("id")) or parse_id(obj.get("id"))
    if rid is None:
        raise ValueError(f"no release id in object (id={info.get('id')!r})")
    labels, catnos = _labels(info)
    formats, descriptions = _formats(info)
    have, want, rating = _community(info)
    return Release(
        id=rid,
        title=text(info.get("title")),
        artists=_artists(info),
        year=parse_year(info.get("year")) or parse_year(info.get("released")),
        master_id=parse_id(info.get("master_id")),
        labels=labels,
        catnos=catnos,
        formats=formats,
        format_descriptions=descriptions,
        country=text(info.get("country")) or None,
        genres=normalise_genres(info.get("genres")),
        styles=normalise_styles(info.get("styles")),
        have=have,
        want=want,
        community_rating=rating,
        lowest_price=parse_float(info.get("lowest_price")),
        barcodes=_barcodes(info),
        thumb=text(info.get("thumb")) or None,
    )


def page_entries(obj: Any) -> tuple[str, list[Any]] | None:
    """``(key, entries)`` for a collection (``releases``) or wantlist (``wants``) page, else ``None``."""
    if not isinstance(obj, dict):
        return None
    for key in PAGE_KEYS:
        if isinstance(obj.get(key), list):
            return key, obj[key]
    return None


def _list_name(key: str, list_name: str | None) -> str:
    if list_name is None:
        return PAGE_KEYS[key]
    if list_name not in _LIST_ALIASES:
        raise ValueError(f"list_name must be 'collection' or 'wantlist', got {list_name!r}")
    return _LIST_ALIASES[list_name]


def item_from_entry(entry: dict[str, Any], list_name: str = "collection", source: str = SOURCE) -> CollectionItem:
    """One ``CollectionItem`` from a page entry (``{id, date_added, rating, basic_information}``)."""
    return CollectionItem(
        release=release_from_api(entry),
        date_added=parse_date(entry.get("date_added")),
        rating=parse_rating(entry.get("rating")),
        source=source,
        list_name=list_name,
    )


def _read_page(obj: Any, list_name: str | None,
               where: str) -> tuple[list[tuple[Any, CollectionItem]], list[tuple[str, str]]]:
    """Keyed items (the key spots the same entry on overlapping pages) and skipped entries of a page."""
    found = page_entries(obj)
    if found is None:
        raise ReaderError(f"{where}: not a Discogs collection/wantlist page (no 'releases' or 'wants' list)")
    key, entries = found
    name = _list_name(key, list_name)
    keyed: list[tuple[Any, CollectionItem]] = []
    skipped: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        loc = f"{where} {key}[{i}]"
        if not isinstance(entry, dict):
            skipped.append((loc, "not a JSON object"))
            continue
        try:
            item = item_from_entry(entry, name)
        except ValueError:
            skipped.append((loc, "missing release id"))
            continue
        instance = entry.get("instance_id")
        keyed.append((("instance", instance) if instance else (name, item.release.id), item))
    return keyed, skipped


def items_from_page(obj: dict[str, Any], list_name: str | None = None) -> list[CollectionItem]:
    """Items of one collection/wantlist page. ``list_name`` ("collection"/"wantlist", or the page keys
    "releases"/"wants") defaults to what the page holds; entries without a release id are left out."""
    keyed, skipped = _read_page(obj, list_name, "page")
    for loc, why in skipped:
        log.warning("skipped %s: %s", loc, why)
    return [item for _, item in keyed]


def _expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() == ".json" and q.is_file()))
        else:
            out.append(p)
    return out


def _page_number(obj: Any) -> int:
    pag = obj.get("pagination") if isinstance(obj, dict) else None
    return parse_int(pag.get("page")) or 0 if isinstance(pag, dict) else 0


def read_api_pages(paths: str | Path | Iterable[str | Path], list_name: str | None = None) -> ImportResult:
    """Read one or more page files (or a folder of them) in page order into one ``ImportResult``.

    Entries repeated across overlapping pages (same ``instance_id``, or same release id on a wantlist)
    are kept once.
    """
    if not isinstance(paths, (str, Path)):
        paths = list(paths)
    files = _expand(paths)
    if not files:
        raise ReaderError(f"no API page files found in {paths}")
    pages = sorted(((p, load_json(p)) for p in files), key=lambda pj: (_page_number(pj[1]), str(pj[0])))
    single = isinstance(paths, (str, Path))
    result = ImportResult(source=str(paths) if single else ", ".join(str(p) for p in files))
    seen: set[Any] = set()
    expected, total_pages, page_numbers = 0, 0, set()
    for path, obj in pages:
        keyed, skipped = _read_page(obj, list_name, path.name)
        raw_pagination = obj.get("pagination")
        pagination: dict[str, Any] = raw_pagination if isinstance(raw_pagination, dict) else {}
        expected = max(expected, parse_int(pagination.get("items")) or 0)
        total_pages = max(total_pages, parse_int(pagination.get("pages")) or 0)
        page_numbers.add(parse_int(pagination.get("page")))
        result.skipped.extend(skipped)
        for key, item in keyed:
            if key not in seen:
                seen.add(key)
                result.items.append(item)
    _check_complete(result, expected, total_pages, page_numbers)
    return result


def _check_complete(result: ImportResult, expected: int, total_pages: int, page_numbers: set[Any]) -> None:
    """Log when pages are missing, or when complete pages do not add up to the announced item count."""
    read = len(result.items) + len(result.skipped)
    if total_pages and not set(range(1, total_pages + 1)) <= page_numbers:
        log.info("%s: read %d of %d pages (%d items)", result.source, len(page_numbers), total_pages, read)
    elif expected and expected != read:
        log.warning("%s: pagination says %d items, read %d", result.source, expected, read)
