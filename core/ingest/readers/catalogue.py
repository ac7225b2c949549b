"""The release catalogue (JSON Lines) and enrichment of thin collection records from it.

Each line is a full API release object or a ``basic_information`` object, optionally with
``community: {have, want}``. The side tables (``{id, label}`` and ``{id, have, want}``) are merged only
when their paths are given: they cover some releases only, see data/README.md before using them.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.config import get_config, resolve_path
from core.domain.release import CollectionItem, Release
from core.ingest.readers.api_json import release_from_api
from core.ingest.readers.common import parse_id, parse_int, text
from core.ingest.readers.files import ReaderError

log = logging.getLogger(__name__)


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each JSON object line; bad lines are logged and skipped."""
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    with open(path, encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                log.warning("%s line %d: invalid JSON (%s), skipped", path.name, n, exc)
                continue
            if isinstance(obj, dict):
                yield n, obj
            else:
                log.warning("%s line %d: not a JSON object, skipped", path.name, n)


def _merge_labels(catalogue: dict[int, Release], path: Path) -> int:
    merged = 0
    for _, row in _json_lines(path):
        release = catalogue.get(parse_id(row.get("id")) or 0)
        label = text(row.get("label"))
        if release is not None and label and not release.labels:
            release.labels = [label]
            merged += 1
    return merged


def _merge_community(catalogue: dict[int, Release], path: Path) -> int:
    merged = 0
    for _, row in _json_lines(path):
        release = catalogue.get(parse_id(row.get("id")) or 0)
        if release is None:
            continue
        if release.have is None:
            release.have = parse_int(row.get("have"))
        if release.want is None:
            release.want = parse_int(row.get("want"))
        merged += 1
    return merged


def load_catalogue(path: str | Path | None = None, labels_path: str | Path | None = None,
                   community_path: str | Path | None = None) -> dict[int, Release]:
    """Releases by id from a JSON Lines catalogue (default ``paths.catalogue``), side tables merged when given."""
    p = Path(path) if path else resolve_path(get_config().paths.catalogue)
    catalogue: dict[int, Release] = {}
    for n, obj in _json_lines(p):
        try:
            release = release_from_api(obj)
        except ValueError:
            log.warning("%s line %d: no release id, skipped", p.name, n)
            continue
        if release.id in catalogue:
            release = catalogue[release.id].merged_with(release)
        catalogue[release.id] = release
    if labels_path:
        log.debug("labels merged into %d releases", _merge_labels(catalogue, Path(labels_path)))
    if community_path:
        log.debug("have/want merged into %d releases", _merge_community(catalogue, Path(community_path)))
    log.info("catalogue %s: %d releases", p, len(catalogue))
    return catalogue


def enrich_from_catalogue(items: Iterable[CollectionItem], catalogue: dict[int, Release]) -> list[CollectionItem]:
    """New items whose releases have their missing fields filled from the catalogue entry of the same id.

    What the source already says wins; the input items are left untouched.
    """
    out: list[CollectionItem] = []
    for item in items:
        known = catalogue.get(item.release.id)
        out.append(dataclasses.replace(item, release=item.release.merged_with(known)) if known else item)
    return out
