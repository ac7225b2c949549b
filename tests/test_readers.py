"""Readers against the real bundled data, and real-shaped variants of it written to tmp_path."""
from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from core.domain.release import Release
from core.ingest.readers import ReaderError, detect_format, read_collection
from core.ingest.readers.api_json import items_from_page, read_api_pages, release_from_api
from core.ingest.readers.bundled_json import MASTER_ONLY, read_bundled_json
from core.ingest.readers.catalogue import enrich_from_catalogue, load_catalogue
from core.ingest.readers.common import parse_date, parse_format_string
from core.ingest.readers.csv_export import read_csv_export
from core.ingest.readers.dump_xml import iter_dump_releases, read_dump

DATA = Path(__file__).resolve().parent.parent / "data"
COLL = DATA / "collections"
MOUSE = COLL / "mouse-reeve"
API = DATA / "discogs-api" / "discogs_client" / "tests" / "res"
DUMP = DATA / "dump-sample"


def by_id(result):
    return {i.release.id: i for i in result.items}


def mouse_rows(name: str = "collection.csv") -> tuple[list[str], list[list[str]]]:
    with open(MOUSE / name, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]], **kw) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", **kw)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


# ---------------------------------------------------------------- CSV export, real files

def test_csv_collection_real_file():
    res = read_csv_export(MOUSE / "collection.csv")
    assert len(res.items) == 68 and res.skipped == []
    items = by_id(res)
    first = res.items[0]
    assert first.release.id == 4235004 and first.release.title == "Shrines"
    assert first.date_added == date(2014, 12, 5)
    assert first.list_name == "collection" and first.source == "csv" and first.rating is None
    assert first.release.formats == ["Vinyl"]
    assert first.release.format_descriptions == ["LP", "Album", "Gatefold"]
    neko = items[4860518].release
    assert neko.labels == ["Anti-", "Lady Pilot"]
    assert neko.formats == ["Vinyl", "CD"]
    assert "Single Sided" in neko.format_descriptions and "Deluxe Edition" in neko.format_descriptions
    assert items[2183622].release.artists == ["Broken Bells"]          # "(2)" dropped
    assert items[6060531].release.year is None                         # Released 0
    beatles = items[2030121].release
    assert beatles.labels == ["Capitol Records", "Apple Records"]
    assert beatles.catnos == ["SMAS 2653", "2653", "SMAS-2653"]
    assert items[6526514].release.formats == ["Vinyl", "Box Set"]
    assert items[6275857].release.title == "Never Mind The Bollocks Here's The Sex Pistols"
    assert all(i.release.genres == [] for i in res.items)              # the export has none


def test_csv_wantlist_trailing_date_column():
    res = read_csv_export(MOUSE / "wantlist.csv")
    assert len(res.items) == 29 and res.skipped == []
    assert {i.list_name for i in res.items} == {"wantlist"}
    items = by_id(res)
    assert items[4619668].date_added == date(2014, 12, 6)
    assert items[426010].date_added == date(2014, 12, 3)
    assert items[5626668].release.catnos == ["3773993"]                # "none" dropped
    assert all(i.date_added is not None for i in res.items)


def test_csv_list_name_override():
    res = read_csv_export(MOUSE / "collection.csv", list_name="wantlist")
    assert res.items[0].list_name == "wantlist"


# ---------------------------------------------------------------- CSV export, variants from the wild

