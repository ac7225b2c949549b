"""Barcode reading on real phone photos (zxing-cpp's blackbox test images, tests/fixtures/barcode-photos,
Apache-2.0) and on the printed digits, measured against plain zxing-cpp on the same files."""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from core.barcode import PhotoLimits, decode_photo
from core.barcode import ocr as barcode_ocr
from core.barcode.ocr import assemble, interpret
from core.discogs.barcodes import normalise_barcode

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "tests" / "fixtures" / "barcode-photos"
# the benchmark's own reading of a real-photo folder and of plain zxing-cpp: the test measures what it reports
_spec = importlib.util.spec_from_file_location("bench_barcode", ROOT / "benchmarks" / "bench_barcode.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def photo_sets() -> dict[str, list[tuple[Path, str]]]:
    return bench.real_photo_sets(PHOTOS)


def plain(data: bytes) -> set[str]:
    return set(bench.plain_zxing(data))


@pytest.mark.parametrize("name", sorted(photo_sets()))
def test_each_real_photo_set_reads_at_least_what_plain_zxing_reads_and_nothing_wrong(name):
    photos = photo_sets()[name]
    ours = plain_hits = 0
    for f, code in photos:
        data = f.read_bytes()
        got = decode_photo(data).codes
        assert set(got) <= {code}, f"{f.name}: read {got}, the photo holds {code}"
        ours += code in got
        plain_hits += code in plain(data)
    assert ours >= plain_hits, f"{name}: {ours} read, plain zxing-cpp reads {plain_hits}"


def test_the_suite_gains_on_plain_zxing_where_plain_zxing_fails():
    """Photos plain zxing-cpp cannot read (small, blurred, cropped tight) that the pipeline reads."""
    gained = []
    for photos in photo_sets().values():
        for f, code in photos:
            data = f.read_bytes()
            if code not in plain(data) and code in decode_photo(data, PhotoLimits(ocr=False, time_budget_s=5)).codes:
                gained.append(f.name)
    assert len(gained) >= 5, gained


def test_a_strip_and_a_scan_line_are_valid_barcode_images():
    """Limits are for bombs, not for small images: a 341×11 strip (real) and one-pixel scan lines decode."""
    strip = PHOTOS / "ean13-1" / "#526.webp"
    res = decode_photo(strip.read_bytes())
    assert Image.open(strip).size == (341, 11)
    assert res.codes == [normalise_barcode(strip.with_suffix(".txt").read_text().strip())]
    bc = zxingcpp.create_barcode("0123456", zxingcpp.BarcodeFormat.UPCE)
    img = Image.fromarray(np.asarray(bc.to_image(scale=1, add_hrt=False, add_quiet_zones=True))).convert("L")
    for line in (img.crop((0, img.height // 2, img.width, img.height // 2 + 1)),
                 img.crop((0, img.height // 2, img.width, img.height // 2 + 1)).rotate(90, expand=True)):
        buf = io.BytesIO()
        line.save(buf, "PNG")
        assert min(line.size) == 1
        assert decode_photo(buf.getvalue()).codes == ["012345000065"]


# -- the printed digits ------------------------------------------------------------------------------------------
def box(x0: float, y0: float, x1: float, y1: float, slant: float = 0.0) -> list[list[float]]:
    """A RapidOCR box: four corners clockwise from the top left (``slant``: how far the right side is lower)."""
    return [[x0, y0], [x1, y0 + slant], [x1, y1 + slant], [x0, y1]]


def test_digits_under_a_upc_a_on_a_slanted_line():
    # RapidOCR's output for upca-2/34 (a tilted photo): the outer digits small, the line rising to the left
    res = [[box(18, 45, 23, 52), "8", 0.99], [box(38, 45, 75, 53, 3), "99684", 1.0],
           [box(77, 49, 117, 58, 4), "00100", 1.0], [box(132, 56, 138, 64), "3", 0.99]]
    (code,) = assemble(res)
    assert (code.code, code.format) == ("899684001003", "UPC-A")


def test_digits_that_fail_the_check_digit_or_are_unsure_are_dropped():
    good = [[box(0, 0, 10, 20), "5", 0.9], [box(14, 0, 140, 20), "000213101025", 0.99]]
    assert [c.code for c in assemble(good)] == ["5000213101025"]
    wrong = [[box(0, 0, 10, 20), "5", 0.9], [box(14, 0, 140, 20), "000213101026", 0.99]]
    assert assemble(wrong) == []
    unsure = [[box(0, 0, 10, 20), "5", 0.5], [box(14, 0, 140, 20), "000213101025", 0.99]]
    assert assemble(unsure) == []
    # an ISBN line (letters in it), a catalogue number and the add-on's "90000>" are not barcodes
    other = [[box(0, 0, 160, 14), "ISBN1-55860-497-9", 0.98], [box(0, 30, 40, 44), "90000>", 0.9],
             [box(0, 60, 80, 74), "CAT-1234", 0.95]]
    assert assemble(other) == []


def test_two_lines_give_two_codes_and_a_line_gives_at_most_one():
    res = [[box(0, 0, 120, 20), "4006381333931", 0.99], [box(0, 100, 10, 120), "0", 0.9],
           [box(14, 100, 80, 120), "75720", 0.99], [box(84, 100, 150, 120), "00325", 0.99],
           [box(154, 100, 164, 120), "9", 0.9]]
    assert sorted(c.code for c in assemble(res)) == ["075720003259", "4006381333931"]


def test_eight_digits_are_read_as_the_layout_printed():
    assert interpret("96385074", [4, 4])[2] == "EAN-8"
    assert interpret("01264904", [1, 6, 1]) == ("012000006494", "01264904", "UPC-E")
    assert interpret("1264904", [6, 1]) == ("012000006494", "01264904", "UPC-E")   # number system not read
    assert interpret("96385074", [1, 6, 1]) is None   # an EAN-8's digits in a UPC-E layout
    assert interpret("0123456789013", [13]) is None   # bad check digit


@pytest.mark.skipif(not barcode_ocr.available(), reason="rapidocr-onnxruntime is not installed")
def test_a_photo_whose_bars_fail_is_read_from_its_digits():
    """ean13-1/36: a blurred EAN-13 whose bars neither plain zxing-cpp nor the cascade read."""
    f = PHOTOS / "ean13-1" / "36.webp"
    data = f.read_bytes()
    assert not plain(data)
    assert decode_photo(data, PhotoLimits(ocr=False, time_budget_s=5)).codes == []
    res = decode_photo(data, PhotoLimits(time_budget_s=5))
    assert res.codes == ["5000213101025"] and res.strategy == "digits"
    assert res.found[0].from_digits and res.found[0].format == "EAN-13"


def test_without_the_ocr_engine_the_photo_still_gets_an_answer(monkeypatch):
    monkeypatch.setattr(barcode_ocr, "_engine", lambda: None)
    res = decode_photo((PHOTOS / "ean13-1" / "36.webp").read_bytes())
    assert res.codes == [] and res.strategy is None


def test_digits_that_pass_the_check_digit_but_not_the_bars_are_refused():
    """An OCR misread with a valid check digit (two digits off) is refuted by bars that hold any detail; the
    true digits are not."""
    import random
    import sys

    from core.barcode import load_photo
    from core.barcode.ocr import bar_profile, bars_agree
    from core.barcode.reader import _Reader
    from core.barcode.strategies import _regions
    from core.discogs.barcodes import gs1_check_digit

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import make_barcode_photos as mbp

    code = next(c for c in mbp.real_codes() if c.fmt == "EAN13")
    spec = mbp.PhotoSpec(name="t", group="test", seed=3, codes=[code], module_px=3.0, blur=0.8, rotation=12)
    grey, _ = load_photo(mbp.render(spec)[0])
    reader = _Reader(grey, float("inf"))
    center, ext_u, ext_v, ang = _regions(reader)[0]
    bars, _, _ = reader.level_crop(center, ext_u * 1.4 + 24, ext_v * 0.8, ang)
    profile = bar_profile(bars)
    assert bars_agree(profile, code.code, "EAN-13")
    rng = random.Random(1)
    refused = 0
    for _ in range(8):
        i = rng.randrange(1, 12)
        body = code.code[:i] + str((int(code.code[i]) + rng.randint(1, 9)) % 10) + code.code[i + 1:12]
        wrong = body + str(gs1_check_digit(body))
        assert wrong != code.code and normalise_barcode(wrong) == wrong
        refused += not bars_agree(profile, wrong, "EAN-13")
    assert refused == 8


@pytest.mark.parametrize("content,fmt,zfmt", [("400638133393", "EAN-13", "EAN13"), ("07572000325", "UPC-A", "UPCA"),
                                              ("9638507", "EAN-8", "EAN8"), ("0123456", "UPC-E", "UPCE"),
                                              ("1654321", "UPC-E", "UPCE")])
def test_bar_patterns_are_the_ones_zxing_draws(content, fmt, zfmt):
    from core.barcode.ocr import modules
    from core.barcode.reader import _upca_to_upce

    bc = zxingcpp.create_barcode(content, getattr(zxingcpp.BarcodeFormat, zfmt))
    row = np.asarray(bc.to_image(scale=1, add_hrt=False, add_quiet_zones=False))
    drawn = (row[row.shape[0] // 2] == 0).astype(np.uint8)
    text = bc.text[1:] if fmt in ("UPC-A", "UPC-E") and len(bc.text) == 13 else bc.text
    printed = _upca_to_upce(text) if fmt == "UPC-E" else text
    assert np.array_equal(modules(printed, fmt), drawn)
