"""The data behind the fake Discogs API: real releases and masters, shaped like real API JSON.

Sources, all bundled in ``data/``:

* ``data/discogs-api/discogs_client/tests/res/**`` – real API responses (python3-discogs-client's fixtures).
  They win wherever they exist (releases 1, 2, 3, 79, 3329867; master 4242; artists 1-3; labels 1, 31405).
* ``data/dump-sample/discogs_20200806_releases.xml.gz`` – 1,000 real releases with ids, labels, catalogue
  numbers, formats, tracklists and raw barcodes; parsed from the XML directly (not through
  ``core.ingest.readers.dump_xml``), so the API objects keep artist/label ids and Discogs' raw spellings.
* ``data/dump-sample/discogs_20200806_masters.xml.gz`` – 1,000 real masters.
* ``data/catalogue/*.jsonl`` – 4,325 real releases (title, year, artists, genres, styles), read with
  ``core.ingest.readers.catalogue.load_catalogue`` with the label and have/want side tables merged.

What the sources lack, the fake fills deterministically (seeded by the release id), so the same id always
gives the same object: artist/label ids of catalogue releases, catalogue numbers, formats, countries, barcodes
(valid EAN-13/UPC-A, written in Discogs' raw styles such as ``"5 012394 144777"``), tracklists, community
have/want/rating when unknown, images and marketplace prices. Every ``master_id`` resolves to a master and
every master's ``main_release`` to a release: masters missing from the sample are synthesised from their
releases (catalogue releases are grouped into masters by ``core.domain.release.album_key``; synthetic master ids
start at 90,000,001), and a dump master whose main release is missing gets that release synthesised from it.

URLs are stored as API paths (``/releases/1``, ``/image/...``) exactly as the bundled fixtures have them; the
server turns them into absolute URLs on its own base URL when it answers.
"""
from __future__ import annotations

import copy
import gzip
import json
import random
import re
import threading
import unicodedata
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from core.domain.release import Release, album_key
from core.ingest.readers.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
FIXTURES = DATA / "discogs-api" / "discogs_client" / "tests" / "res"
DUMP_RELEASES = DATA / "dump-sample" / "discogs_20200806_releases.xml.gz"
DUMP_MASTERS = DATA / "dump-sample" / "discogs_20200806_masters.xml.gz"
CATALOGUE_DIR = DATA / "catalogue"

WEB = "https://www.discogs.com"
SYNTHETIC_MASTER_BASE = 90_000_000

#: Rough exchange rates from USD, for marketplace prices in ``curr_abbr`` (the currencies Discogs accepts).
CURRENCY_RATES: dict[str, float] = {
    "USD": 1.0, "GBP": 0.79, "EUR": 0.92, "CAD": 1.36, "AUD": 1.52, "JPY": 150.0, "CHF": 0.88,
    "MXN": 17.0, "BRL": 5.0, "NZD": 1.65, "SEK": 10.5, "ZAR": 18.5,
}

_FORMATS: list[tuple[float, str, list[str], str]] = [
    # weight, name, descriptions, text
    (0.42, "Vinyl", ["LP", "Album"], ""),
    (0.24, "CD", ["Album"], ""),
    (0.14, "Vinyl", ['12"', "33 ⅓ RPM"], ""),
    (0.08, "Vinyl", ['7"', "45 RPM", "Single"], ""),
    (0.05, "Vinyl", ["LP", "Album", "Reissue"], "180g"),
    (0.04, "Cassette", ["Album"], ""),
    (0.03, "File", ["MP3", "Album"], "320 kbps"),
]
_COUNTRIES: list[tuple[float, str, str]] = [
    # weight, country, EAN prefix (UPC-A when "US"/"Canada")
    (0.26, "US", "0"), (0.2, "UK", "50"), (0.14, "Germany", "40"), (0.1, "Europe", "87"),
    (0.07, "France", "30"), (0.06, "Netherlands", "87"), (0.05, "Japan", "45"), (0.04, "Italy", "80"),
    (0.03, "Canada", "0"), (0.03, "Sweden", "73"), (0.02, "Spain", "84"),
]


def rng_for(*parts: Any) -> random.Random:
    """A ``random.Random`` seeded by ``parts`` (string seeds are stable across runs and processes)."""
    return random.Random(":".join(str(p) for p in parts))


def _weighted(rng: random.Random, options: list[tuple]) -> tuple:
    return rng.choices(options, weights=[o[0] for o in options], k=1)[0]