def test_csv_pandas_index_column(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(MOUSE / "collection.csv")
    df.loc[3, "release_id"] = None          # a hole turns the column into floats: 4235004.0
    out = tmp_path / "export.csv"
    df.to_csv(out)                          # index=True: unnamed leading 0,1,2... column
    assert out.read_text(encoding="utf-8").startswith(",Catalog#,")
    res = read_csv_export(out)
    assert len(res.items) == 67
    assert res.skipped == [("export.csv line 5", "missing release_id")]
    assert res.items[0].release.id == 4235004 and res.items[0].release.catnos == ["CAD3218"]
    assert res.items[0].date_added == date(2014, 12, 5)


def test_csv_r_mangled_headers_with_row_names_and_na(tmp_path):
    header, rows = mouse_rows()
    r_header = ["", "Catalog.", "Artist", "Title", "Label", "Format", "Rating", "Released", "release.id",
                "CollectionFolder", "Date.Added", "Collection.Media.Condition", "Collection.Sleeve.Condition",
                "Collection.Purchased.At", "Collection.Color"]
    assert len(r_header) == len(header) + 1
    r_rows = [[str(n)] + [c if c else "NA" for c in row] for n, row in enumerate(rows[:10], 1)]
    path = write_csv(tmp_path / "r.csv", r_header, r_rows, quoting=csv.QUOTE_ALL)
    res = read_csv_export(path)
    assert [i.release.id for i in res.items][:3] == [4235004, 103386, 3351731]
    assert len(res.items) == 10
    assert res.items[1].date_added == date(2014, 12, 8)
    assert res.items[1].rating is None                  # "NA"
    assert res.items[0].release.catnos == ["CAD3218"]
    assert res.items[0].list_name == "collection"


def test_csv_day_first_dates_semicolons_and_price_column(tmp_path):
    header, rows = mouse_rows()
    header = header + ["Collection Price"]
    out = []
    for row in rows[:6]:
        d = date.fromisoformat(row[9][:10])
        row = list(row)
        row[9] = d.strftime("%d/%m/%Y")
        out.append(row + ["12,50 €"])
    out[1][9] = "08.12.2014 13:01"          # German style for one row
    path = write_csv(tmp_path / "eu.csv", header, out, delimiter=";")
    res = read_csv_export(path)
    got = [(i.release.id, i.date_added) for i in res.items]
    assert got[:3] == [(4235004, date(2014, 12, 5)), (103386, date(2014, 12, 8)), (3351731, date(2015, 11, 21))]
    assert res.items[0].price_paid == 12.5 and res.items[0].currency == "EUR"


def test_csv_month_first_column_detected(tmp_path):
    header, rows = mouse_rows()
    out = []
    for row in rows[:4]:
        row = list(row)
        row[9] = date.fromisoformat(row[9][:10]).strftime("%m/%d/%Y")   # 12/05/2014, 11/21/2015 ...
        out.append(row)
    res = read_csv_export(write_csv(tmp_path / "us.csv", header, out))
    assert [i.date_added for i in res.items][:3] == [date(2014, 12, 5), date(2014, 12, 8), date(2015, 11, 21)]


def test_csv_bad_rows_are_skipped_with_reasons(tmp_path):
    header, rows = mouse_rows("wantlist.csv")
    rows = [list(r) for r in rows[:5]]
    rows[1][7] = ""
    rows[2][7] = "abc"
    rows[3][7] = "4.62E+06"                 # what Excel does to a long id
    path = write_csv(tmp_path / "wantlist.csv", header, rows)
    res = read_csv_export(path)
    assert [i.release.id for i in res.items] == [4619668, 74260]
    assert res.skipped == [
        ("wantlist.csv line 3", "missing release_id"),
        ("wantlist.csv line 4 (release_id='abc')", "invalid release_id"),
        ("wantlist.csv line 5 (release_id='4.62E+06')", "invalid release_id"),
    ]
    assert "skipped 3: 2× invalid release_id; 1× missing release_id" in res.summary()


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"\n\n  \n", "file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file"),
    (b"name,age\nbob,3\n", "not a Discogs CSV export"),
    (b"Catalog#,Artist,Title,Label,Format\nCAD3218,Purity Ring,Shrines,4AD,LP\n", "without a release_id column"),
])
def test_csv_broken_files_raise(tmp_path, content, message):
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=message):
        read_csv_export(path)


def test_csv_missing_file_raises(tmp_path):
    with pytest.raises(ReaderError, match="file not found"):
        read_csv_export(tmp_path / "nope.csv")


