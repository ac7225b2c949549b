"""Guards and loading: bytes in, an upright grey image out (or a PhotoError saying what to send)."""
from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.config import PhotoConfig, get_config, section

log = logging.getLogger("core.barcode")


#: what to tell the user when no barcode could be read
NO_BARCODE_HINT = ("I couldn't read a barcode in that photo. Type the digits printed under the bars (for example "
                   "0 75720 00325 9) and I'll look them up — or try another photo a little closer so the barcode "
                   "fills most of the frame, with the sleeve flat and square to the camera, in even light (no "
                   "glare across the bars), and in focus.")


NOT_AN_IMAGE = "That doesn't look like a photo I can open — send a JPEG or PNG picture of the barcode."


DAMAGED = "That photo seems to be cut off or damaged — please send it again."


_ALLOWED = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"}


class PhotoError(Exception):
    """A photo that cannot be used; ``user_message`` is fit for a chat reply."""

    user_message = NO_BARCODE_HINT

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or user_message or self.user_message)
        if user_message:
            self.user_message = user_message


@dataclass(frozen=True)
class PhotoLimits:
    """Input limits and the decoder's budgets (``photo`` section of the config; every key optional)."""

    max_bytes: int = 30_000_000          # larger uploads are refused outright
    max_pixels: int = Image.MAX_IMAGE_PIXELS or 89_478_485   # more pixels than this: a decompression bomb
    pixel_budget: int = 40_000_000       # photos over this are downscaled for decoding
    max_decoded_bytes: int = 150_000_000   # decoded size (pixels × bytes per pixel of its mode) before decoding
    max_aspect: float = 100.0            # longest side over shortest (a tight crop of the bars may be 30:1)…
    max_side: int = 40_000               # …and the longest side: a photo, not a strip of millions of pixels
    time_budget_s: float = 0.9           # the answer's budget, load to last OCR (typical photos take < 0.2 s)
    threads: int = 2                     # the fallbacks run in two lanes side by side (1: one after another)
    ocr: bool = True                     # bars unreadable: read the printed digits (core.barcode.ocr)
    ocr_regions: int = 2                 # …in at most this many bar-like regions of the photo
    ocr_extra_s: float = 1.2             # …and in a photo of ≤ 1.5 MP, this long past the time budget

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None = None) -> "PhotoLimits":
        if cfg is None:
            cfg = get_config()
        sec = section(PhotoConfig, cfg["photo"])
        return cls(max_bytes=sec.max_bytes, max_pixels=sec.max_pixels, pixel_budget=sec.pixel_budget,
                   max_decoded_bytes=sec.max_decoded_bytes, max_aspect=sec.max_aspect, max_side=sec.max_side,
                   time_budget_s=sec.time_budget_s, threads=sec.threads, ocr=sec.ocr, ocr_regions=sec.ocr_regions,
                   ocr_extra_s=sec.ocr_extra_s)


# -- loading ---------------------------------------------------------------------------------------------------
def load_photo(data: bytes, limits: PhotoLimits | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """The photo as an upright greyscale image, downscaled to the pixel budget, and its upright full size.

    Raises :class:`PhotoError` for anything that is not a usable image (empty, too many bytes, not an image,
    a decompression bomb, truncated or corrupt data).
    """
    limits = limits or PhotoLimits.from_config()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"photo data must be bytes, not {type(data).__name__}")
    n = len(data)
    if n == 0:
        raise PhotoError("empty upload", "That file is empty — please send the photo again.")
    if n > limits.max_bytes:
        raise PhotoError(f"{n} bytes > {limits.max_bytes}",
                         f"That file is too large ({n / 1e6:.0f} MB). Send a photo under "
                         f"{limits.max_bytes / 1e6:.0f} MB — an ordinary phone photo is fine.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # we check the size ourselves
            im = Image.open(io.BytesIO(bytes(data)))
    except Image.DecompressionBombError as exc:
        raise PhotoError(f"decompression bomb: {exc}", _too_many_pixels()) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise PhotoError(f"not an image: {type(exc).__name__}", NOT_AN_IMAGE) from exc
    if im.format not in _ALLOWED:
        raise PhotoError(f"unsupported format {im.format}", NOT_AN_IMAGE)
    w, h = im.size
    if w <= 0 or h <= 0 or w * h > limits.max_pixels:
        raise PhotoError(f"{w}x{h} pixels > {limits.max_pixels}", _too_many_pixels())
    if max(w, h) > limits.max_aspect * min(w, h) or max(w, h) > limits.max_side:
        raise PhotoError(f"{w}x{h}: aspect over {limits.max_aspect:g}",
                         f"That image is {w:,} × {h:,} pixels — a strip, not a photo of a sleeve. "
                         "Send an ordinary photo of the barcode.")
    scale = math.sqrt(limits.pixel_budget / (w * h)) if w * h > limits.pixel_budget else 1.0
    if im.format in ("JPEG", "MPO"):
        # decode straight to grey, at a reduced DCT scale when the photo is over budget
        im.draft("L", (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
    decoded = im.size[0] * im.size[1] * _bytes_per_pixel(im.mode)
    if decoded > limits.max_decoded_bytes:   # checked before a byte of pixels is decoded
        raise PhotoError(f"{w}x{h} {im.mode}: {decoded} decoded bytes > {limits.max_decoded_bytes}",
                         f"That image would take {decoded / 1e6:,.0f} MB to open ({w:,} × {h:,} pixels), more "
                         f"than the {limits.max_decoded_bytes / 1e6:,.0f} MB I allow one photo. Send it as a JPEG, "
                         "or a smaller picture of the barcode.")
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:   # a broken EXIF block must not lose the photo
        orientation = 1
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
        oriented = ImageOps.exif_transpose(im) if orientation != 1 else im
        grey = _to_grey(oriented)
    except Image.DecompressionBombError as exc:
        raise PhotoError(f"decompression bomb: {exc}", _too_many_pixels()) from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise PhotoError(f"cannot decode: {exc}", DAMAGED) from exc
    if grey.width * grey.height > limits.pixel_budget:
        f = math.sqrt(limits.pixel_budget / (grey.width * grey.height))
        grey = grey.resize((max(1, int(grey.width * f)), max(1, int(grey.height * f))), Image.Resampling.BOX)
    if grey.size != upright:
        log.debug("photo %dx%d decoded at %dx%d", upright[0], upright[1], grey.width, grey.height)
    return grey, upright


_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2,
                    "I;16N": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4,
                    "CMYK": 4, "I": 4, "F": 4}


def _bytes_per_pixel(mode: str) -> int:
    return _BYTES_PER_PIXEL.get(mode, 4)


def _to_grey(im: Image.Image) -> Image.Image:
    """8-bit grey; 16-bit and float images are stretched to the 8-bit range (PIL would clip them), in strips of
    rows so that no float copy of the whole image is ever made."""
    if im.mode == "L":
        return im
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        lo, hi = (float(v) for v in im.getextrema())  # type: ignore[arg-type]
        k = 255.0 / max(hi - lo, 1e-6)
        out = np.empty((im.height, im.width), np.uint8)
        step = max(1, 4_000_000 // max(im.width, 1))
        for y in range(0, im.height, step):
            strip = np.asarray(im.crop((0, y, im.width, min(im.height, y + step))), dtype=np.float32)
            out[y:y + strip.shape[0]] = ((strip - lo) * k).astype(np.uint8)
        return Image.fromarray(out, "L")
    return im.convert("L")


def _too_many_pixels() -> str:
    return ("That image has far too many pixels to be a photo (it may be a decompression bomb) — send an "
            "ordinary photo of the barcode.")