_non_alnum = re.compile(r"[^A-Za-z0-9]+")


def slug(text: str) -> str:
    """The URL slug Discogs puts after a web id: ``"The Persuader - Stockholm"`` → ``"The-Persuader-Stockholm"``."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _non_alnum.sub("-", s).strip("-")


def stable_id(kind: str, name: str, base: int = 5_000_000, span: int = 4_000_000) -> int:
    """A stable synthetic id for a named entity the source gives no id for."""
    return base + zlib.crc32(f"{kind}:{name.strip().lower()}".encode()) % span


def ean_check_digit(digits: str) -> str:
    """The check digit of an EAN-13 (12 digits in: weights 1,3,1,3...) or UPC-A (11 digits in: weights 3,1,...)."""
    first, second = (1, 3) if len(digits) == 12 else (3, 1)
    total = sum(int(d) * (first if i % 2 == 0 else second) for i, d in enumerate(digits))
    return str((10 - total % 10) % 10)


def digits_only(value: str) -> str:
    """Only the digits of ``value`` (how Discogs compares barcodes)."""
    return "".join(c for c in str(value) if c.isdigit())


def _synth_barcodes(rng: random.Random, prefix: str) -> list[dict[str, str]]:
    """Barcode identifiers written the ways Discogs users type them, for ~55% of releases."""
    if rng.random() > 0.55:
        return []
    if prefix == "0":  # UPC-A
        body = "0" + "".join(str(rng.randint(0, 9)) for _ in range(10))
        code = body + ean_check_digit(body)
        styles = [code, f"{code[0]} {code[1:6]} {code[6:11]} {code[11]}", f"{code[0]} {code[1:6]}-{code[6:11]}-{code[11]}"]
    else:
        body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(12 - len(prefix)))
        code = body + ean_check_digit(body)
        styles = [code, f"{code[0]} {code[1:7]} {code[7:]}", f"{code[0]}-{code[1:7]}-{code[7:]}"]
    raw = rng.choice(styles)
    out = [{"type": "Barcode", "value": raw, "description": "Text"} if raw != code else {"type": "Barcode", "value": raw}]
    if raw != code and rng.random() < 0.4:
        out.append({"type": "Barcode", "value": code, "description": "Scanned"})
    return out


def _images(rid: int, n: int, kind: str = "R") -> tuple[list[dict[str, Any]], str, str]:
    """``images`` (API paths under ``/image/``), ``thumb`` and ``cover_image``; empty strings when none."""
    if n <= 0:
        return [], "", ""
    images = []
    for i in range(n):
        uri = f"/image/{kind}-{rid}-{i + 1}.jpeg"
        images.append({"type": "primary" if i == 0 else "secondary", "uri": uri, "resource_url": uri,
                       "uri150": f"/image/{kind}-150-{rid}-{i + 1}.jpeg", "width": 600, "height": 600})
    return images, images[0]["uri150"], images[0]["uri"]


def _artist_obj(name: str, aid: int, join: str = "", anv: str = "", role: str = "", tracks: str = "") -> dict[str, Any]:
    return {"name": name, "anv": anv, "join": join, "role": role, "tracks": tracks, "id": aid,
            "resource_url": f"/artists/{aid}"}


def _label_obj(name: str, catno: str, lid: int) -> dict[str, Any]:
    return {"name": name, "catno": catno, "entity_type": "1", "entity_type_name": "Label", "id": lid,
            "resource_url": f"/labels/{lid}"}


def _artists_sort(artists: list[dict[str, Any]]) -> str:
    out = ""
    for a in artists:
        out += (a.get("anv") or a["name"])
        join = (a.get("join") or "").strip()
        if join:
            out += f" {join} " if join != "," else ", "
    return out.strip()


def _catno(rng: random.Random, label: str) -> str:
    letters = "".join(w[0] for w in re.findall(r"[A-Za-z]+", label))[:4].upper() or "CAT"
    return f"{letters}{rng.randint(1, 999):03d}" if rng.random() < 0.8 else f"{letters} {rng.randint(1000, 99999)}"


def _tracklist(rng: random.Random, fmt_name: str, descriptions: list[str]) -> list[dict[str, Any]]:
    if fmt_name == "Vinyl" and '7"' in descriptions:
        positions = ["A", "B"]
    elif fmt_name == "Vinyl" and '12"' in descriptions:
        positions = ["A1", "A2", "B1", "B2"]
    elif fmt_name in ("Vinyl", "Cassette"):
        half = rng.randint(3, 6)
        positions = [f"A{i}" for i in range(1, half + 1)] + [f"B{i}" for i in range(1, half + 1)]
    else:
        positions = [str(i) for i in range(1, rng.randint(8, 14))]
    seconds = [120 + int(rng.random() * 420) for _ in positions]
    return [{"position": p, "type_": "track", "title": f"Track {n}", "duration": f"{sec // 60}:{sec % 60:02d}"}
            for n, (p, sec) in enumerate(zip(positions, seconds), 1)]


def community_numbers(rid: int, rng: random.Random | None = None) -> tuple[int, int, float, int]:
    """Deterministic ``(have, want, rating average, rating count)`` for a release without known figures."""
    rng = rng or rng_for("community", rid)
    have = int(rng.lognormvariate(5.3, 1.4)) + 1
    want = max(0, int(have * rng.uniform(0.08, 1.6)))
    count = max(0, int(have * rng.uniform(0.02, 0.2)))
    return have, want, (round(rng.uniform(3.1, 4.9), 2) if count else 0.0), count


def market_numbers(rid: int, currency: str = "USD", kind: str = "release") -> tuple[int, float | None]:
    """Deterministic ``(num_for_sale, lowest price in currency)``; the price is ``None`` when none are for sale."""
    rng = rng_for("market", kind, rid)
    num = 0 if rng.random() < 0.2 else rng.randint(1, 60)
    usd = round(max(0.99, rng.lognormvariate(2.6, 0.75)), 2)
    if num == 0:
        return 0, None
    rate = CURRENCY_RATES.get(currency.upper(), 1.0)
    value = round(usd * rate) if currency.upper() == "JPY" else round(usd * rate, 2)
    return num, float(value)


_EPOCH = datetime(2001, 1, 1, tzinfo=timezone(timedelta(hours=-8)))


def _date_pair(rid: int) -> tuple[str, str]:
    x = zlib.crc32(f"dates:{rid}".encode())
    added = _EPOCH + timedelta(seconds=x % (22 * 365 * 86400))
    changed = added + timedelta(seconds=(x >> 7) % (3 * 365 * 86400))
    return added.isoformat(), changed.isoformat()


def _community(rid: int, have: int | None = None, want: int | None = None, quality: str = "Needs Vote",
               rng: random.Random | None = None) -> dict[str, Any]:
    h, w, avg, count = community_numbers(rid, rng)
    return {
        "have": have if have is not None else h,
        "want": want if want is not None else w,
        "rating": {"count": count, "average": avg},
        "submitter": {"username": "fake-submitter", "resource_url": "/users/fake-submitter"},
        "contributors": [{"username": "fake-submitter", "resource_url": "/users/fake-submitter"}],
        "data_quality": quality,
        "status": "Accepted",
    }


def _released_formatted(released: str) -> str:
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    parts = released.split("-")
    if len(parts) >= 2 and parts[1].isdigit() and 1 <= int(parts[1]) <= 12:
        day = parts[2] if len(parts) > 2 and parts[2] not in ("", "00") else ""
        return (f"{day} " if day else "") + f"{months[int(parts[1]) - 1]} {parts[0]}"
    return parts[0] if parts and parts[0] else ""


def _year_of(released: str) -> int:
    m = re.match(r"(\d{4})", released or "")
    return int(m.group(1)) if m else 0


def _finish_release(obj: dict[str, Any]) -> dict[str, Any]:
    """Add the derived keys every release object carries (uri, artists_sort, format_quantity, dates...)."""
    rid = obj["id"]
    artists_sort = _artists_sort(obj.get("artists") or []) or "Unknown Artist"
    obj.setdefault("artists_sort", artists_sort)
    obj.setdefault("uri", f"{WEB}/release/{rid}-{slug(artists_sort + '-' + obj.get('title', ''))}")
    obj.setdefault("format_quantity", sum(int(f.get("qty") or 1) for f in obj.get("formats") or []) or 1)
    added, changed = _date_pair(rid)
    obj.setdefault("date_added", added)
    obj.setdefault("date_changed", changed)
    obj.setdefault("estimated_weight", 230 * obj["format_quantity"])
    obj.setdefault("blocked_from_sale", False)
    if obj.get("master_id"):
        obj.setdefault("master_url", f"/masters/{obj['master_id']}")
    return obj


def synth_release(rid: int, *, title: str, artists: list[dict[str, Any]], year: int | None, genres: list[str],
                  styles: list[str], label_names: Iterable[str] = (), master_id: int | None = None,
                  have: int | None = None, want: int | None = None) -> dict[str, Any]:
    """A complete release object for a release whose source only gives the basics."""
    rng = rng_for("release", rid)
    _, fmt_name, descriptions, fmt_text = _weighted(rng, _FORMATS)
    _, country, prefix = _weighted(rng, _COUNTRIES)
    labels = [_label_obj(n, _catno(rng, n), stable_id("label", n, 1_000_000, 2_000_000)) for n in label_names if n]
    if not labels:
        labels = [_label_obj("Not On Label", "none", 1818)]
    fmt: dict[str, Any] = {"name": fmt_name, "qty": "2" if rng.random() < 0.08 else "1", "descriptions": list(descriptions)}
    if fmt_text:
        fmt["text"] = fmt_text
    released = ""
    if year:
        released = str(year) if rng.random() < 0.5 else f"{year}-{rng.randint(1, 12):02d}-{rng.choice(['00', f'{rng.randint(1, 28):02d}'])}"
    images, thumb, cover = _images(rid, 0 if rng.random() < 0.08 else rng.randint(1, 4))
    obj: dict[str, Any] = {
        "id": rid, "status": "Accepted", "year": year or 0, "resource_url": f"/releases/{rid}",
        "artists": artists, "labels": labels, "series": [], "companies": [], "formats": [fmt],
        "data_quality": "Needs Vote", "community": _community(rid, have, want, rng=rng),
        "title": title, "country": country, "released": released, "notes": "",
        "released_formatted": _released_formatted(released),
        "identifiers": _synth_barcodes(rng, prefix), "videos": [], "genres": list(genres), "styles": list(styles),
        "tracklist": _tracklist(rng, fmt_name, descriptions), "extraartists": [],
    }
    if images:
        obj["images"] = images
    obj["thumb"] = thumb
    obj["cover_image"] = cover
    if master_id:
        obj["master_id"] = master_id
    return _finish_release(obj)


def _t(elem: ET.Element | None, path: str) -> str:
    if elem is None:
        return ""
    return (elem.findtext(path) or "").strip()


def _xml_artists(elem: ET.Element, path: str) -> list[dict[str, Any]]:
    out = []
    for a in elem.findall(path):
        aid = int(_t(a, "id") or 0) or stable_id("artist", _t(a, "name"))
        out.append(_artist_obj(_t(a, "name"), aid, _t(a, "join"), _t(a, "anv"), _t(a, "role"), _t(a, "tracks")))
    return out


def _xml_videos(elem: ET.Element) -> list[dict[str, Any]]:
    return [{"uri": v.get("src", ""), "title": _t(v, "title"), "description": _t(v, "description"),
             "duration": int(v.get("duration") or 0), "embed": v.get("embed") == "true"}
            for v in elem.findall("videos/video")]


def _release_from_xml(elem: ET.Element) -> dict[str, Any]:
    rid = int(elem.get("id") or 0)
    rng = rng_for("release", rid)
    released = _t(elem, "released")
    labels = [_label_obj(lab.get("name", ""), lab.get("catno", ""), int(lab.get("id") or 0)
                         or stable_id("label", lab.get("name", ""), 1_000_000, 2_000_000))
              for lab in elem.findall("labels/label")]
    formats = []
    for f in elem.findall("formats/format"):
        fmt: dict[str, Any] = {"name": f.get("name", ""), "qty": f.get("qty") or "1",
                               "descriptions": [(d.text or "").strip() for d in f.findall("descriptions/description")]}
        if f.get("text"):
            fmt["text"] = f.get("text")
        formats.append(fmt)
    tracklist = [{"position": _t(tr, "position"), "type_": "track", "title": _t(tr, "title"),
                  "duration": _t(tr, "duration")} for tr in elem.findall("tracklist/track")]
    identifiers = []
    for i in elem.findall("identifiers/identifier"):
        ident = {"type": i.get("type", ""), "value": i.get("value", "")}
        if i.get("description"):
            ident["description"] = i.get("description")
        identifiers.append(ident)
    companies = [{"name": _t(c, "name"), "catno": _t(c, "catno"), "entity_type": _t(c, "entity_type"),
                  "entity_type_name": _t(c, "entity_type_name"), "id": int(_t(c, "id") or 0),
                  "resource_url": f"/labels/{_t(c, 'id')}"} for c in elem.findall("companies/company")]
    images, thumb, cover = _images(rid, len(elem.findall("images/image")))
    master = elem.find("master_id")
    quality = _t(elem, "data_quality") or "Needs Vote"
    obj: dict[str, Any] = {
        "id": rid, "status": elem.get("status") or "Accepted", "year": _year_of(released),
        "resource_url": f"/releases/{rid}", "artists": _xml_artists(elem, "artists/artist"), "labels": labels,
        "series": [], "companies": companies, "formats": formats, "data_quality": quality,
        "community": _community(rid, quality=quality), "title": _t(elem, "title"), "country": _t(elem, "country"),
        "released": released, "notes": elem.findtext("notes") or "", "released_formatted": _released_formatted(released),
        "identifiers": identifiers, "videos": _xml_videos(elem),
        "genres": [(g.text or "").strip() for g in elem.findall("genres/genre")],
        "styles": [(s.text or "").strip() for s in elem.findall("styles/style")],
        "tracklist": tracklist or _tracklist(rng, formats[0]["name"] if formats else "CD", []),
        "extraartists": _xml_artists(elem, "extraartists/artist"),
    }
    if images:
        obj["images"] = images
    obj["thumb"] = thumb
    obj["cover_image"] = cover
    if master is not None and (master.text or "").strip().isdigit():
        obj["master_id"] = int(master.text.strip())
        obj["_is_main_release"] = master.get("is_main_release") == "true"
    return _finish_release(obj)


def _master_obj(mid: int, main: dict[str, Any], *, title: str | None = None, year: int | None = None,
                artists: list[dict[str, Any]] | None = None, genres: list[str] | None = None,
                styles: list[str] | None = None, videos: list[dict[str, Any]] | None = None,
                n_images: int | None = None, quality: str = "Correct") -> dict[str, Any]:
    title = title if title is not None else main.get("title", "")
    artists = artists if artists is not None else list(main.get("artists") or [])
    images, thumb, cover = _images(mid, 1 if n_images is None else n_images, kind="M")
    obj: dict[str, Any] = {
        "id": mid, "main_release": main["id"], "most_recent_release": main["id"],
        "resource_url": f"/masters/{mid}", "uri": f"{WEB}/master/{mid}-{slug(_artists_sort(artists) + '-' + title)}",
        "versions_url": f"/masters/{mid}/versions", "main_release_url": f"/releases/{main['id']}",
        "most_recent_release_url": f"/releases/{main['id']}",
        "genres": genres if genres is not None else list(main.get("genres") or []),
        "styles": styles if styles is not None else list(main.get("styles") or []),
        "year": year if year is not None else int(main.get("year") or 0),
        "tracklist": main.get("tracklist") or [], "artists": artists, "title": title,
        "data_quality": quality, "videos": videos if videos is not None else main.get("videos") or [],
    }
    if images:
        obj["images"] = images
    obj["thumb"] = thumb
    obj["cover_image"] = cover
    return obj


def _load_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _augment_fixture_release(obj: dict[str, Any], dump: dict[str, Any] | None) -> dict[str, Any]:
    """A fixture release with the keys today's API adds that the (older) fixture lacks; fixture values win."""
    rid = obj["id"]
    if "identifiers" not in obj:
        obj["identifiers"] = copy.deepcopy(dump["identifiers"]) if dump else []
    obj.setdefault("community", _community(rid, quality=obj.get("data_quality", "Needs Vote")))
    obj.setdefault("cover_image", (obj.get("images") or [{}])[0].get("uri", "") if obj.get("images") else "")
    obj.setdefault("thumb", "")
    return _finish_release(obj)