def test_csv_utf16_excel_export(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes((MOUSE / "collection.csv").read_text(encoding="utf-8").encode("utf-16"))
    res = read_csv_export(path)
    assert len(res.items) == 68
    assert by_id(res)[3351731].release.artists == ["Chœur Des Moines De L'Abbaye D'En-Calcat"]


def test_format_string_parsing():
    assert parse_format_string("2xLP, Album, Gat") == (["Vinyl"], ["LP", "Album", "Gatefold"])
    assert parse_format_string('LP + 7" + Album') == (["Vinyl"], ["LP", '7"', "Album"])
    assert parse_format_string("2xLP, Album + DVD-V") == (["Vinyl", "DVD"], ["LP", "Album", "DVD-Video"])
    assert parse_format_string("CD, Album") == (["CD"], ["Album"])
    assert parse_format_string("") == ([], [])


@pytest.mark.parametrize("raw, order, expected", [
    ("2014-12-05 20:23:02", "dmy", date(2014, 12, 5)),
    ("2015-04-14T03:23:29-07:00", "dmy", date(2015, 4, 14)),
    ("25/12/2014", "dmy", date(2014, 12, 25)),
    ("25.12.2014 13:01", "mdy", date(2014, 12, 25)),     # dots are always day-first
    ("12/25/2014", "mdy", date(2014, 12, 25)),
    ("05/12/14", "dmy", date(2014, 12, 5)),
    ("1999-03-00", "dmy", None),
    ("yesterday", "dmy", None),
])
def test_parse_date(raw, order, expected):
    assert parse_date(raw, order) == expected


# ---------------------------------------------------------------- API JSON

def load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_release_from_full_api_object():
    r = release_from_api(load(API / "releases" / "3.json"))
    assert (r.id, r.title, r.artists, r.year) == (3, "Profound Sounds Vol. 1", ["Josh Wink"], 1999)
    assert r.master_id == 66526 and r.country == "US"
    assert r.labels == ["Ruffhouse Records"] and r.catnos == ["CK 63628"]
    assert r.formats == ["CD"] and r.format_descriptions == ["Compilation", "Mixed"]
    assert r.genres == ["Electronic"] and r.styles == ["Techno", "Tech House"]
    assert r.barcodes == ["074646362822"]
    assert r.thumb == "/image/R-150-3-1287135004.jpeg"


def test_release_from_api_multi_artist_no_master_catno_none():
    r = release_from_api(load(API / "releases" / "3329867.json"))
    assert r.artists == ["Trash80", "Dma-Sc"]
    assert r.master_id is None and r.catnos == [] and r.labels == ["Not On Label"]
    two = release_from_api(load(API / "releases" / "2.json"))
    assert two.labels == ["Svek"] and two.catnos == ["SK 026", "SK026"] and two.barcodes == []


def test_release_from_api_community_and_price():
    obj = load(API / "releases" / "1.json")
    obj.update(community={"have": 120, "want": 300, "rating": {"count": 40, "average": 4.6}},
               lowest_price=12.99, genres=["electronic", "Not A Genre"], styles=["deep house"])
    r = release_from_api(obj)
    assert (r.have, r.want, r.community_rating, r.lowest_price) == (120, 300, 4.6, 12.99)
    assert r.genres == ["Electronic"] and r.styles == ["Deep House"]
    obj["community"]["rating"] = {"count": 0, "average": 0}
    assert release_from_api(obj).community_rating is None
    with pytest.raises(ValueError):
        release_from_api({"title": "no id"})


def test_items_from_wantlist_page():
    items = items_from_page(load(API / "users" / "example" / "wants_per_page=50&page=1.json"))
    assert len(items) == 3 and {i.list_name for i in items} == {"wantlist"}
    assert items[0].release.id == 1867708 and items[0].rating == 4
    assert items[0].release.format_descriptions == ["Album"]


def test_items_from_collection_page_rating_zero_is_none():
    page = load(API / "users" / "example" / "collection" / "folders" / "0" / "releases_page=1&per_page=50.json")
    items = items_from_page(page, "collection")
    assert items[0].release.id == 6794957 and items[0].rating is None
    assert items[0].date_added == date(2015, 4, 14)
    assert items[0].release.styles == ["Downtempo", "Dub", "Trip Hop"]
    assert items_from_page(page, "releases")[0].list_name == "collection"


def test_read_api_pages_directory_and_order():
    pages = sorted((COLL / "omarramos16").glob("*.json"))
    res = read_api_pages(COLL / "omarramos16")
    assert len(res.items) == 103 and res.skipped == []
    assert len({i.release.id for i in res.items}) == 103
    assert res.items[0].release.id == 6102844 and res.items[0].date_added == date(2026, 3, 8)
    assert res.items[50].release.id == 27940302            # page 2 starts here
    assert res.items[-1].release.id == 7714672
    reversed_res = read_api_pages(list(reversed(pages)) + [pages[0]])   # order by page; repeats kept once
    assert [i.release.id for i in reversed_res.items] == [i.release.id for i in res.items]
    mac = by_id(res)[14876569].release
    assert mac.genres == ["Hip Hop", "Funk / Soul"] and mac.styles == ["Conscious", "Contemporary R&B"]


def test_api_page_entry_without_id_is_skipped(tmp_path):
    page = load(COLL / "omarramos16" / "discogs_response_page_3_50perpage_only3releases.json")
    del page["releases"][1]["basic_information"]["id"]
    del page["releases"][1]["id"]
    path = tmp_path / "p3.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    res = read_api_pages([path])
    assert len(res.items) == 2
    assert res.skipped == [("p3.json releases[1]", "missing release id")]


# ---------------------------------------------------------------- bundled JSON

def test_lanebecker_collection():
    res = read_collection(COLL / "lanebecker" / "collection.json")
    assert len(res.items) == 1853 and res.skipped == []
    items = by_id(res)
    r = items[37759599]
    assert r.release.artists == ["The Raveonettes"] and r.release.labels == ["Music On Vinyl"]
    assert (r.release.lowest_price, r.release.price_currency) == (39.2, "USD")
    assert (r.release.community_rating, r.release.have, r.release.want) == (4.53, 141, 24)
    assert r.date_added == date(2026, 8, 8) and r.rating is None and r.source == "lanebecker-json"
    assert sum(1 for i in res.items if i.rating) == 10      # the rest are 0 → None
    assert items[38088933].release.lowest_price is None and items[38088933].release.price_currency is None


def test_purchases_json():
    res = read_collection(COLL / "kyle-seongwoo-jun" / "purchases.json")
    assert len(res.items) == 128
    first = res.items[0]
    assert first.release.id == 3074060 and first.release.country == "Japan"
    assert (first.price_paid, first.currency, first.date_added) == (3290.0, "JPY", date(2025, 1, 26))
    assert first.release.styles[:2] == ["Kayōkyoku", "Pop Rock"]
    assert first.release.format_descriptions == ["Album"]
    assert {i.release.country for i in res.items} == {"Japan", "South Korea", "US & Europe"}


def test_tomerbenda_json():
    res = read_collection(COLL / "tomerbenda" / "discogs.json")
    assert len(res.items) == 119
    assert res.items[0].release.id == 396222 and res.items[0].date_added == date(2025, 8, 27)
    assert res.items[0].release.formats == ["Vinyl"]
    assert sum(1 for i in res.items if "Box Set" in i.release.formats) == 2


def test_url_list_master_only_rows_are_unresolved():
    res = read_collection(COLL / "nsmsn" / "vinyl.json")
    assert len(res.items) == 62
    assert len(res.unresolved) == 121
    assert res.unresolved[0] == {"master_id": 726600, "artist": "60,000,000 Buffalo",
                                 "title": "Nevada Jukebox", "year": 1972}
    reasons = [why for _, why in res.skipped]
    assert reasons.count(MASTER_ONLY) == 121 and reasons.count("no Discogs release URL") == 2
    allman = by_id(res)[1469396].release
    assert allman.year == 1971 and allman.master_id is None


def test_url_list_master_resolver():
    calls = []

    def resolver(ref):
        calls.append(ref["master_id"])
        return 9_000_001 if ref["master_id"] == 36627 else None

    res = read_collection(COLL / "nsmsn" / "vinyl.json", master_resolver=resolver)
    assert len(res.items) == 63 and len(res.unresolved) == 120 and len(calls) == 121
    toys = by_id(res)[9_000_001].release
    assert (toys.master_id, toys.artists, toys.title, toys.year) == (36627, ["Aerosmith"], "Toys in the Attic", 1975)


def test_json_shape_detected_from_content_not_name(tmp_path):
    odd = tmp_path / "export.csv"
    shutil.copy(COLL / "tomerbenda" / "discogs.json", odd)
    assert detect_format(odd) == "json"
    assert len(read_collection(odd).items) == 119
    page = tmp_path / "whatever.txt"
    shutil.copy(COLL / "omarramos16" / "discogs_response_page_3_50perpage_only3releases.json", page)
    res = read_collection(page, list_name="wantlist")
    assert len(res.items) == 3 and res.items[0].list_name == "wantlist"


def test_bundled_wrapped_records_and_unknown_shape(tmp_path):
    page = load(COLL / "omarramos16" / "discogs_response_page_3_50perpage_only3releases.json")
    res = read_bundled_json({"records": page["releases"]})
    assert [i.release.id for i in res.items][0] == 14876569
    with pytest.raises(ReaderError, match="unrecognised JSON shape"):
        read_bundled_json([{"foo": 1}, {"bar": 2}])


# ---------------------------------------------------------------- read_collection errors

@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"   \n", "file is empty"),
    (b'{"releases": [', "invalid JSON"),
    (b'{"hello": "world"}', "unrecognised JSON shape"),
    (b"[1, 2, 3]", "unrecognised JSON shape"),
    (b"\x00\x01\x02\x03binary", "binary file"),
])
def test_read_collection_errors(tmp_path, content, message):
    path = tmp_path / "input.json"
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=message):
        read_collection(path)


