"""Decoding a photo: the cascade, then the printed digits."""
from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image

from core.barcode.loading import (
    PhotoLimits,
    load_photo,
)
from core.barcode.ocr import available as ocr_available
from core.barcode.ocr import bar_profile, bars_agree, read_printed_codes
from core.barcode.reader import (
    DecodeResult,
    FoundCode,
    _Reader,
)
from core.barcode.strategies import (
    LANES,
    STRATEGIES,
    _regions,
    _run,
)
from core.barcode.views import (
    _scale_m,
)

log = logging.getLogger("core.barcode")


#: photos up to this many pixels are read by OCR whole; larger ones region by region
OCR_WHOLE_PIXELS = 1_500_000


#: seconds of OCR per megapixel the text detector sees (RapidOCR scales a crop's short side up to 736 px),
#: learnt from the calls this process makes; the first guess is what 2 cores do
_OCR_RATE = [0.7]


def _ocr_cost(img: Image.Image) -> float:
    """What reading ``img`` with OCR should take, in seconds."""
    w, h = img.size
    up = max(1.0, 736 / max(1, min(w, h)))
    return w * h * up * up / 1e6 * _OCR_RATE[0] + 0.03


def _timed_ocr(img: Image.Image, deadline: float) -> list[Any] | None:
    """The printed codes OCR reads in ``img``, or None when there is no time left for it before ``deadline``."""
    cost = _ocr_cost(img)
    t = time.perf_counter()
    if t + cost > deadline:
        log.debug("barcode photo: no time left for OCR (%.2f s needed)", cost)
        return None
    got = read_printed_codes(img)
    took = time.perf_counter() - t
    w, h = img.size
    up = max(1.0, 736 / max(1, min(w, h)))
    _OCR_RATE[0] = 0.7 * _OCR_RATE[0] + 0.3 * max(0.05, took - 0.03) / max(1e-3, w * h * up * up / 1e6)
    return got


def _read_digits(reader: _Reader, max_regions: int = 2, deadline: float = math.inf) -> list[FoundCode]:
    """Codes read from the digits printed under the bars (see :mod:`core.barcode.ocr`): each bar-like region is
    cut out level and tall enough to hold the digits on either side, OCR reads it, and a code is kept only when
    its bar pattern fits the region's bars better than any code one digit away (a misread that passes the check
    digit does not). A small photo with no such region is read whole, and its codes checked the same way.
    A crop is read only when OCR should be done with it before ``deadline``."""
    if not ocr_available():
        return []
    crops: list[tuple[Image.Image, np.ndarray, np.ndarray | None]] = []
    w, h = reader.work.size
    regions = _regions(reader)[:max_regions]
    if not regions and w * h <= OCR_WHOLE_PIXELS:   # a close-up: the code is the photo (either way up)
        regions = [(np.array([w / 2, h / 2]), w * 0.7, h * 0.7, 0.0),
                   (np.array([w / 2, h / 2]), h * 0.7, w * 0.7, 90.0)]
    for center, ext_u, ext_v, ang in regions:
        length = ext_u * 1.4 + 24
        crop, m, _ = reader.level_crop(center, length, max(ext_v * 2.4, length * 0.75), ang)
        if crop is None:
            continue
        bars, _, _ = reader.level_crop(center, length, max(ext_v * 0.8, 8), ang)
        f = min(1.0, 960 / max(crop.size))
        if f < 1.0:
            crop = crop.resize((max(8, int(crop.width * f)), max(8, int(crop.height * f))), Image.Resampling.BOX)
            m = m @ _scale_m(f)
        crops.append((crop, m, bar_profile(bars) if bars is not None else None))
    out: dict[str, FoundCode] = {}
    for crop, m, profile in crops:
        for pc in _timed_ocr(crop, deadline) or []:
            if pc.code not in out and bars_agree(profile, pc.printed, pc.format):
                out[pc.code] = _digits_found(pc, m)
        if out:
            break
    if not out and w * h <= OCR_WHOLE_PIXELS and crops:
        for pc in _timed_ocr(reader.work, deadline) or []:
            if pc.code not in out and any(bars_agree(p, pc.printed, pc.format) for _, _, p in crops):
                out[pc.code] = _digits_found(pc, np.eye(3))
    return sorted(out.values(), key=lambda f: (f.box[0], f.box[1]))