@dataclass
class SearchDoc:
    """What the search endpoint matches one release on."""

    id: int
    text: str
    barcodes: frozenset[str]
    artist: str
    title: str
    labels: str
    catnos: str
    year: str
    country: str
    genres: frozenset[str]
    styles: frozenset[str]
    formats: frozenset[str]
    popularity: int


def norm(s: str) -> str:
    """Accent-folded, lower-cased, punctuation-free text for matching."""
    s = unicodedata.normalize("NFKD", s or "")
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", s).split())


def search_doc(rel: dict[str, Any]) -> SearchDoc:
    """The search index entry of a release object."""
    artist = rel.get("artists_sort") or ""
    labels = " ".join(lab.get("name", "") for lab in rel.get("labels") or [])
    catnos = " ".join(lab.get("catno", "") for lab in rel.get("labels") or [])
    barcodes = frozenset(d for d in (digits_only(i.get("value", "")) for i in rel.get("identifiers") or []
                                     if i.get("type") == "Barcode") if d)
    formats = frozenset(norm(x) for f in rel.get("formats") or [] for x in [f.get("name", ""), *(f.get("descriptions") or [])])
    return SearchDoc(
        id=rel["id"], text=norm(" ".join([artist, rel.get("title", ""), labels, catnos])),
        barcodes=barcodes, artist=norm(artist), title=norm(rel.get("title", "")), labels=norm(labels),
        catnos=norm(catnos), year=str(rel.get("year") or ""), country=norm(rel.get("country", "")),
        genres=frozenset(norm(g) for g in rel.get("genres") or []), styles=frozenset(norm(s) for s in rel.get("styles") or []),
        formats=formats, popularity=int((rel.get("community") or {}).get("have") or 0),
    )