def test_read_collection_missing_and_empty_dir(tmp_path):
    with pytest.raises(ReaderError, match="file not found"):
        read_collection(tmp_path / "missing.csv")
    with pytest.raises(ReaderError, match="no API page files"):
        read_collection(tmp_path)


# ---------------------------------------------------------------- dump XML

def test_dump_gz_stream():
    releases = list(iter_dump_releases(DUMP / "discogs_20200806_releases.xml.gz"))
    assert len(releases) == 1000
    first = releases[0]
    assert (first.id, first.title, first.artists, first.year) == (1, "Stockholm", ["The Persuader"], 1999)
    assert first.master_id == 1660109 and first.country == "Sweden"
    assert first.labels == ["Svek"] and first.catnos == ["SK032"]
    assert first.formats == ["Vinyl"] and first.format_descriptions == ['12"', "33 ⅓ RPM"]
    assert first.genres == ["Electronic"] and first.styles == ["Deep House"]


def test_dump_single_release_plain_xml():
    res = read_collection(DUMP / "single_release.xml")
    assert len(res.items) == 1 and res.items[0].source == "dump-xml"
    r = res.items[0].release
    assert r.id == 3 and r.artists == ["Josh Wink"]     # track and extra artists left out
    assert r.barcodes == ["074646362822"] and r.master_id == 66526 and r.year == 1999


