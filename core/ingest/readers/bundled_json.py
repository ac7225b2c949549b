"""The bundled JSON collections, each with its own field names; the shape is detected from the keys.

Shapes (named after the collection they come from):

* ``lanebecker``: ``id, artist, title, year, label, genres, styles, added, rating, price`` (lowest
  marketplace price, USD), ``crating``/``crcount`` (community rating), ``have, want``
* ``purchases``: ``url`` (…/release/ID), ``genres, styles, format, country`` ("Japan 🇯🇵"),
  ``purchase{date, price, currency}``
* ``tomerbenda``: ``id, date_added, title, artist, year, genres, styles, formats``
* ``url-list``: ``url`` (…/master/ID or …/release/ID), ``artist, title, year`` (a string). A master-only
  row has no release id: it lands in ``ImportResult.unresolved`` unless ``master_resolver`` finds one.
* ``api-list``: a bare list of API entries / release objects (``basic_information`` or ``artists``).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

from core.domain.release import CollectionItem, ImportResult, Release, clean_artist
from core.ingest.readers.api_json import item_from_entry
from core.ingest.readers.common import (
    clean_country,
    dedupe,
    discogs_url_id,
    parse_date,
    parse_float,
    parse_id,
    parse_int,
    parse_rating,
    parse_year,
    text,
)
from core.ingest.readers.files import ReaderError
from core.ingest.vocab import normalise_genres, normalise_styles

log = logging.getLogger(__name__)

MasterResolver = Callable[[dict[str, Any]], "int | None"]
MASTER_ONLY = "master only: needs a live look-up"
_FORMAT_NAMES = {"Vinyl", "CD", "CDr", "Cassette", "Box Set", "File", "DVD", "Blu-ray", "Shellac",
                 "Flexi-disc", "Lathe Cut", "SACD", "Minidisc", "Reel-To-Reel", "8-Track Cartridge", "All Media"}


def detect_shape(records: list[Any]) -> str | None:
    """The shape name of a list of records (see module doc), or ``None`` when unrecognised."""
    sample = [r for r in records[:50] if isinstance(r, dict)]
    if not sample:
        return None
    keys = set().union(*(r.keys() for r in sample))
    if "basic_information" in keys:
        return "api-list"
    if "url" in keys and "purchase" in keys:
        return "purchases"
    if "url" in keys and keys & {"artist", "title"}:
        return "url-list"
    if "id" in keys and keys & {"added", "crating", "crcount"}:
        return "lanebecker"
    if "id" in keys and "date_added" in keys and "artist" in keys:
        return "tomerbenda"
    if "id" in keys and "title" in keys and "artists" in keys:
        return "api-list"
    return None


def _records(data: Any) -> list[Any] | None:
    """The record list inside ``data``: the list itself, a ``{"records": [...]}``-style wrapper, or one object."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    for candidate in lists:
        if detect_shape(candidate):
            return candidate
    return [data] if "id" in data and "title" in data else None


def _split_formats(values: Any) -> tuple[list[str], list[str]]:
    values = [values] if isinstance(values, str) else (values or [])
    names = [text(v) for v in values if isinstance(v, str)]
    return dedupe(n for n in names if n in _FORMAT_NAMES), dedupe(n for n in names if n not in _FORMAT_NAMES)


def _flat_release(rec: dict[str, Any], rid: int) -> Release:
    """Fields common to the flat shapes (artist as one credit string, label as one name)."""
    artist = clean_artist(text(rec.get("artist")))
    formats, descriptions = _split_formats(rec.get("formats") or rec.get("format"))
    return Release(
        id=rid,
        title=text(rec.get("title")),
        artists=[artist] if artist else [],
        year=parse_year(rec.get("year")),
        labels=[text(rec["label"])] if text(rec.get("label")) else [],
        formats=formats,
        format_descriptions=descriptions,
        country=clean_country(rec.get("country")),
        genres=normalise_genres(rec.get("genres") or rec.get("genre")),
        styles=normalise_styles(rec.get("styles")),
        have=parse_int(rec.get("have")),
        want=parse_int(rec.get("want")),
        thumb=text(rec.get("thumb")) or None,
    )


def _lanebecker(rec: dict[str, Any], list_name: str) -> CollectionItem | str:
    rid = parse_id(rec.get("id"))
    if rid is None:
        return "missing release id"
    release = _flat_release(rec, rid)
    if (parse_int(rec.get("crcount")) or 0) > 0:
        release.community_rating = parse_float(rec.get("crating"))
    release.lowest_price = parse_float(rec.get("price"))
    release.price_currency = "USD" if release.lowest_price is not None else None
    return CollectionItem(release=release, date_added=parse_date(rec.get("added")),
                          rating=parse_rating(rec.get("rating")), source="lanebecker-json", list_name=list_name)