@dataclass
class Dataset:
    """Everything the fake serves that does not change while it runs.

    Treat every object in it as read-only: the server builds new objects from them for each response.
    """

    releases: dict[int, dict[str, Any]] = field(default_factory=dict)
    masters: dict[int, dict[str, Any]] = field(default_factory=dict)
    versions: dict[int, list[int]] = field(default_factory=dict)
    versions_fixture: dict[int, dict[str, Any]] = field(default_factory=dict)
    artists: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[int, dict[str, Any]] = field(default_factory=dict)
    catalogue_ids: list[int] = field(default_factory=list)
    dump_ids: list[int] = field(default_factory=list)
    fixture_release_ids: list[int] = field(default_factory=list)
    fixture_listings: list[dict[str, Any]] = field(default_factory=list)
    _search_docs: dict[int, SearchDoc] | None = None
    _master_texts: dict[int, str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def search_docs(self) -> dict[int, SearchDoc]:
        """The search index of every release, built on first use."""
        with self._lock:
            if self._search_docs is None:
                self._search_docs = {rid: search_doc(rel) for rid, rel in self.releases.items()}
            return self._search_docs

    @property
    def master_search_texts(self) -> dict[int, str]:
        """Normalised "artists title" of every master, for text search; built on first use."""
        with self._lock:
            if self._master_texts is None:
                self._master_texts = {
                    mid: norm(" ".join([" ".join(a.get("name", "") for a in m.get("artists") or []), m.get("title", "")]))
                    for mid, m in self.masters.items()}
            return self._master_texts

    @property
    def pool_ids(self) -> list[int]:
        """The ids user collections are drawn from: the catalogue's 4,325 then the dump sample's 1,000 (distinct)."""
        return self.catalogue_ids + self.dump_ids

    def barcoded_dump_releases(self) -> list[tuple[int, str]]:
        """``(release id, raw barcode)`` for each real barcode in the dump sample, e.g. ``(4, "0 9362-47555-2 4")``."""
        out = []
        for rid in self.dump_ids:
            for ident in self.releases[rid].get("identifiers") or []:
                if ident.get("type") == "Barcode" and digits_only(ident.get("value", "")):
                    out.append((rid, ident["value"]))
        return out


def _parse_dump(path: Path, tag: str) -> list[ET.Element]:
    with gzip.open(path, "rb") as fh:
        root = ET.parse(fh).getroot()
    return [e for e in root if e.tag == tag]


@lru_cache(maxsize=1)
def load_dataset() -> Dataset:
    """Build (once per process) the fake's release and master objects from the bundled data."""
    ds = Dataset()
    # 1. dump releases (raw XML, real ids).
    dump: dict[int, dict[str, Any]] = {}
    for elem in _parse_dump(DUMP_RELEASES, "release"):
        obj = _release_from_xml(elem)
        if obj["id"]:
            dump[obj["id"]] = obj
    ds.dump_ids = sorted(dump)
    ds.releases.update(dump)
    # 2. catalogue releases (core reader, side tables merged).
    catalogue: dict[int, Release] = load_catalogue(CATALOGUE_DIR / "releases.jsonl", CATALOGUE_DIR / "labels.jsonl",
                                                   CATALOGUE_DIR / "community.jsonl")
    ds.catalogue_ids = sorted(rid for rid in catalogue if rid not in dump)
    for rid in ds.catalogue_ids:
        r = catalogue[rid]
        names = r.artists or ["Unknown Artist"]
        artists = [_artist_obj(n, stable_id("artist", n), "," if i < len(names) - 1 else "") for i, n in enumerate(names)]
        ds.releases[rid] = synth_release(rid, title=r.title, artists=artists, year=r.year, genres=r.genres,
                                         styles=r.styles, label_names=r.labels, master_id=r.master_id,
                                         have=r.have, want=r.want)
    # 3. fixture releases win.
    for path in sorted((FIXTURES / "releases").glob("*.json")):
        obj = _load_json(path)
        ds.releases[obj["id"]] = _augment_fixture_release(obj, dump.get(obj["id"]))
        ds.fixture_release_ids.append(obj["id"])
    # 4. masters: fixture, then dump masters (synthesising missing main releases).
    fixture_master = _load_json(FIXTURES / "masters" / "4242.json")
    ds.masters[4242] = fixture_master
    ds.versions_fixture[4242] = _load_json(FIXTURES / "masters" / "4242" / "versions_per_page=50&page=1.json")
    for elem in _parse_dump(DUMP_MASTERS, "master"):
        mid = int(elem.get("id") or 0)
        main_id = int(_t(elem, "main_release") or 0)
        if not mid or not main_id or mid in ds.masters:
            continue
        artists = _xml_artists(elem, "artists/artist")
        genres = [(g.text or "").strip() for g in elem.findall("genres/genre")]
        styles = [(s.text or "").strip() for s in elem.findall("styles/style")]
        year = int(_t(elem, "year") or 0)
        if main_id not in ds.releases:
            ds.releases[main_id] = synth_release(main_id, title=_t(elem, "title"), artists=artists,
                                                 year=year, genres=genres, styles=styles, master_id=mid)
        main = ds.releases[main_id]
        main.setdefault("master_id", mid)
        main.setdefault("master_url", f"/masters/{mid}")
        ds.masters[mid] = _master_obj(mid, main, title=_t(elem, "title"), year=year, artists=artists, genres=genres,
                                      styles=styles, videos=_xml_videos(elem), n_images=len(elem.findall("images/image")),
                                      quality=_t(elem, "data_quality") or "Correct")
    # 5. masters referenced by releases but missing: synthesised from their main (or lowest-id) release.
    groups: dict[int, list[int]] = {}
    for rid, rel in ds.releases.items():
        if rel.get("master_id"):
            groups.setdefault(rel["master_id"], []).append(rid)
    for mid, rids in groups.items():
        if mid not in ds.masters:
            mains = [r for r in sorted(rids) if ds.releases[r].get("_is_main_release")]
            ds.masters[mid] = _master_obj(mid, ds.releases[(mains or sorted(rids))[0]])
    # 6. catalogue releases without a master: one synthetic master per album (artist + title).
    albums: dict[str, list[int]] = {}
    for rid in ds.catalogue_ids:
        if not ds.releases[rid].get("master_id"):
            albums.setdefault(album_key(catalogue[rid]), []).append(rid)
    for n, key in enumerate(sorted(albums, key=lambda k: min(albums[k])), 1):
        mid = SYNTHETIC_MASTER_BASE + n
        rids = sorted(albums[key])
        for rid in rids:
            ds.releases[rid]["master_id"] = mid
            ds.releases[rid]["master_url"] = f"/masters/{mid}"
        ds.masters[mid] = _master_obj(mid, ds.releases[rids[0]])
    # 7. versions, search index, artists/labels fixtures.
    for rid, rel in ds.releases.items():
        rel.pop("_is_main_release", None)
        if rel.get("master_id"):
            ds.versions.setdefault(rel["master_id"], []).append(rid)
    for v in ds.versions.values():
        v.sort()
    for path in sorted((FIXTURES / "artists").glob("*.json")):
        obj = _load_json(path)
        ds.artists[obj["id"]] = obj
    inventory = _load_json(FIXTURES / "users" / "example" / "inventory_per_page=50&page=1.json")
    ds.fixture_listings = list(inventory.get("listings") or [])
    for path in sorted((FIXTURES / "labels").glob("*.json")):
        obj = _load_json(path)
        ds.labels[obj["id"]] = obj
    return ds


def basic_information(rel: dict[str, Any]) -> dict[str, Any]:
    """The ``basic_information`` object of a collection or wantlist entry for a release object."""
    return {
        "id": rel["id"],
        "master_id": rel.get("master_id") or 0,
        "master_url": rel.get("master_url") if rel.get("master_id") else None,
        "resource_url": rel.get("resource_url") or f"/releases/{rel['id']}",
        "thumb": rel.get("thumb", ""),
        "cover_image": rel.get("cover_image", ""),
        "title": rel.get("title", ""),
        "year": rel.get("year") or 0,
        "formats": rel.get("formats") or [],
        "labels": rel.get("labels") or [],
        "artists": rel.get("artists") or [],
        "genres": list(rel.get("genres") or []),
        "styles": list(rel.get("styles") or []),
    }


def search_result(rel: dict[str, Any], *, in_collection: bool = False, in_wantlist: bool = False) -> dict[str, Any]:
    """A ``type: release`` entry of ``GET /database/search`` for a release object.

    ``barcode`` lists the release's identifier values as Discogs stores them (raw, with spaces and dashes),
    barcodes first: the real API puts other identifiers (matrix/runout, label codes...) in this list too.
    """
    community = rel.get("community") or {}
    formats = rel.get("formats") or []
    flat_format: list[str] = []
    for f in formats:
        for x in [f.get("name", ""), *(f.get("descriptions") or []), f.get("text", "")]:
            if x:
                flat_format.append(x)
    idents = rel.get("identifiers") or []
    barcode = [i["value"] for i in idents if i.get("type") == "Barcode"] + \
              [i["value"] for i in idents if i.get("type") != "Barcode" and i.get("value")]
    labels = rel.get("labels") or []
    title = f"{rel.get('artists_sort') or 'Unknown Artist'} - {rel.get('title', '')}"
    return {
        "country": rel.get("country", ""),
        "year": str(rel["year"]) if rel.get("year") else None,
        "format": flat_format,
        "label": [lab.get("name", "") for lab in labels],
        "type": "release",
        "genre": list(rel.get("genres") or []),
        "style": list(rel.get("styles") or []),
        "id": rel["id"],
        "barcode": barcode,
        "user_data": {"in_wantlist": in_wantlist, "in_collection": in_collection},
        "master_id": rel.get("master_id") or 0,
        "master_url": rel.get("master_url") if rel.get("master_id") else None,
        "uri": f"/release/{rel['id']}-{slug(title)}",
        "catno": labels[0].get("catno", "") if labels else "",
        "title": title,
        "thumb": rel.get("thumb", ""),
        "cover_image": rel.get("cover_image", ""),
        "resource_url": f"/releases/{rel['id']}",
        "community": {"want": int(community.get("want") or 0), "have": int(community.get("have") or 0)},
        "format_quantity": rel.get("format_quantity", 1),
        "formats": formats,
    }


def master_search_result(master: dict[str, Any], main: dict[str, Any] | None) -> dict[str, Any]:
    """A ``type: master`` entry of ``GET /database/search``."""
    title = f"{_artists_sort(master.get('artists') or []) or 'Unknown Artist'} - {master.get('title', '')}"
    base = search_result(main) if main else {}
    return {
        "country": base.get("country", ""), "year": str(master["year"]) if master.get("year") else None,
        "format": base.get("format", []), "label": base.get("label", []), "type": "master",
        "genre": list(master.get("genres") or []), "style": list(master.get("styles") or []), "id": master["id"],
        "barcode": base.get("barcode", []), "master_id": master["id"], "master_url": f"/masters/{master['id']}",
        "uri": f"/master/{master['id']}-{slug(title)}", "catno": base.get("catno", ""), "title": title,
        "thumb": master.get("thumb", ""), "cover_image": master.get("cover_image", ""),
        "resource_url": f"/masters/{master['id']}", "community": base.get("community", {"want": 0, "have": 0}),
    }


def version_entry(rel: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``GET /masters/{id}/versions``."""
    formats = rel.get("formats") or []
    fmt = ", ".join(d for f in formats for d in [*(f.get("descriptions") or []), f.get("text", "")] if d)
    labels = rel.get("labels") or []
    community = rel.get("community") or {}
    return {
        "id": rel["id"], "label": labels[0]["name"] if labels else "", "country": rel.get("country", ""),
        "title": rel.get("title", ""), "major_formats": [f.get("name", "") for f in formats], "format": fmt,
        "catno": labels[0].get("catno", "") if labels else "", "released": str(rel.get("released") or rel.get("year") or ""),
        "status": rel.get("status", "Accepted"), "resource_url": f"/releases/{rel['id']}",
        "thumb": rel.get("thumb", ""),
        "stats": {"community": {"in_wantlist": int(community.get("want") or 0), "in_collection": int(community.get("have") or 0)},
                  "user": {"in_wantlist": 0, "in_collection": 0}},
    }