def _digits_found(pc: Any, m: np.ndarray) -> FoundCode:
    """A :class:`FoundCode` for a code read from printed digits, its box mapped back to the working image."""
    q = (m @ np.array([[pc.box[0], pc.box[2], pc.box[2], pc.box[0]],
                       [pc.box[1], pc.box[1], pc.box[3], pc.box[3]], [1, 1, 1, 1]], float))[:2].T
    box = (int(q[:, 0].min()), int(q[:, 1].min()), int(math.ceil(q[:, 0].max())), int(math.ceil(q[:, 1].max())))
    return FoundCode(pc.code, pc.printed, pc.format, 0, box, "digits")


def decode_image(img: Image.Image, time_budget_s: float = 0.9, size: tuple[int, int] | None = None,
                 threads: int = 2, ocr: bool = True, ocr_regions: int = 2, ocr_extra_s: float = 1.2) -> DecodeResult:
    """Run the cascade on an already-loaded image (any mode); see :func:`decode_photo`. ``time_budget_s`` covers
    the cascade and the printed digits both: OCR reads a crop only when it should be done in time. A small photo
    (at most :data:`OCR_WHOLE_PIXELS`: a chat thumbnail, a tight crop, where the digits are often legible when
    the bars are not) gives OCR ``ocr_extra_s`` more; a large one gives up within the budget."""
    t0 = time.perf_counter()
    work = img.convert("L") if img.mode != "L" else img
    reader = _Reader(work, t0 + time_budget_s)
    if threads <= 1:
        _run(reader, [name for name, _ in STRATEGIES])
    else:
        _run(reader, ["plain"])
        if not reader.done():
            with ThreadPoolExecutor(max_workers=len(LANES), thread_name_prefix="barcode") as pool:
                for f in [pool.submit(_run, reader, lane) for lane in LANES]:
                    f.result()
    found = reader.winners()
    strategy = reader.first if found else None
    if not found and ocr:
        small = work.width * work.height <= OCR_WHOLE_PIXELS
        found = _read_digits(reader, ocr_regions, reader.deadline + (ocr_extra_s if small else 0.0))
        strategy = "digits" if found else None
    if not found and reader.out_of_time():
        log.info("barcode photo: time budget of %.1f s spent", time_budget_s)
    seconds = time.perf_counter() - t0
    log.debug("barcode photo: %s via %s in %.3f s (%d reads)", [f.code for f in found], strategy, seconds,
              reader.attempts)
    return DecodeResult([f.code for f in found], found, strategy, seconds, size or work.size, work.size,
                        reader.attempts, reader.out_of_time() and not found)


def decode_photo(data: bytes, limits: PhotoLimits | None = None) -> DecodeResult:
    """Every EAN-13 / UPC-A / EAN-8 / UPC-E barcode readable in a photo (bytes of a JPEG, PNG, …).

    Raises :class:`PhotoError` when the bytes are not a usable photo. Finding nothing is not an error here
    (``codes`` is empty); :func:`find_pressings` turns that into a :class:`PhotoError` with what to try.
    ``seconds`` covers loading as well as decoding.
    """
    limits = limits or PhotoLimits.from_config()
    t0 = time.perf_counter()
    grey, upright = load_photo(data, limits)
    res = decode_image(grey, max(0.1, limits.time_budget_s - (time.perf_counter() - t0)), upright, limits.threads,
                       limits.ocr, limits.ocr_regions, limits.ocr_extra_s)
    # boxes back in the photo's own pixels when it was read downscaled
    if grey.size != upright:
        fx, fy = upright[0] / grey.width, upright[1] / grey.height
        res.found = [FoundCode(f.code, f.printed, f.format, f.votes,
                               (int(f.box[0] * fx), int(f.box[1] * fy), int(f.box[2] * fx), int(f.box[3] * fy)),
                               f.source)
                     for f in res.found]
    res.seconds = time.perf_counter() - t0
    return res


async def decode_photo_async(data: bytes, limits: PhotoLimits | None = None) -> DecodeResult:
    """:func:`decode_photo` in a worker thread, so the event loop (the chat adapters') never blocks."""
    return await asyncio.to_thread(decode_photo, data, limits)


def warm() -> None:
    """Load what reading a photo needs (zxing-cpp, OpenCV, the OCR engine) and read a blank one, so the first
    real photo meets its time budget; a worker process calls this when it starts."""
    import io

    blank = io.BytesIO()
    Image.new("L", (64, 64), 200).save(blank, "PNG")
    decode_photo(blank.getvalue())
    if ocr_available():
        read_printed_codes(Image.new("L", (96, 32), 255))
