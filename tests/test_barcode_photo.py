"""Barcode photos (core/barcode/): reading real sleeve barcodes off rendered photos, the input guards,
no misreads, the pressings look-up against the fake Discogs API, the async wrapper and `crate barcode`.

The photos are drawn here with the benchmark's own renderer (benchmarks/make_barcode_photos.py): real barcodes
from the dump sample, on a sleeve-like background, with the condition under test.
"""
from __future__ import annotations

import asyncio
import importlib.util
import io
import struct
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp
from PIL import Image
from test_gateway import gateway

import core.barcode.decode as bpd
import core.barcode.reader as bp
from core.barcode import (
    NO_BARCODE_HINT,
    PhotoError,
    PhotoLimits,
    decode_photo,
    decode_photo_async,
    find_pressings,
)
from core.config import get_config
from core.discogs.barcodes import digits, normalise_barcode
from fakes.fixtures import COLLECTOR_TOKEN, discogs_server, live_cli  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_barcode_photos", ROOT / "benchmarks" / "make_barcode_photos.py")
mbp = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_barcode_photos", mbp)
_spec.loader.exec_module(mbp)


@pytest.fixture(scope="module")
def codes() -> list[Any]:
    """The real barcodes of the dump sample and API fixtures (``RealCode``)."""
    out = mbp.real_codes()
    assert len(out) > 200
    return out


def by_format(codes: list[Any], fmt: str, n: int = 0) -> Any:
    return [c for c in codes if c.fmt == fmt][n]


def render(*codes: Any, **kw: Any) -> bytes:
    """A photo of ``codes`` (see ``PhotoSpec`` for the keywords); defaults: a 1280×960 JPEG, mild conditions."""
    kw.setdefault("frame", (1280, 960))
    kw.setdefault("module_px", 4.0)
    kw.setdefault("seed", 11)
    spec = mbp.PhotoSpec(name="t", group="test", codes=list(codes), **kw)
    data, _ = mbp.render(spec)
    return data


def truth(*codes: Any) -> set[str]:
    return {mbp.truth_code(c) for c in codes}


# -- reading ----------------------------------------------------------------------------------------------------
def test_reads_a_plain_photo_on_the_cheap_path(codes):
    c = by_format(codes, "EAN13")
    res = decode_photo(render(c, rotation=4))
    assert res.codes == [c.code]
    assert res.strategy == "plain"                  # no fallback needed
    f = res.found[0]
    assert f.format == "EAN-13" and f.printed == c.code and f.votes >= 2
    x0, y0, x1, y1 = f.box
    assert 0 <= x0 < x1 <= 1280 and 0 <= y0 < y1 <= 960
    assert res.size == (1280, 960) and res.decoded_size == (1280, 960)


def test_upca_is_reported_as_its_12_digits(codes):
    c = by_format(codes, "UPCA")
    res = decode_photo(render(c, seed=3))
    assert res.codes == [c.code] and len(c.code) == 12
    assert res.found[0].format == "UPC-A"


@pytest.mark.parametrize("fmt", ["EAN8", "UPCE"])
def test_short_codes(codes, fmt):
    base = by_format(codes, "EAN13" if fmt == "EAN8" else "UPCA", 2)
    c = mbp.derived_short_code(base, fmt)
    res = decode_photo(render(c, module_px=5.0, seed=5))
    assert res.codes == [mbp.truth_code(c)]
    assert res.found[0].format == ("EAN-8" if fmt == "EAN8" else "UPC-E")
    assert res.found[0].printed == c.code


def test_rotated_code_needs_the_derotation_fallback(codes):
    """A code turned 47° cannot be read by horizontal or vertical scan lines: a fallback must turn it level."""
    c = by_format(codes, "EAN13", 3)
    data = render(c, rotation=47)
    grey = Image.open(io.BytesIO(data)).convert("L")
    assert not zxingcpp.read_barcodes(grey, try_downscale=False), "precondition: the plain read fails"
    res = decode_photo(data)
    assert res.codes == [c.code]
    assert res.strategy in ("regions", "rotations")