def test_dump_is_streamed(tmp_path):
    """A truncated dump still yields its leading releases before the parse error: nothing is read ahead."""
    with gzip.open(DUMP / "discogs_20200806_releases.xml.gz", "rb") as fh:
        head = fh.read(200_000)
    path = tmp_path / "truncated.xml.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(head)
    stream = iter_dump_releases(path)
    assert next(stream).id == 1
    seen = 1
    with pytest.raises(ReaderError, match="malformed XML"):
        for _ in stream:
            seen += 1
    assert 1 < seen < 1000


def test_dump_wrong_kind_rejected():
    with pytest.raises(ReaderError, match="not a releases dump"):
        read_dump(DUMP / "single_master.xml")


# ---------------------------------------------------------------- catalogue and enrichment

def test_load_catalogue_plain_and_with_side_tables():
    plain = load_catalogue(DATA / "catalogue" / "releases.jsonl")
    assert len(plain) == 4325
    assert plain[3802].styles == ["French House", "House"] and plain[3802].labels == []
    assert plain[3802].have is None
    full = load_catalogue(DATA / "catalogue" / "releases.jsonl", DATA / "catalogue" / "labels.jsonl",
                          DATA / "catalogue" / "community.jsonl")
    assert full[3802].labels == ["Roulé"] and (full[3802].have, full[3802].want) == (3725, 2479)
    assert sum(1 for r in full.values() if r.have is not None) == 2404


def test_load_catalogue_mixed_lines(tmp_path):
    full = load(API / "releases" / "3.json")
    basic = {"id": 4235004, "title": "Shrines", "year": 2012, "artists": [{"name": "Purity Ring"}],
             "genres": ["Electronic", "Pop"], "styles": ["synth pop"], "community": {"have": 5000, "want": 900}}
    path = tmp_path / "cat.jsonl"
    path.write_text(json.dumps(full) + "\n\nnot json\n" + json.dumps(basic) + "\n", encoding="utf-8")
    cat = load_catalogue(path)
    assert sorted(cat) == [3, 4235004]
    assert cat[3].barcodes == ["074646362822"]
    assert cat[4235004].styles == ["Synth-pop"] and cat[4235004].have == 5000