def _purchases(rec: dict[str, Any], list_name: str) -> CollectionItem | str:
    ref = discogs_url_id(rec.get("url"))
    if ref is None or ref[0] != "release":
        return "no Discogs release URL"
    raw_purchase = rec.get("purchase")
    purchase: dict[str, Any] = raw_purchase if isinstance(raw_purchase, dict) else {}
    price = parse_float(purchase.get("price"))
    return CollectionItem(release=_flat_release(rec, ref[1]), date_added=parse_date(purchase.get("date")),
                          source="purchases-json", list_name=list_name, price_paid=price,
                          currency=text(purchase.get("currency")) or None if price is not None else None)


def _tomerbenda(rec: dict[str, Any], list_name: str) -> CollectionItem | str:
    rid = parse_id(rec.get("id"))
    if rid is None:
        return "missing release id"
    return CollectionItem(release=_flat_release(rec, rid), date_added=parse_date(rec.get("date_added")),
                          rating=parse_rating(rec.get("rating")), source="tomerbenda-json", list_name=list_name)


def _resolve(ref: dict[str, Any], resolver: MasterResolver | None) -> int | None:
    if resolver is None:
        return None
    try:
        return parse_id(resolver(ref))
    except Exception:  # a failing look-up leaves the row unresolved, it does not stop the import
        log.warning("master resolver failed for master %s", ref.get("master_id"), exc_info=True)
        return None


def _url_list(rec: dict[str, Any], list_name: str, resolver: MasterResolver | None,
              unresolved: list[dict[str, Any]]) -> CollectionItem | str:
    ref = discogs_url_id(rec.get("url"))
    if ref is None:
        return "no Discogs release URL"
    kind, ident = ref
    master_id = ident if kind == "master" else None
    rid = ident if kind == "release" else None
    if rid is None:
        info = {"master_id": master_id, "artist": clean_artist(text(rec.get("artist"))),
                "title": text(rec.get("title")), "year": parse_year(rec.get("year"))}
        rid = _resolve(info, resolver)
        if rid is None:
            unresolved.append(info)
            return MASTER_ONLY
    release = _flat_release(rec, rid)
    release.master_id = master_id
    return CollectionItem(release=release, source="url-list-json", list_name=list_name)


def _api_entry(rec: dict[str, Any], list_name: str) -> CollectionItem | str:
    try:
        return item_from_entry(rec, list_name, source="api-list")
    except ValueError:
        return "missing release id"


def read_bundled_json(data: Any, *, source: str = "", list_name: str | None = None,
                      master_resolver: MasterResolver | None = None) -> ImportResult:
    """Read a bundled JSON collection (parsed data, or a path to it) into an ``ImportResult``.

    ``master_resolver(ref) -> release id | None`` receives ``{"master_id", "artist", "title", "year"}``
    for master-only rows. Raises ``ReaderError`` when the shape is not recognised.
    """
    if isinstance(data, (str, Path)):
        source = source or str(data)
        try:
            data = json.loads(Path(data).read_text(encoding="utf-8-sig"))
        except FileNotFoundError as exc:
            raise ReaderError(f"{source}: file not found") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReaderError(f"{source}: invalid JSON ({exc})") from exc
        except RecursionError as exc:
            raise ReaderError(f"{source}: nested far too deeply to be a Discogs export or collection file") from exc
    records = _records(data)
    shape = detect_shape(records) if records else None
    if shape is None:
        keys = sorted(data.keys())[:10] if isinstance(data, dict) else type(data).__name__
        raise ReaderError(f"{source or 'JSON'}: unrecognised JSON shape ({keys}); expected a Discogs "
                          "collection/wantlist page or a list of release records")
    name = list_name or "collection"
    result = ImportResult(source=source)
    for i, rec in enumerate(records):  # type: ignore[arg-type]
        out = (_one(shape, rec, name, master_resolver, result.unresolved) if isinstance(rec, dict)
               else "not a JSON object")
        if isinstance(out, CollectionItem):
            result.items.append(out)
        else:
            result.skipped.append((f"{Path(source).name or 'record'}[{i}]", out))
    log.info("%s: %s shape, %d records read, %d skipped", source, shape, len(result.items), len(result.skipped))
    return result


def _one(shape: str, rec: dict[str, Any], list_name: str, resolver: MasterResolver | None,
         unresolved: list[dict[str, Any]]) -> CollectionItem | str:
    if shape == "url-list":
        return _url_list(rec, list_name, resolver, unresolved)
    reader = {"lanebecker": _lanebecker, "purchases": _purchases, "tomerbenda": _tomerbenda,
              "api-list": _api_entry}[shape]
    return reader(rec, list_name)