def test_small_code_in_a_12_megapixel_photo(codes):
    c = by_format(codes, "UPCA", 4)
    res = decode_photo(render(c, frame=(4000, 3000), module_px=2.8, seed=8, noise=0.0, vignette=0.0))
    assert res.codes == [c.code]
    assert res.decoded_size == (4000, 3000)         # under the 40 MP budget: read at full resolution
    x0, y0, x1, y1 = res.found[0].box
    assert (x1 - x0) < 400                           # ~95 modules of 2.8 px: a small code in a large frame


def test_two_codes_in_one_photo_left_to_right(codes):
    a, b = by_format(codes, "EAN13", 5), by_format(codes, "UPCA", 6)
    res = decode_photo(render(a, b, frame=(1600, 1200), module_px=3.5, seed=2))
    assert set(res.codes) == truth(a, b)
    assert len(res.found) == 2
    centres = [(f.box[0] + f.box[2]) / 2 for f in res.found]
    assert centres == sorted(centres)


def test_exif_rotated_jpeg_is_read_upright(codes):
    c = by_format(codes, "EAN13", 7)
    spec = mbp.PhotoSpec(name="t", group="test", codes=[c], frame=(1280, 960), module_px=4.0, seed=9,
                         exif_orientation=6)
    data, ext = mbp.render(spec)
    assert ext == "jpg"
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (960, 1280) and stored.getexif()[0x0112] == 6   # stored sideways, tagged
    res = decode_photo(data)
    assert res.codes == [c.code]
    assert res.size == (1280, 960)                   # reported upright
    # and the code is where it was drawn in the upright picture
    bx0, by0, bx1, by1 = spec.extra["boxes"][0]
    fx, fy = (res.found[0].box[0] + res.found[0].box[2]) / 2, (res.found[0].box[1] + res.found[0].box[3]) / 2
    assert bx0 <= fx <= bx1 and by0 <= fy <= by1


def _converging_bars(vp_depth: float, lean: float = 0.0, size: tuple[int, int] = (420, 200)) -> Image.Image:
    """Bars on white, drawn as straight lines through one vanishing point ``vp_depth`` px above the crop's
    middle column (``inf``: parallel bars), all leaning ``lean`` (dx per dy) besides: what a level crop of a
    code shot with the camera tilted along its bars looks like."""
    from PIL import ImageDraw

    w, h = size
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    rng = np.random.default_rng(3)
    x, bottom, top = 60.0, h - 20, 20
    while x < w - 60:
        bw = float(rng.choice([3, 6, 9]))

        def at(xb: float, y: float) -> float:   # where the bar through xb (on the bottom row) is at row y
            t = 0.0 if np.isinf(vp_depth) else (xb - w / 2) / (vp_depth + bottom)
            return xb - (t + lean) * (bottom - y)

        d.polygon([(at(x, top), top), (at(x + bw, top), top), (x + bw, bottom), (x, bottom)], fill=0)
        x += bw + float(rng.choice([3, 6, 9]))
    return img


def test_the_lean_of_converging_bars_is_fitted_and_their_block_found():
    """The rectifier's geometry: bars through one vanishing point lean apart; the block's quadrilateral has
    those bars as its sides (the top narrower by how far the point is), and parallel bars are told apart from
    converging ones whatever their common lean."""
    from core.barcode.views import _bar_quad, converging

    img = _converging_bars(vp_depth=600.0)
    assert converging(img)
    tl, tr, br, bl = _bar_quad(img)
    top, bottom = tr[0] - tl[0], br[0] - bl[0]
    # bars meet 600 px above the middle column (180 px above the bottom row): rows 20 and 180 are 780 and 620
    # px from it, so the top row is 620/780 of the bottom's width
    assert top / bottom == pytest.approx((600 + 20) / (600 + 180), abs=0.04)
    assert not converging(_converging_bars(vp_depth=float("inf"), lean=0.25))   # parallel, leaning 14°
    assert not converging(_converging_bars(vp_depth=float("inf")))