def test_enrich_csv_from_catalogue(tmp_path):
    csv_result = read_csv_export(MOUSE / "collection.csv")
    catalogue = {
        4235004: Release(id=4235004, title="Shrines", artists=["Purity Ring"], year=2012, genres=["Electronic"],
                         styles=["Synth-pop"], labels=["Other Label"], have=5000),
        6060531: Release(id=6060531, year=1961, genres=["Classical"]),
    }
    enriched = enrich_from_catalogue(csv_result.items, catalogue)
    got = by_id(type(csv_result)(items=enriched))
    assert got[4235004].release.genres == ["Electronic"] and got[4235004].release.have == 5000
    assert got[4235004].release.labels == ["4AD"]               # the source wins
    assert got[4235004].date_added == date(2014, 12, 5)
    assert got[6060531].release.year == 1961                     # Released 0 filled in
    assert csv_result.items[0].release.genres == []              # input untouched
    via_reader = read_collection(MOUSE / "collection.csv", catalogue=catalogue)
    assert by_id(via_reader)[4235004].release.styles == ["Synth-pop"]


def test_enrich_from_real_catalogue():
    catalogue = load_catalogue(DATA / "catalogue" / "releases.jsonl")
    res = read_collection(MOUSE / "collection.csv", catalogue=catalogue)
    enriched = [i for i in res.items if i.release.genres]
    assert sorted(i.release.id for i in enriched) == [2173833, 2606952, 2911295, 3641367]


@pytest.mark.parametrize("text", ["[" * 200_000 + "]" * 200_000, '{"a":' * 5_000 + "1" + "}" * 5_000])
def test_deeply_nested_json_is_a_clear_reader_error(tmp_path, text):
    """JSON nested past Python's recursion limit is refused like any other bad file, never a RecursionError."""
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(ReaderError, match="nested far too deeply"):
        read_collection(path)


# -- limits (issue 12): every refusal names the limit and says what to do ---------------------------------------
@pytest.fixture
def limits(monkeypatch):
    """Small import limits for the test (restored after it)."""
    from core.config import get_config

    def set_limits(**kw):
        for k, v in kw.items():
            monkeypatch.setenv(f"CRATE_IMPORTS__{k.upper()}", str(v))
        get_config.cache_clear()

    yield set_limits
    monkeypatch.undo()
    get_config.cache_clear()


def test_a_gzip_bomb_stops_at_the_decompression_limit(tmp_path, limits):
    limits(max_decompressed_bytes=2_000_000, max_ratio=1000)
    bomb = tmp_path / "releases.xml.gz"
    with gzip.open(bomb, "wb") as gz:
        gz.write(b"<releases>")
        for _ in range(40):
            gz.write(b" " * 999_000 + b"<x/>")   # 40 MB of whitespace, a few dozen kB compressed
        gz.write(b"</releases>")
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ReaderError, match=r"imports\.max_decompressed_bytes"):
        read_collection(bomb)


def test_the_ratio_limit_catches_a_small_bomb(tmp_path, limits):
    limits(max_ratio=20)
    bomb = tmp_path / "r.xml.gz"
    with gzip.open(bomb, "wb") as gz:
        gz.write(b"<releases>" + b" " * 5_000_000 + b"</releases>")
    with pytest.raises(ReaderError, match="expands to more than"):
        read_collection(bomb)


def test_too_many_rows_and_too_big_a_file_are_refused_with_the_limit_named(tmp_path, limits):
    rows = ["Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added"]
    rows += [f"X{i},A,T,L,Vinyl,,2001,{1000 + i},Uncategorized,2020-01-01 10:00:00" for i in range(30)]
    path = tmp_path / "export.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    assert len(read_collection(path).items) == 30
    limits(max_items=10)
    with pytest.raises(ReaderError, match=r"more than 10 records in one file \(imports\.max_items\): split it"):
        read_collection(path)
    limits(max_items=1000, max_file_bytes=500)
    with pytest.raises(ReaderError, match=r"imports\.max_file_bytes"):
        read_collection(path)
