"""Property-based fuzzing (Hypothesis) of every reader and of the chat message parser: whatever a user sends,
the answer is a result or the one documented error — never another exception (issue 12)."""
from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.barcode import typed_code
from core.domain.refs import DiscogsRef, NotDiscogsLink, find_refs, parse_ref_strict
from core.domain.release import MAX_TEXT, ImportResult
from core.ingest.readers import ReaderError, read_collection

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CSV_HEAD = "Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added\n"
cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | cells,
                           lambda inner: st.lists(inner, max_size=5) | st.dictionaries(cells, inner, max_size=5),
                           max_leaves=30)


def read_bytes_as(data: bytes, name: str) -> ImportResult | None:
    """``data`` as a file called ``name``: the ImportResult, or None when a ReaderError was raised."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        try:
            result = read_collection(p)
        except ReaderError:
            return None
    for it in result.items:   # whatever came in, what comes out is bounded
        assert it.release.id > 0 and len(it.release.title) <= MAX_TEXT
        assert all(len(a) <= MAX_TEXT for a in it.release.artists)
    return result


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from(["export.csv", "c.json", "r.xml", "r.xml.gz", "file"]))
def test_any_bytes_are_read_or_refused_with_a_reader_error(data, name):
    read_bytes_as(data, name)


@FUZZ
@given(st.lists(st.lists(cells, min_size=0, max_size=12), max_size=20))
def test_csv_exports_with_any_cells(rows):
    body = "\n".join(",".join(json.dumps(c) if "," in c or '"' in c else c for c in r) for r in rows)
    read_bytes_as((CSV_HEAD + body).encode("utf-8"), "export.csv")


@FUZZ
@given(json_values)
def test_json_of_any_shape(value):
    read_bytes_as(json.dumps(value).encode("utf-8"), "collection.json")


@FUZZ
@given(st.lists(st.fixed_dictionaries({"id": st.integers(-5, 10**9) | cells, "title": cells, "artist": cells,
                                       "added": cells, "rating": st.integers(-2, 9) | cells}), max_size=8))
def test_bundled_json_records_with_odd_fields(records):
    read_bytes_as(json.dumps(records).encode("utf-8"), "collection.json")


@FUZZ
@given(st.lists(st.tuples(st.integers(-3, 10**8) | cells, cells, cells), max_size=6))
def test_dump_xml_with_odd_values_plain_and_gzipped(rows):
    xml = "<releases>" + "".join(
        f'<release id="{rid}"><title>{t}</title><artists><artist><name>{a}</name></artist></artists></release>'
        for rid, t, a in rows) + "</releases>"
    raw = xml.encode("utf-8", "replace")
    read_bytes_as(raw, "r.xml")
    read_bytes_as(gzip.compress(raw), "r.xml.gz")


@FUZZ
@given(st.text(max_size=300))
def test_the_message_parser_never_fails(text):
    refs = find_refs(text)
    assert all(isinstance(r, DiscogsRef) and r.id > 0 for r in refs)
    assert len(refs) == len(set(refs))
    try:
        ref = parse_ref_strict(text)
        assert ref.id > 0
    except (NotDiscogsLink, ValueError):
        pass
    code = typed_code(text)
    assert code is None or code.code.isdigit()


@FUZZ
@given(st.sampled_from(["https://www.discogs.com/release/", "https://discogs.com/master/", "[r", "[m",
                        "https://www.discogs.com/sell/item/", "https://evil.example/release/"]),
       st.integers(-10, 10**12), st.text(max_size=20))
def test_links_with_any_ids_and_tails(prefix, rid, tail):
    text = f"look {prefix}{rid}{']' if prefix.startswith('[') else ''}{tail} ok"
    for r in find_refs(text):
        assert r.id > 0