def test_converging_bars_at_any_rotation_are_read(codes):
    """The camera tilted along the bars (the top of the label 30 % narrower than the bottom) with the label
    turned 120°, glare, contrast 0.6, JPEG 45: plain zxing-cpp reads nothing; the regions lane fits the
    bars' lean, straightens them in one projective resampling and reads the code."""
    c = by_format(codes, "EAN13", 3)
    data = render(c, frame=(1600, 1200), module_px=3.2, skew=0.3, skew_axis="y", rotation=120.0, glare=0.5,
                  contrast=0.6, jpeg_quality=45, blur=0.6, seed=23)
    grey = Image.open(io.BytesIO(data)).convert("L")
    assert not zxingcpp.read_barcodes(grey), "precondition: plain zxing-cpp fails"
    res = decode_photo(data, PhotoLimits(time_budget_s=10.0))      # generous: the test machine may be busy
    assert res.codes == [c.code]
    # the regions strategy alone (deterministic: no other lane racing it) reads it, straightening first
    from core.barcode.loading import load_photo
    from core.barcode.strategies import _run

    seen: list[str] = []
    real_read = bp._Reader.read

    def read(self: Any, view: Any, spots: Any = None) -> Any:
        seen.append(view.name)
        return real_read(self, view, spots)

    reader = bp._Reader(load_photo(data)[0], time.perf_counter() + 30)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bp._Reader, "read", read)
        _run(reader, ["regions"])
    assert [f.code for f in reader.winners()] == [c.code]
    rectified = [n for n in seen if n.startswith("region") and n.endswith("-rectified")]
    assert rectified                                 # …and straightened first, not after every other look
    region = rectified[0].split("-")[0]
    assert [n for n in seen if n.startswith(region + "-") or n == region][0] == rectified[0]


def test_a_photo_nothing_reads_spends_no_ocr_past_the_budget(codes, monkeypatch):
    """A large photo with no barcode gives up within its time budget: the printed digits are read only when OCR
    should be done in time (its cost is estimated from the pixels it would see)."""
    import random

    spec = mbp.PhotoSpec(name="t", group="test", codes=[], frame=(4000, 3000), seed=9, stripes=True)
    sleeve = mbp._sleeve(spec, random.Random(9))
    buf = io.BytesIO()
    sleeve.save(buf, "JPEG", quality=85)
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(bpd, "read_printed_codes", lambda img: calls.append(img.size) or [])
    res = decode_photo(buf.getvalue(), PhotoLimits(time_budget_s=0.2))
    assert res.codes == [] and calls == []
    # with time to spare, the same photo's bar-like regions are read for digits
    res = decode_photo(buf.getvalue(), PhotoLimits(time_budget_s=30.0))
    assert res.codes == [] and calls
    assert bpd._timed_ocr(Image.new("L", (300, 100)), deadline=time.perf_counter()) is None


# -- guards -----------------------------------------------------------------------------------------------------
def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` × ``height`` pixels (IHDR, one tiny IDAT, IEND): a decompression bomb's header."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused():
    data = _png_header(100_000, 100_000)             # 10 gigapixels in 100 bytes: PIL's DecompressionBombError
    assert len(data) < 200
    with pytest.raises(PhotoError) as exc:
        decode_photo(data)
    assert "too many pixels" in exc.value.user_message


def test_image_over_the_pixel_limit_is_refused_before_decoding(codes):
    # 12,000 × 10,000 = 120 MP: over Image.MAX_IMAGE_PIXELS, under twice it (PIL would only warn)
    assert Image.MAX_IMAGE_PIXELS < 120_000_000 < 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(PhotoError) as exc:
        decode_photo(_png_header(12_000, 10_000))
    assert "too many pixels" in exc.value.user_message
    with pytest.raises(PhotoError):                  # and the configured limit applies to real photos too
        decode_photo(render(by_format(codes, "EAN13")), PhotoLimits(max_pixels=1_000_000))


def test_text_file_is_not_a_photo():
    with pytest.raises(PhotoError) as exc:
        decode_photo(b"Stockholm by The Persuader\n5 012394 144777\n" * 20)
    assert "doesn't look like a photo" in exc.value.user_message


def test_truncated_jpeg_is_refused(codes):
    data = render(by_format(codes, "EAN13"))
    with pytest.raises(PhotoError) as exc:
        decode_photo(data[: len(data) // 2])
    assert "cut off or damaged" in exc.value.user_message


def test_empty_and_oversize_uploads_are_refused(codes):
    with pytest.raises(PhotoError):
        decode_photo(b"")
    data = render(by_format(codes, "EAN13"))
    with pytest.raises(PhotoError) as exc:
        decode_photo(data, PhotoLimits(max_bytes=len(data) - 1))
    assert "too large" in exc.value.user_message


@pytest.mark.parametrize("jpeg_quality", [90, None])   # JPEG: reduced while decoding; PNG: resized after
def test_photo_over_the_pixel_budget_is_downscaled_and_still_read(codes, jpeg_quality):
    c = by_format(codes, "UPCA", 1)
    data = render(c, frame=(2400, 1800), module_px=6.0, jpeg_quality=jpeg_quality, seed=4, noise=1.0)
    res = decode_photo(data, PhotoLimits(pixel_budget=1_000_000))
    assert res.codes == [c.code]
    assert res.size == (2400, 1800)
    w, h = res.decoded_size
    assert w * h <= 1_000_000 and w < 2400
    x0, y0, x1, y1 = res.found[0].box                # boxes come back in the photo's own pixels
    assert x1 - x0 > 0.7 * 95 * 6.0


def test_blank_photo_says_what_to_try(codes):
    spec = mbp.PhotoSpec(name="t", group="test", codes=[by_format(codes, "EAN13")], frame=(1280, 960), seed=6,
                         stripes=True)
    import random

    sleeve = mbp._sleeve(spec, random.Random(6))        # the sleeve, print and stripes, but no barcode
    buf = io.BytesIO()
    sleeve.save(buf, "JPEG", quality=90)
    res = decode_photo(buf.getvalue())
    assert res.codes == [] and res.strategy is None and res.attempts > 10   # every fallback was tried

    class NoCalls:
        def search_barcode(self, *a: Any, **k: Any) -> list:
            raise AssertionError("no barcode: Discogs must not be asked")

    with pytest.raises(PhotoError) as exc:
        find_pressings(buf.getvalue(), NoCalls())
    msg = exc.value.user_message
    assert msg == NO_BARCODE_HINT
    for hint in ("closer", "fills", "flat", "light", "glare", "focus"):
        assert hint in msg


# -- never a misread ---------------------------------------------------------------------------------------------
def test_damaged_codes_give_the_right_code_or_nothing(codes):
    """Bars painted over, stickered or scratched: whatever comes back must be the printed code."""
    read = 0
    for i, (damage, frac) in enumerate([("marker", 0.25), ("marker", 0.45), ("sticker", 0.2), ("sticker", 0.4),
                                        ("scratches", 0.3), ("scratches", 0.5)]):
        c = by_format(codes, "EAN13" if i % 2 else "UPCA", 10 + i)
        res = decode_photo(render(c, damage=damage, damage_frac=frac, seed=20 + i, blur=0.8, rotation=7,
                                  frame=(960, 720), module_px=3.5))
        assert set(res.codes) <= truth(c), (damage, frac, res.codes, c.code)
        read += bool(res.codes)
    assert read >= 1                                  # some damage is survivable


def test_photo_that_zxing_alone_misreads(codes):
    """A low-quality JPEG (quality 19) on which zxing-cpp's own defaults read a wrong UPC-A (two digits off, the
    check digit still right) besides the right one: the votes must keep the wrong one out."""
    [c] = [c for c in codes if c.code == "823813000124"]
    spec = mbp.PhotoSpec(name="t", group="jpeg", seed=31682, codes=[c], frame=(1200, 1600), module_px=3.576,
                         aspect=0.36, hrt=True, on_label=False, rotation=-7.759, noise=1.734, vignette=0.09,
                         jpeg_quality=19)
    data, _ = mbp.render(spec)
    grey = Image.open(io.BytesIO(data)).convert("L")
    raw = {normalise_barcode(r.text) for r in zxingcpp.read_barcodes(grey)}
    if not raw - {c.code}:
        pytest.skip(f"this zxing-cpp build does not misread the photo (read {raw})")
    res = decode_photo(data)
    assert res.codes == [c.code]


def test_other_image_formats_are_refused_unopened():
    """Only photo formats are opened: an EPS (which PIL would hand to Ghostscript) is not one."""
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 400 300\nshowpage\n"
    with pytest.raises(PhotoError) as exc:
        decode_photo(eps)
    assert "doesn't look like a photo" in exc.value.user_message


def test_one_view_alone_never_decides():
    """The vote: two independent view families, two ahead of any rival; a short code inside a long one loses."""
    quad = np.array([[0, 0], [100, 0], [100, 60], [0, 60]], float)
    spot = bp._Spot(quad.mean(axis=0), 100.0, 0.0, quad)
    spot.add("5012394144777", "5012394144777", "EAN-13", "s1", quad)
    spot.add("5012394144777", "5012394144777", "EAN-13", "s1", quad)   # the same pixels again: no new vote
    assert spot.winner() is None
    spot.add("5012394144777", "5012394144777", "EAN-13", "s1q4", quad)
    assert spot.winner() == "5012394144777"
    spot.add("5012394144778"[:-1] + "0", "x", "EAN-13", "s2", quad)      # a rival reading of the same spot
    assert spot.winner() is None                                         # 2 against 1: not enough
    spot.add("5012394144777", "5012394144777", "EAN-13", "s2h", quad)
    assert spot.winner() == "5012394144777"                              # 3 against 1
    short = bp._Spot(quad.mean(axis=0), 50.0, 0.0, quad)
    for fam in ("a", "b", "c"):
        short.add("012345000065", "01234565", "UPC-E", fam, quad)
    assert short.winner() == "012345000065"
    short.add("5012394144777", "5012394144777", "EAN-13", "d", quad)     # half an EAN-13 can pass for a UPC-E
    assert short.winner() is None


def test_canonical_rejects_bad_check_digits():
    assert bp._canonical("5012394144777", zxingcpp.BarcodeFormat.EAN13) == ("5012394144777", "5012394144777", "EAN-13")
    assert bp._canonical("5012394144778", zxingcpp.BarcodeFormat.EAN13) is None
    assert bp._canonical("0074646362822", zxingcpp.BarcodeFormat.EAN13)[0] == "074646362822"
    assert bp._canonical("01234565", zxingcpp.BarcodeFormat.UPCE) == ("012345000065", "01234565", "UPC-E")


# -- Discogs ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dirty_dump_barcode(codes):
    """A dump-sample release whose barcode Discogs stores with spaces/dashes, e.g. "0 9362-47555-2 4"."""
    for c in codes:
        if c.source == "dump-sample" and digits(c.raw) != c.raw and normalise_barcode(c.raw) == c.code:
            return c
    pytest.skip("no dirty barcode in the dump sample")


def test_photo_to_candidate_pressings(discogs_server, dirty_dump_barcode):
    c = dirty_dump_barcode
    lookup = find_pressings(render(c, rotation=-12, seed=13), gateway(discogs_server))
    assert lookup.codes == [c.code]
    [m] = lookup.matches
    assert m.found.code == c.code
    first = m.candidates[0]
    assert first.release_id == c.release_id and first.exact
    assert discogs_server.count_requests("/database/search") >= 1
    lines = lookup.lines()
    assert lines[0].startswith(f"Barcode {c.code}")
    assert lines[1].startswith(f"  1. {first.describe()}")
    assert f"[release {c.release_id}]" in lines[1]


def test_unknown_code_gives_no_candidates(discogs_server, codes):
    c = mbp.derived_short_code(by_format(codes, "EAN13"), "EAN8")   # valid, but no release carries it
    lookup = find_pressings(render(c, module_px=5.0, seed=14), gateway(discogs_server))
    assert lookup.codes == [mbp.truth_code(c)]
    assert lookup.matches[0].candidates == []
    assert "no release on Discogs carries this barcode" in "\n".join(lookup.lines())


# -- async -----------------------------------------------------------------------------------------------------------
def test_async_wrapper_runs_off_the_event_loop(codes, monkeypatch):
    data = render(by_format(codes, "EAN13", 8), frame=(2400, 1800), module_px=3.0, rotation=40)
    threads: list[int] = []
    real = bpd.decode_photo

    def spy(*a: Any, **k: Any):
        threads.append(threading.get_ident())
        return real(*a, **k)

    monkeypatch.setattr(bpd, "decode_photo", spy)

    async def scenario():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.002)

        t = asyncio.create_task(ticker())
        t0 = time.perf_counter()
        res = await decode_photo_async(data)
        elapsed = time.perf_counter() - t0
        done.set()
        await t
        return res, ticks, elapsed, threading.get_ident()

    res, ticks, elapsed, loop_thread = asyncio.run(scenario())
    assert res.codes
    assert threads and threads[0] != loop_thread        # decoded in a worker thread
    assert ticks >= 3 and ticks >= elapsed / 0.02      # the loop kept running meanwhile


# -- crate barcode -----------------------------------------------------------------------------------------------------
def spaced_digits(code: str) -> str:
    """The code as a collector would type it off the sleeve: in groups, with spaces."""
    return f"{code[0]} {code[1:7]} {code[7:]}" if len(code) == 13 else f"{code[0]} {code[1:6]} {code[6:11]} {code[11:]}"


def test_crate_barcode_lists_the_pressings(live_cli, dirty_dump_barcode, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(COLLECTOR_TOKEN + "\n"))
    assert main(["--database", live_cli, "link", "--token-stdin", "--user", "u"]) == 0
    capsys.readouterr()
    c = dirty_dump_barcode
    photo = tmp_path / "sleeve.jpg"
    photo.write_bytes(render(c, rotation=3, seed=15))
    assert main(["--database", live_cli, "barcode", str(photo), "--user", "u"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"Barcode {c.code}")
    assert out[1].startswith("  1. ") and out[1].endswith(f"[release {c.release_id}]")
    assert out[-1] == "Data provided by Discogs."

    assert main(["--database", live_cli, "barcode", spaced_digits(c.code), "--user", "u"]) == 0   # typed
    typed = capsys.readouterr().out.splitlines()
    assert typed[0].startswith(f"Barcode {c.code}") and typed[1:] == out[1:]

    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    assert main(["--database", live_cli, "barcode", str(text), "--user", "u"]) == 3
    assert "doesn't look like a photo" in capsys.readouterr().err


def test_crate_barcode_offline_prints_the_codes(dirty_dump_barcode, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("CRATE_DISCOGS__LIVE", "false")
    monkeypatch.setenv("CRATE_PATHS__CACHE_DIR", str(tmp_path / "cache"))
    get_config.cache_clear()
    try:
        c = dirty_dump_barcode
        photo = tmp_path / "sleeve.png"
        photo.write_bytes(render(c, jpeg_quality=None, seed=16))
        assert main(["--database", f"sqlite:///{tmp_path / 'off.db'}", "barcode", str(photo)]) == 0
        out = capsys.readouterr().out
        assert f"Barcode {c.code}" in out and "look-ups are off" in out
        # the digits typed instead of a photo: the same answer
        assert main(["--database", f"sqlite:///{tmp_path / 'off.db'}", "barcode", "0 75720 00325 9"]) == 0
        out = capsys.readouterr().out
        assert "Barcode 075720003259 (UPC-A)" in out and "look-ups are off" in out
        assert main(["--database", f"sqlite:///{tmp_path / 'off.db'}", "barcode", "0 75720 00325 8"]) == 2
        assert "the digits under the bars" in capsys.readouterr().err
    finally:
        monkeypatch.undo()
        get_config.cache_clear()
