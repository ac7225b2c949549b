"""Barcode photos: read the EAN/UPC barcode(s) off a phone photo of a sleeve and find the pressing on Discogs.

Reading (:func:`decode_photo`):

1. **Guard and load.** The bytes must be an image (JPEG, PNG, WebP, …) of at most ``photo.max_bytes`` bytes and
   ``photo.max_pixels`` pixels (default PIL's own ``Image.MAX_IMAGE_PIXELS``): decompression bombs, text files and
   truncated files are refused with a :class:`PhotoError` whose ``user_message`` says what to do. A photo over the
   pixel budget (``photo.pixel_budget``, default 40 MP) is downscaled while it is read (JPEG: decoded straight to
   grey at a reduced scale). The EXIF orientation is applied (``ImageOps.exif_transpose``).
2. **Cascade.** Cheap views first, fallbacks only when nothing has been read yet; a strategy that confirms a code
   ends the search (every code it confirmed is returned, so a photo with several barcodes reports all of them):

   ``plain`` (the grey photo, zxing-cpp's local-average binarizer, 0°/90°; most photos end here) → then, in two
   lanes side by side (zxing-cpp releases the GIL, so two cores are used; the first lane to confirm a code
   stops the other): ``binarizers`` (global histogram; fixed threshold after ``autocontrast``) → ``pyramid``
   (½ and ¼ scale, which also averages sensor noise away; ×2 for small photos) → ``rotations`` (the photo turned
   30° and 60°) → ``enhance`` (``autocontrast`` + ``UnsharpMask``), and ``regions`` (bar-like regions found
   from the gradient structure tensor are cut out at full resolution along their own axis — de-rotation and
   de-skew in one affine resampling — and read as they are, squashed along the bars against noise, halved or
   doubled, sharpened) → ``tiles`` (overlapping tiles, each with its own threshold; enlarged ×2 in photos up
   to 3 MP: a small code in a large photo). ``photo.threads: 1`` runs all of it in one thread.
3. **Never a misread.** zxing-cpp checks the EAN/UPC check digit itself, and so does :func:`_canonical`. On top
   of that, every reading is filed under the spot of the photo it came from with the
   *family* of the view that read it (how its pixels were sampled: scale, angle, squash; another binarizer on
   the same pixels is the same family), and every spot is re-read from a crop along the bars' own direction
   (squashed, halved or doubled, other binarizers, top and bottom strips). A code is returned only when two
   independent families read it and it leads any other reading of that spot by two; an EAN-8/UPC-E needs
   three, and loses to any EAN-13/UPC-A read over it (the left half of an EAN-13 can pass for a UPC-E).
   A damaged code gives the right code or nothing.

:func:`decode_photo_async` runs the same work in a worker thread (``asyncio.to_thread``) for the chat adapters;
:func:`find_pressings` maps each code to the candidate pressings through ``DiscogsGateway.search_barcode``.
"""
from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import io
import logging
import math
import operator
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np
import zxingcpp
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .discogs.barcodes import digits, is_valid_gs1, normalise_barcode, typed_barcode, upce_to_upca

if TYPE_CHECKING:   # pragma: no cover
    from .discogs.gateway import Candidate, DiscogsGateway

log = logging.getLogger(__name__)

#: what to tell the user when no barcode could be read
NO_BARCODE_HINT = ("I couldn't read a barcode in that photo. Type the digits printed under the bars (for example "
                   "0 75720 00325 9) and I'll look them up — or try another photo a little closer so the barcode "
                   "fills most of the frame, with the sleeve flat and square to the camera, in even light (no "
                   "glare across the bars), and in focus.")
NOT_AN_IMAGE = "That doesn't look like a photo I can open — send a JPEG or PNG picture of the barcode."
DAMAGED = "That photo seems to be cut off or damaged — please send it again."


def _formats() -> Any:
    """EAN-13, UPC-A, EAN-8 and UPC-E as zxing-cpp wants them: a tuple from 3.0, or'ed flags before."""
    fmts = (zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.UPCA, zxingcpp.BarcodeFormat.EAN8,
            zxingcpp.BarcodeFormat.UPCE)
    try:
        major = int(importlib.metadata.version("zxing-cpp").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        major = 3
    return fmts if major >= 3 else functools.reduce(operator.or_, fmts)


_FORMATS = _formats()
_ALLOWED = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
_LA, _GH, _FT = zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram, zxingcpp.Binarizer.FixedThreshold


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
    time_budget_s: float = 2.0           # the cascade stops here (a last resort; typical photos take < 0.5 s)
    threads: int = 2                     # the fallbacks run in two lanes side by side (1: one after another)
    ocr: bool = True                     # bars unreadable: read the printed digits (core.barcode_ocr)
    ocr_regions: int = 2                 # …in at most this many bar-like regions of the photo

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None = None) -> "PhotoLimits":
        if cfg is None:
            from .config import get_config

            cfg = get_config()
        sec = (cfg or {}).get("photo") or {}
        d = cls()
        return cls(max_bytes=int(sec.get("max_bytes", d.max_bytes)),
                   max_pixels=int(sec.get("max_pixels", d.max_pixels)),
                   pixel_budget=int(sec.get("pixel_budget", d.pixel_budget)),
                   time_budget_s=float(sec.get("time_budget_s", d.time_budget_s)),
                   threads=int(sec.get("threads", d.threads)),
                   ocr=bool(sec.get("ocr", d.ocr)), ocr_regions=int(sec.get("ocr_regions", d.ocr_regions)))


@dataclass(frozen=True)
class FoundCode:
    """One barcode read off the photo."""

    code: str                    # canonical form (core.discogs.barcodes.normalise_barcode): what to search for
    printed: str                 # the digits as printed under the bars (8 for EAN-8 and UPC-E)
    format: str                  # "EAN-13", "UPC-A", "EAN-8" or "UPC-E"
    votes: int                   # independent views that read it (0: read from the printed digits)
    box: tuple[int, int, int, int]   # where, in the upright photo's pixels (x0, y0, x1, y1)
    source: str = "bars"         # "bars", "digits" (OCR of the printed digits) or "typed" (the collector typed it)

    @property
    def from_digits(self) -> bool:
        return self.source == "digits"


@dataclass
class DecodeResult:
    """What :func:`decode_photo` read, how and how fast."""

    codes: list[str]                     # canonical codes, each once, in reading order (left to right)
    found: list[FoundCode]
    strategy: str | None                 # the cascade step that read them (None: nothing read)
    seconds: float
    size: tuple[int, int]                # the photo's size, upright
    decoded_size: tuple[int, int]        # the size the decoder worked at (smaller when over the pixel budget)
    attempts: int = 0                    # zxing-cpp calls
    timed_out: bool = False


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
    try:
        orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:   # a broken EXIF block must not lose the photo
        orientation = 1
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    scale = math.sqrt(limits.pixel_budget / (w * h)) if w * h > limits.pixel_budget else 1.0
    try:
        if im.format in ("JPEG", "MPO"):
            # decode straight to grey, at a reduced DCT scale when the photo is over budget
            im.draft("L", (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
        im = ImageOps.exif_transpose(im) if orientation != 1 else im
        grey = _to_grey(im)
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


def _to_grey(im: Image.Image) -> Image.Image:
    """8-bit grey; 16-bit and float images are stretched to the 8-bit range (PIL would clip them)."""
    if im.mode == "L":
        return im
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float32)
        lo, hi = float(a.min()), float(a.max())
        return Image.fromarray(((a - lo) * (255.0 / max(hi - lo, 1e-6))).astype(np.uint8), "L")
    return im.convert("L")


def _too_many_pixels() -> str:
    return ("That image has far too many pixels to be a photo (it may be a decompression bomb) — send an "
            "ordinary photo of the barcode.")


# -- geometry of views -------------------------------------------------------------------------------------------
def _scale_m(s: float) -> np.ndarray:
    """view = work · s  →  the view-to-work matrix."""
    return np.array([[1 / s, 0, 0], [0, 1 / s, 0], [0, 0, 1]], float)


def _rotation_m(src_size: tuple[int, int], out_size: tuple[int, int], angle: float) -> np.ndarray:
    """View-to-source matrix of ``PIL.Image.rotate(angle, expand=True)`` (angle counter-clockwise, degrees)."""
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    cx, cy = src_size[0] / 2, src_size[1] / 2
    ox, oy = out_size[0] / 2, out_size[1] / 2
    # out = o + M (in - c), M = [[c, s], [-s, c]]  →  in = c + Mᵀ (out - o)
    return np.array([[c, -s, cx - c * ox + s * oy], [s, c, cy - s * ox - c * oy], [0, 0, 1]], float)


def _translate_m(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], float)


@dataclass
class _View:
    """One image zxing-cpp reads, with the map from its pixels back to the working image's.

    ``family`` names how its pixels were sampled from the photo (scale, turn, squash): views of one family
    (the same pixels through another binarizer or filter) are not independent witnesses of a code.
    """

    name: str
    family: str
    img: Image.Image
    to_work: np.ndarray
    binarizer: Any = _LA
    try_rotate: bool = True


# -- votes ------------------------------------------------------------------------------------------------------
_LONG = ("EAN-13", "UPC-A")


@dataclass
class _Spot:
    """Every reading of one place in the photo: which codes, seen by which independent view families."""

    center: np.ndarray
    length: float
    angle: float                      # of the code's reading direction, degrees (work coordinates)
    quad: np.ndarray                  # 4×2, work coordinates
    families: dict[str, set[str]] = field(default_factory=dict)     # code → families that read it
    meta: dict[str, tuple[str, str]] = field(default_factory=dict)   # code → (printed, format)
    quads: dict[str, np.ndarray] = field(default_factory=dict)       # code → where it was first read
    verified: bool = False

    def add(self, code: str, printed: str, fmt: str, family: str, quad: np.ndarray) -> None:
        self.families.setdefault(code, set()).add(family)
        self.meta.setdefault(code, (printed, fmt))
        self.quads.setdefault(code, quad)

    def votes(self, code: str) -> int:
        return len(self.families.get(code, ()))

    def has_long(self) -> bool:
        return any(fmt in _LONG for _, fmt in self.meta.values())

    def winner(self) -> str | None:
        """The code this spot shows: read by two independent view families at least, two ahead of any other
        code read here, and not a short code (EAN-8/UPC-E) where a long one was read — half an EAN-13 can
        pass for a UPC-E."""
        ranked = sorted(((len(f), c) for c, f in self.families.items()), reverse=True)
        if not ranked:
            return None
        n, top = ranked[0]
        second = ranked[1][0] if len(ranked) > 1 else 0
        if n < 2 or n - second < 2:
            return None
        if self.meta[top][1] not in _LONG and (self.has_long() or n < 3):
            return None
        return top


def _canonical(text: str, fmt: Any) -> tuple[str, str, str] | None:
    """(canonical code, printed digits, format name) of a zxing reading, or None unless it checks out."""
    d = digits(text)
    if fmt == zxingcpp.BarcodeFormat.UPCE:
        if len(d) == 8:
            upca = upce_to_upca(d)
            printed = d
        else:
            upca = normalise_barcode(d) if len(d) in (12, 13) and is_valid_gs1(d) else None
            printed = _upca_to_upce(upca) if upca else None
        if not upca or len(upca) != 12 or not printed:
            return None
        return upca, printed, "UPC-E"
    if len(d) not in (8, 12, 13) or not is_valid_gs1(d):
        return None
    code = normalise_barcode(d)
    if code is None:
        return None
    if len(d) == 8:
        return code, d, "EAN-8"
    return code, code, "UPC-A" if len(code) == 12 else "EAN-13"


def _upca_to_upce(upca: str) -> str | None:
    """The 8-digit UPC-E that expands to ``upca`` (None when it has no zero-suppressed form)."""
    ns, m, chk = upca[0], upca[1:11], upca[11]
    if ns not in "01":
        return None
    if m[2:5] in ("000", "100", "200"):
        e = m[0:2] + m[7:10] + m[2]
    elif m[3:8] == "00000":
        e = m[0:3] + m[8:10] + "3"
    elif m[4:9] == "00000":
        e = m[0:4] + m[9] + "4"
    elif m[5:9] == "0000" and m[9] in "56789":
        e = m[0:5] + m[9]
    else:
        return None
    out = ns + e + chk
    return out if upce_to_upca(out) == upca else None


def _inside(pt: np.ndarray, quad: np.ndarray, margin: float) -> bool:
    """Whether ``pt`` lies within ``margin`` pixels of the quadrilateral's bounding box."""
    return bool(quad[:, 0].min() - margin <= pt[0] <= quad[:, 0].max() + margin
                and quad[:, 1].min() - margin <= pt[1] <= quad[:, 1].max() + margin)


# -- the reader ---------------------------------------------------------------------------------------------------
class _Reader:
    """Runs views through zxing-cpp, files every reading under its spot, and confirms spots by re-reading."""

    def __init__(self, work: Image.Image, deadline: float) -> None:
        self.work = work
        self.deadline = deadline
        self.spots: list[_Spot] = []
        self.attempts = 0
        self._cache: dict[int, Any] = {}        # k → the image at 1/k scale; -k → its border grey
        self._lock = threading.RLock()          # the spots are shared by the lanes
        self.stop = threading.Event()           # set when a lane has confirmed a code
        self.first: str | None = None           # the strategy that confirmed first

    def reduced(self, k: int) -> Image.Image:
        """The working image at 1/k scale (box filter), made once."""
        if k <= 1:
            return self.work
        if k not in self._cache:
            self._cache[k] = self.work.reduce(k)
        return self._cache[k]

    def border(self, k: int) -> int:
        """The grey to fill with outside the photo (at 1/k scale), so no hard edge is invented."""
        key = -k
        if key not in self._cache:
            self._cache[key] = _border(self.reduced(k))   # type: ignore[assignment]
        return int(self._cache[key])  # type: ignore[arg-type]

    def out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline

    def done(self) -> bool:
        """Stop reading: out of time, or another lane has confirmed a code."""
        return self.stop.is_set() or self.out_of_time()

    def read(self, view: _View, spots: list[_Spot] | None = None) -> list[_Spot]:
        """Read ``view``; every valid EAN/UPC reading is filed under its spot. Returns the spots it touched."""
        if view.img.width < 8 or view.img.height < 8:
            return []
        with self._lock:
            self.attempts += 1
        try:   # zxing-cpp releases the GIL: the two lanes read in parallel
            results = zxingcpp.read_barcodes(view.img, formats=_FORMATS, try_rotate=view.try_rotate,
                                             try_downscale=False, try_invert=False, binarizer=view.binarizer)
        except Exception as exc:   # zxing never should, but a reader bug must not lose the photo
            log.warning("zxing-cpp failed on view %s: %s", view.name, exc)
            return []
        with self._lock:
            return self._file(results, view, spots)

    def _file(self, results: list[Any], view: _View, spots: list[_Spot] | None) -> list[_Spot]:
        touched = []
        for r in results:
            if not r.valid or getattr(r, "error", None) is not None:
                continue
            can = _canonical(r.text, r.format)
            if can is None:
                continue
            p = r.position
            pts = np.array([[p.top_left.x, p.top_left.y], [p.top_right.x, p.top_right.y],
                            [p.bottom_right.x, p.bottom_right.y], [p.bottom_left.x, p.bottom_left.y]], float)
            hq = (view.to_work @ np.c_[pts, np.ones(4)].T).T
            quad = hq[:, :2] / hq[:, 2:3]   # projective views (a rectified region) as well as affine ones
            spot = self._spot(quad, spots)
            spot.add(can[0], can[1], can[2], view.family, quad)
            touched.append(spot)
        return touched

    def _spot(self, quad: np.ndarray, within: list[_Spot] | None = None) -> _Spot:
        center = quad.mean(axis=0)
        vec = ((quad[1] - quad[0]) + (quad[2] - quad[3])) / 2
        length = max(float(np.hypot(*vec)), 1.0)
        for spot in (within if within is not None else self.spots):
            if np.hypot(*(spot.center - center)) < 0.5 * max(spot.length, length):
                return spot
        spot = _Spot(center, length, math.degrees(math.atan2(vec[1], vec[0])), quad)
        self.spots.append(spot)
        if within is not None:
            within.append(spot)
        return spot

    def settled(self, center: np.ndarray, radius: float) -> bool:
        """Whether a spot within ``radius`` of ``center`` already has a confirmed code."""
        with self._lock:
            return any(np.hypot(*(s.center - center)) < radius and s.winner() is not None for s in self.spots)

    # -- confirming what was seen --------------------------------------------------------------------------
    def confirm(self) -> None:
        """Re-read, from crops around it, every spot that has readings but no winner yet."""
        with self._lock:
            todo = [sp for sp in self.spots if sp.families and not sp.verified and sp.winner() is None]
            for sp in todo:
                sp.verified = True          # one lane verifies a spot, never both
        for spot in todo:
            for view in self._verify_views(spot):
                if self.out_of_time():
                    return
                self.read(view, [spot])
                with self._lock:
                    if spot.winner() is not None:
                        break

    def _verify_views(self, spot: _Spot) -> Iterator[_View]:
        """Other looks at the spot: the crop turned level, squashed along the bars, halved or doubled."""
        # a short code may be half of a long one: look at twice its length, so the rest can show up
        long_ = spot.has_long()
        span = spot.length * (1.5 if long_ else 2.6)
        angle = self._bar_angle(spot)
        base, base_m, fam = self._level_crop(spot.center, span, spot.length * 0.9, angle)
        if base is None:
            return
        sq = base.resize((base.width, max(8, base.height // 4)), Image.Resampling.BOX)
        sq_m = base_m @ np.diag([1.0, base.height / sq.height, 1.0])
        yield _View("verify-squash", fam + "q4", sq, sq_m, _LA, False)
        if base.width >= 240:
            half = base.reduce(2)
            yield _View("verify-half", fam + "h", half, base_m @ _scale_m(0.5), _LA, False)
        else:
            dbl = base.resize((base.width * 2, base.height * 2), Image.Resampling.BICUBIC)
            yield _View("verify-double", fam + "d", dbl, base_m @ _scale_m(2.0), _LA, False)
        yield _View("verify", fam, base, base_m, _GH, False)
        yield _View("verify-la", fam, base, base_m, _LA, False)
        yield _View("verify-squash-gh", fam + "q4", sq, sq_m, _GH, False)
        sharp = ImageOps.autocontrast(sq, cutoff=1).filter(ImageFilter.UnsharpMask(2, 120, 2))
        yield _View("verify-squash-sharp", fam + "q4", sharp, sq_m, _LA, False)
        yield _View("verify-squash-inverted", fam + "q4", ImageOps.invert(sq), sq_m, _LA, False)   # light on dark
        yield _View("verify-local", fam + "q4", _clahe(sq), sq_m, _LA, False)
        yield from _rectified_views(self, base, base_m, fam, "verify")
        if base.width < 900:   # small modules: enlarged and sharpened, as it is and squashed
            up = base.resize((base.width * 2, base.height * 2), Image.Resampling.BICUBIC)
            up_m = base_m @ _scale_m(2.0)
            yield _View("verify-x2-sharp", fam + "d", up.filter(ImageFilter.UnsharpMask(4, 200, 0)), up_m, _LA, False)
            sq_up = up.resize((up.width, max(8, up.height // 4)), Image.Resampling.BOX)
            yield _View("verify-x2-squash-sharp", fam + "q4d", sq_up.filter(ImageFilter.UnsharpMask(4, 250, 0)),
                        up_m @ np.diag([1.0, up.height / sq_up.height, 1.0]), _LA, False)
        strips = max(1, base.height // 3)
        for i in (0, 2):   # the top and bottom thirds of the bars: other rows, other noise
            strip = base.crop((0, i * strips, base.width, (i + 1) * strips))
            strip = strip.resize((strip.width, max(8, strip.height // 4)), Image.Resampling.BOX)
            m = base_m @ _translate_m(0, i * strips) @ np.diag([1.0, strips / strip.height, 1.0])
            yield _View(f"verify-strip{i}", f"{fam}s{i}", strip, m, _LA, False)

    def _bar_angle(self, spot: _Spot) -> float:
        """The direction across the bars at ``spot`` (degrees), from the gradient structure tensor of the
        photo there; the direction the code was read in when the bars give no clear answer."""
        half = 0.5 * spot.length
        k = max(1, int(spot.length // 400))
        src = self.reduced(k)
        cx, cy = spot.center / k
        x0, y0 = max(0, int(cx - half / k)), max(0, int(cy - 0.4 * half / k))
        x1, y1 = min(src.width, int(cx + half / k) + 1), min(src.height, int(cy + 0.4 * half / k) + 1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return spot.angle
        a = np.asarray(src.crop((x0, y0, x1, y1)), dtype=np.float32)
        gx = a[1:-1, 2:] - a[1:-1, :-2]
        gy = a[2:, 1:-1] - a[:-2, 1:-1]
        jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
        if math.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) < 0.3 * (jxx + jyy + 1e-6):
            return spot.angle
        return 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))

    def _level_crop(self, center: np.ndarray, length: float, height: float, angle: float,
                    max_px: int = 1_500_000) -> tuple[Image.Image | None, np.ndarray, str]:
        """The band ``length`` × ``height`` of the working image centred on ``center`` whose x axis runs along
        ``angle`` (degrees; the code then reads left to right, bars upright), sampled straight out of the photo
        with one affine transform; its view-to-work matrix and its sampling family."""
        k = 1
        while (length / k) * (height / k) > max_px:
            k *= 2
        src = self.reduced(k)
        bw, bh = max(8, int(length / k)), max(8, int(height / k))
        angle = (angle + 90) % 180 - 90
        fam = f"s{k}"
        if abs(angle) <= 1.0:
            angle = 0.0
        else:
            fam += f"r{round(angle)}"
        t = math.radians(angle)
        c, s_ = math.cos(t), math.sin(t)
        cx, cy = center / k
        if angle == 0.0:   # an axis-aligned crop: the photo's own pixels
            x0, y0 = int(round(cx - bw / 2)), int(round(cy - bh / 2))
            m = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], float)
        else:
            m = np.array([[c, -s_, cx - c * bw / 2 + s_ * bh / 2], [s_, c, cy - s_ * bw / 2 - c * bh / 2],
                          [0, 0, 1]], float)
        # corners outside the photo get the edge's grey, not black (no invented edges)
        band = src.transform((bw, bh), Image.Transform.AFFINE, tuple(m[:2].ravel()), Image.Resampling.BILINEAR,
                             fillcolor=self.border(k) if not _within(m, bw, bh, src.size) else 0)
        return band, _scale_m(1 / k) @ m, fam

    def winners(self) -> list[FoundCode]:
        """Every confirmed code, left to right; a short code inside a long code's reading is dropped."""
        with self._lock:
            return self._winners()

    def _winners(self) -> list[FoundCode]:
        longs = [s for s in self.spots if s.has_long()]
        out: dict[str, FoundCode] = {}
        for spot in sorted(self.spots, key=lambda s: (float(s.center[0]), float(s.center[1]))):
            code = spot.winner()
            if code is None or code in out:
                continue
            printed, fmt = spot.meta[code]
            if fmt not in _LONG and any(o is not spot and _inside(spot.center, o.quad, 0.5 * o.length) for o in longs):
                continue
            q = spot.quads[code]
            box = (int(q[:, 0].min()), int(q[:, 1].min()), int(math.ceil(q[:, 0].max())), int(math.ceil(q[:, 1].max())))
            out[code] = FoundCode(code, printed, fmt, spot.votes(code), box)
        return list(out.values())


def _within(m: np.ndarray, w: int, h: int, size: tuple[int, int]) -> bool:
    """Whether the ``w``×``h`` view mapped by ``m`` lies inside an image of ``size``."""
    pts = m @ np.array([[0, w, w, 0], [0, 0, h, h], [1, 1, 1, 1]], float)
    return bool(pts[0].min() >= 0 and pts[1].min() >= 0 and pts[0].max() <= size[0] and pts[1].max() <= size[1])


def _border(img: Image.Image) -> int:
    """The median grey of the image's outermost rows and columns."""
    w, h = img.size
    strips = [img.crop((0, 0, w, 1)), img.crop((0, h - 1, w, h)), img.crop((0, 0, 1, h)), img.crop((w - 1, 0, w, h))]
    edge = np.concatenate([np.asarray(s).ravel() for s in strips])
    return int(np.median(edge)) if edge.size else 255


# -- strategies --------------------------------------------------------------------------------------------------
def _s_plain(r: _Reader) -> Iterator[_View]:
    w, h = r.work.size
    if min(w, h) < THIN_PX:   # a strip or a single scan line: repeat it across until zxing-cpp sees bars
        if h < w:
            tall = r.work.resize((w, THIN_PX), Image.Resampling.NEAREST)
            m = np.diag([1.0, h / THIN_PX, 1.0])
        else:
            tall = r.work.resize((THIN_PX, h), Image.Resampling.NEAREST)
            m = np.diag([w / THIN_PX, 1.0, 1.0])
        yield _View("strip", "t", tall, m, _LA)
        yield _View("strip-gh", "t", tall, m, _GH)
        for s in (2, 3):
            up = tall.resize((tall.width * s, tall.height * s), Image.Resampling.BICUBIC)
            yield _View(f"strip-x{s}", f"t{s}", up, m @ _scale_m(float(s)), _LA)
        return
    yield _View("plain", "s1", r.work, np.eye(3), _LA)


def _s_small(r: _Reader) -> Iterator[_View]:
    """Small photos (a chat thumbnail, a tight crop, a scan line): the photo enlarged ×1.5–×4, as it is, with
    its histogram equalised, and with a quiet zone added around it (a crop that cuts the margins off). Each
    scale samples the pixels anew, so each is its own family of witnesses."""
    w, h = r.work.size
    if w * h > SMALL_PIXELS:
        return
    for s in (1.5, 2.0, 3.0, 4.0):
        if max(w, h) * s > 2400 and s > 1.5:
            break
        up = r.work.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BICUBIC)
        m = np.diag([w / up.width, h / up.height, 1.0])
        fam = f"u{s:g}"
        yield _View(f"up{s:g}", fam, up, m, _LA)
        yield _View(f"up{s:g}-gh", fam, up, m, _GH)
        yield _View(f"up{s:g}-eq", fam, ImageOps.equalize(up), m, _LA)
        pad = max(8, round(0.08 * max(up.size)))
        framed = ImageOps.expand(up, border=pad, fill=_bright(up))
        yield _View(f"up{s:g}-quiet", fam + "z", framed, m @ _translate_m(-pad, -pad), _LA)


def _bright(img: Image.Image) -> int:
    """A light grey of the image (its 95th percentile): the colour of paper around the bars."""
    return int(np.percentile(np.asarray(img), 95))


def _clahe(img: Image.Image, clip: float = 3.0, tiles: int = 8) -> Image.Image:
    """Contrast-limited adaptive histogram equalisation (OpenCV's CLAHE): glare, shadow and a dark sleeve lose
    their hold on the local contrast of the bars. Without OpenCV, a plain global equalisation."""
    try:
        import cv2
    except Exception:   # pragma: no cover - OpenCV comes with rapidocr-onnxruntime
        return ImageOps.equalize(img)
    grid = (max(1, min(tiles, img.width // 16)), max(1, min(tiles, img.height // 16)))
    return Image.fromarray(cv2.createCLAHE(clipLimit=clip, tileGridSize=grid).apply(np.asarray(img)), "L")


def _s_invert(r: _Reader) -> Iterator[_View]:
    """Light bars on a dark sleeve: the photo's negative (zxing-cpp reads dark bars on light)."""
    w, h = r.work.size
    k = 1
    while (w // k) * (h // k) > 4_000_000:
        k *= 2
    neg = ImageOps.invert(r.reduced(k))
    yield _View("inverted", f"s{k}", neg, _scale_m(1 / k), _LA)
    yield _View("inverted-gh", f"s{k}", neg, _scale_m(1 / k), _GH)


def _s_local(r: _Reader) -> Iterator[_View]:
    """Local contrast (CLAHE) for glare across the bars and low light, and its negative."""
    w, h = r.work.size
    k = 1
    while (w // k) * (h // k) > 2_500_000:
        k *= 2
    eq = _clahe(r.reduced(k))
    yield _View("local-contrast", f"s{k}", eq, _scale_m(1 / k), _LA)
    yield _View("local-contrast-gh", f"s{k}", eq, _scale_m(1 / k), _GH)
    yield _View("local-contrast-inverted", f"s{k}", ImageOps.invert(eq), _scale_m(1 / k), _LA)


def _s_binarizers(r: _Reader) -> Iterator[_View]:
    yield _View("global-histogram", "s1", r.work, np.eye(3), _GH)
    k = 2 if r.work.width * r.work.height > 6_000_000 else 1
    stretched = ImageOps.autocontrast(r.reduced(k), cutoff=1)
    yield _View("fixed-threshold", f"s{k}", stretched, _scale_m(1 / k), _FT)


def _s_pyramid(r: _Reader) -> Iterator[_View]:
    w, h = r.work.size
    for k in (2, 4):
        if min(w, h) // k >= 120:
            yield _View(f"scale-1/{k}", f"s{k}", r.reduced(k), _scale_m(1 / k), _LA)
            yield _View(f"scale-1/{k}-gh", f"s{k}", r.reduced(k), _scale_m(1 / k), _GH)
    if w * h <= 1_000_000:
        up = r.work.resize((w * 2, h * 2), Image.Resampling.BICUBIC)
        yield _View("scale-2", "x2", up, _scale_m(2.0), _LA)


def _bar_regions(img: Image.Image, block: int = 8,
                 max_regions: int = 6) -> list[tuple[np.ndarray, float, float, float]]:
    """Bar-like regions of ``img``: (center, extent along the gradient, extent across it, gradient angle°).

    Per block of ``block``×``block`` pixels, the gradient structure tensor gives the edge energy and how much
    of it runs one way (coherence); blocks that are both strong and coherent, joined with neighbours of a
    similar orientation, are the candidate barcodes (text is strong but incoherent, flat print is weak).
    """
    a = np.asarray(img, dtype=np.float32)
    gx = np.zeros_like(a)
    gy = np.zeros_like(a)
    gx[:, 1:-1] = a[:, 2:] - a[:, :-2]
    gy[1:-1, :] = a[2:, :] - a[:-2, :]
    H, W = a.shape
    bh, bw = H // block, W // block
    if bh < 3 or bw < 3:
        return []

    def bsum(x: np.ndarray) -> np.ndarray:
        return x[:bh * block, :bw * block].reshape(bh, block, bw, block).sum(axis=(1, 3))

    jxx, jyy, jxy = bsum(gx * gx), bsum(gy * gy), bsum(gx * gy)
    energy = jxx + jyy
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (energy + 1e-6)
    mean = bsum(a) / (block * block)
    # edge energy relative to the local brightness: a flat, dim photo's bars still count
    rel = np.sqrt(energy / (block * block)) / (mean + 20.0)
    good = (coherence > 0.55) & (rel > max(0.08, float(np.percentile(rel, 60))))
    theta = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))   # gradient direction, (-90, 90]
    seen = np.zeros_like(good)
    regions = []
    for y0, x0 in zip(*np.nonzero(good)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        stack, members = [(y0, x0)], []
        t0 = theta[y0, x0]
        while stack:
            y, x = stack.pop()
            members.append((y, x))
            for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1), (y - 1, x - 1), (y + 1, x + 1),
                           (y - 1, x + 1), (y + 1, x - 1)):
                if 0 <= yy < bh and 0 <= xx < bw and good[yy, xx] and not seen[yy, xx]:
                    d = abs(theta[yy, xx] - t0) % 180
                    if min(d, 180 - d) < 20:
                        seen[yy, xx] = True
                        stack.append((yy, xx))
        if len(members) < 4:
            continue
        ys, xs = np.array(members).T
        sxx, syy, sxy = jxx[ys, xs].sum(), jyy[ys, xs].sum(), jxy[ys, xs].sum()
        ang = 0.5 * math.degrees(math.atan2(2 * sxy, sxx - syy))
        pts = np.c_[(xs + 0.5) * block, (ys + 0.5) * block]
        c = pts.mean(axis=0)
        u = np.array([math.cos(math.radians(ang)), math.sin(math.radians(ang))])
        v = np.array([-u[1], u[0]])
        along = (pts - c) @ u
        across = (pts - c) @ v
        ext_u = float(along.max() - along.min()) + block
        ext_v = float(across.max() - across.min()) + block
        score = float((energy[ys, xs] * coherence[ys, xs]).sum())
        regions.append((score, c, ext_u, ext_v, ang))
    regions.sort(key=lambda t: -t[0])
    return [(c, eu, ev, ang) for _, c, eu, ev, ang in regions[:max_regions]]


def _regions(r: _Reader) -> list[tuple[np.ndarray, float, float, float]]:
    """Bar-like regions in working-image pixels, found at ~800 px (and ~1600 px for large photos, where a
    small code's bars would merge at 800): (center, length along the gradient, height, gradient angle)."""
    w, h = r.work.size
    out: list[tuple[np.ndarray, float, float, float]] = []
    for side in (800, 1600):
        k = max(1, math.ceil(max(w, h) / side))
        if side > 800 and max(w, h) <= 2000:
            break
        for c, ext_u, ext_v, ang in _bar_regions(r.reduced(k), max_regions=5):
            if ext_u < 0.5 * ext_v:    # far taller than wide: ruled lines, not a barcode
                continue
            c = c * k
            if any(np.hypot(*(c - o[0])) < 0.5 * max(o[1], ext_u * k) for o in out):
                continue
            out.append((c, ext_u * k, ext_v * k, ang))
    return out[:6]


def _s_regions(r: _Reader) -> Iterator[_View]:
    for i, (center, ext_u, ext_v, ang) in enumerate(_regions(r)):
        if r.done():
            return
        length = ext_u * 1.35 + 24       # room for the quiet zones
        height = max(ext_v * 1.1, length * 0.25)
        crop, m, fam = r._level_crop(center, length, height, ang)
        if crop is None:
            continue
        name = f"region{i}"
        sq = crop.resize((crop.width, max(8, crop.height // 4)), Image.Resampling.BOX)
        sq_m = m @ np.diag([1.0, crop.height / sq.height, 1.0])
        if crop.width < 700:
            other = sq.resize((sq.width * 2, sq.height), Image.Resampling.BICUBIC)
            other_v = _View(f"{name}-squash-x2", fam + "q4d", other, sq_m @ np.diag([0.5, 1.0, 1.0]), _LA, False)
        else:
            other = sq.resize((sq.width // 2, sq.height), Image.Resampling.BOX)
            other_v = _View(f"{name}-squash-half", fam + "q4h", other, sq_m @ np.diag([2.0, 1.0, 1.0]), _LA, False)
        views = [_View(name, fam, crop, m, _LA, False), _View(f"{name}-squash", fam + "q4", sq, sq_m, _LA, False),
                 other_v, _View(f"{name}-gh", fam, crop, m, _GH, False)]
        for v in views:
            yield v
            if r.settled(center, length / 2):
                break
        else:
            sharp = ImageOps.autocontrast(sq, cutoff=1).filter(ImageFilter.UnsharpMask(2, 150, 2))
            late = [_View(f"{name}-squash-sharp", fam + "q4", sharp, sq_m, _LA, False),
                    _View(f"{name}-inverted", fam + "q4", ImageOps.invert(sq), sq_m, _LA, False),
                    _View(f"{name}-local", fam + "q4", _clahe(sq), sq_m, _LA, False),
                    _View(f"{name}-local-crop", fam, _clahe(crop), m, _LA, False)]
            if crop.width < 900:   # small modules under blur: enlarge, then sharpen what the enlargement softened
                up = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.BICUBIC)
                up_m = m @ _scale_m(2.0)
                sq_up = up.resize((up.width, max(8, up.height // 4)), Image.Resampling.BOX)
                late += [_View(f"{name}-x2-sharp", fam + "d", up.filter(ImageFilter.UnsharpMask(4, 200, 0)), up_m,
                               _LA, False),
                         _View(f"{name}-x2-squash-sharp", fam + "q4d", sq_up.filter(ImageFilter.UnsharpMask(4, 250, 0)),
                               up_m @ np.diag([1.0, up.height / sq_up.height, 1.0]), _LA, False)]
            late = list(_rectified_views(r, crop, m, fam, name)) + late
            wide, wide_m, wide_fam = r._level_crop(center, length * 1.6, height * 1.2, ang)
            if wide is not None:   # the region found may be only part of the code (glare, a thumb)
                late.append(_View(f"{name}-wide", wide_fam + "w", wide, wide_m, _LA, False))
            for v in late:
                yield v
                if r.settled(center, length / 2):
                    break


def _homography(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """The 3×3 projective map taking the four points ``dst`` to ``src`` (rows of x, y)."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    h = np.linalg.solve(np.asarray(a, float), np.asarray(b, float))
    return np.append(h, 1.0).reshape(3, 3)


def _bar_quad(crop: Image.Image) -> np.ndarray | None:
    """The corners (TL, TR, BR, BL; crop pixels) of the block of bars in a level crop, from where the bars'
    horizontal gradients are: the first and last bar columns, and at each end the bars' lean and top and bottom.
    Under a keystone the block is a trapezoid, and mapping it back to a rectangle undoes the perspective."""
    a = np.asarray(crop, dtype=np.float32)
    h, w = a.shape
    if w < 48 or h < 16:
        return None
    gx = np.zeros_like(a)
    gy = np.zeros_like(a)
    gx[:, 1:-1] = a[:, 2:] - a[:, :-2]
    gy[1:-1, :] = a[2:, :] - a[:-2, :]
    mag = np.abs(gx)
    col = np.convolve(mag.mean(axis=0), np.ones(9) / 9, mode="same")
    on = col > 0.35 * col.max()
    if on.sum() < 16:
        return None
    # the widest run of bar columns, bridging gaps of up to 4 % of the width (wide bars, spaces)
    idx = np.nonzero(on)[0]
    gaps = np.nonzero(np.diff(idx) > max(3, int(0.04 * w)))[0]
    starts, ends = np.r_[idx[0], idx[gaps + 1]], np.r_[idx[gaps], idx[-1]]
    k = int(np.argmax(ends - starts))
    xl, xr = int(starts[k]), int(ends[k])
    span = xr - xl
    if span < 0.3 * w:
        return None
    corners = []
    for lo, hi in ((xl, xl + max(4, int(0.15 * span))), (xr - max(4, int(0.15 * span)), xr + 1)):
        m_ = mag[:, lo:hi]
        rows = np.convolve(m_.mean(axis=1), np.ones(5) / 5, mode="same")
        ys = np.nonzero(rows > 0.35 * rows.max())[0]
        if len(ys) < 4:
            return None
        top, bot = float(ys[0]), float(ys[-1])
        jxx = float((gx[:, lo:hi] ** 2).sum())
        jxy = float((gx[:, lo:hi] * gy[:, lo:hi]).sum())
        jyy = float((gy[:, lo:hi] ** 2).sum())
        theta = 0.5 * math.atan2(2 * jxy, jxx - jyy)    # across the bars; the bars run at theta + 90°
        x = (lo + hi) / 2 if False else (lo if lo == xl else hi - 1)
        yc = (top + bot) / 2
        lean = math.tan(theta)                          # x moves by -lean per unit of y along a bar
        corners.append(((x - (top - yc) * lean, top), (x - (bot - yc) * lean, bot)))
    (tl, bl), (tr, br) = corners
    return np.array([tl, tr, br, bl], float)


def _rectified(r: _Reader, crop: Image.Image, m: np.ndarray, fam: str) -> tuple[Image.Image, np.ndarray, str] | None:
    """The region's bars mapped from their quadrilateral to a rectangle (with quiet zones), sampled straight out
    of the working image: one projective resampling (see :func:`_bar_quad`)."""
    quad = _bar_quad(crop)
    if quad is None:
        return None
    cw, ch = crop.size
    if (quad[:, 0].min() < -0.1 * cw or quad[:, 0].max() > 1.1 * cw or quad[:, 1].min() < -0.1 * ch
            or quad[:, 1].max() > 1.1 * ch):
        return None                                     # not a block of bars inside the crop
    width = 0.5 * (np.hypot(*(quad[1] - quad[0])) + np.hypot(*(quad[2] - quad[3])))
    height = 0.5 * (np.hypot(*(quad[3] - quad[0])) + np.hypot(*(quad[2] - quad[1])))
    if width < 32 or height < 6:
        return None
    qz = 0.1 * width
    out_w, out_h = int(width + 2 * qz), max(8, int(height))
    dst = np.array([[qz, 0], [qz + width, 0], [qz + width, out_h], [qz, out_h]], float)
    try:
        hm = m @ _homography(dst, quad)                 # output pixel → working-image pixel
    except np.linalg.LinAlgError:                       # three corners in a line
        return None
    # the crop's own pixels are its resolution: sample the flat view at most that finely
    f = min(1.0, math.sqrt(1_500_000 / (out_w * out_h)), 1.5 * cw / out_w)
    if f < 1.0:
        out_w, out_h = max(32, int(out_w * f)), max(8, int(out_h * f))
        hm = hm @ _scale_m(f)
    hm = hm / hm[2, 2]
    coeffs = tuple(hm[:2].ravel()) + tuple(hm[2, :2])
    img = r.work.transform((out_w, out_h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR,
                           fillcolor=r.border(1))
    return img, hm, fam + "p"


def _rectified_views(r: _Reader, crop: Image.Image, m: np.ndarray, fam: str, name: str) -> Iterator[_View]:
    """Looks at a region with its perspective undone (:func:`_rectified`): as it is, squashed, with local
    contrast, and enlarged and sharpened."""
    flat = _rectified(r, crop, m, fam)
    if flat is None:
        return
    img, hm, f = flat
    sq = img.resize((img.width, max(8, img.height // 4)), Image.Resampling.BOX)
    yield _View(f"{name}-rectified", f, img, hm, _LA, False)
    yield _View(f"{name}-rectified-squash", f + "q4", sq, hm @ np.diag([1.0, img.height / sq.height, 1.0]), _LA, False)
    yield _View(f"{name}-rectified-local", f, _clahe(img), hm, _LA, False)
    if img.width < 900:
        up = img.resize((img.width * 2, img.height * 2),
                        Image.Resampling.BICUBIC).filter(ImageFilter.UnsharpMask(4, 200, 0))
        yield _View(f"{name}-rectified-x2-sharp", f + "d", up, hm @ _scale_m(2.0), _LA, False)


def _s_rotations(r: _Reader) -> Iterator[_View]:
    w, h = r.work.size
    k = 1
    while (w // k) * (h // k) > 2_500_000:
        k *= 2
    src = r.reduced(k)
    for angle in (30, 60):
        rot = src.rotate(angle, Image.Resampling.BILINEAR, expand=True, fillcolor=r.border(k))
        m = _scale_m(1 / k) @ _rotation_m(src.size, rot.size, angle)
        yield _View(f"rotate-{angle}", f"s{k}r{angle}", rot, m, _LA)
        yield _View(f"rotate-{angle}-gh", f"s{k}r{angle}", rot, m, _GH)


def _s_enhance(r: _Reader) -> Iterator[_View]:
    w, h = r.work.size
    k = 1
    while (w // k) * (h // k) > 1_500_000:   # sharpening is the costly filter: at most ~1.5 MP
        k += 1
    src = r.reduced(k)
    sharp = ImageOps.autocontrast(src, cutoff=1).filter(ImageFilter.UnsharpMask(3, 180, 2))
    yield _View("enhance", f"s{k}", sharp, _scale_m(1 / k), _LA)
    yield _View("enhance-gh", f"s{k}", sharp, _scale_m(1 / k), _GH)


def _s_tiles(r: _Reader) -> Iterator[_View]:
    """Overlapping tiles, each with its own threshold (a small code's contrast is lost in a large photo's
    histogram). Photos up to 3 MP: a 3×3 grid of half-size tiles, enlarged ×2 and contrast-stretched (a code of
    a pixel or so a module in a chat-sized photo); larger ones: 2×2 tiles of 0.6 × the size, as they are."""
    w, h = r.work.size
    if w * h <= 3_000_000:
        tw, th, steps, up = w // 2, h // 2, 3, 2
    else:
        tw, th, steps, up = int(w * 0.6), int(h * 0.6), 2, 1
    for ty in range(steps):
        for tx in range(steps):
            x0, y0 = tx * (w - tw) // (steps - 1), ty * (h - th) // (steps - 1)
            tile = r.work.crop((x0, y0, x0 + tw, y0 + th))
            m = _translate_m(x0, y0)
            if up > 1:
                tile = ImageOps.autocontrast(tile.resize((tw * up, th * up), Image.Resampling.BICUBIC), cutoff=1)
                yield _View(f"tile{ty}{tx}", "x2", tile, m @ _scale_m(float(up)), _LA)
            else:
                yield _View(f"tile{ty}{tx}", "s1", tile, m, _GH)


#: photos up to this many pixels are also read enlarged (``_s_small``)
SMALL_PIXELS = 600_000
#: thinner than this (a strip, a scan line): the rows are repeated into a band first
THIN_PX = 24

#: the cascade, cheapest first (one thread)
STRATEGIES: tuple[tuple[str, Callable[[_Reader], Iterable[_View]]], ...] = (
    ("plain", _s_plain), ("small", _s_small), ("binarizers", _s_binarizers), ("invert", _s_invert),
    ("regions", _s_regions), ("pyramid", _s_pyramid), ("rotations", _s_rotations), ("enhance", _s_enhance),
    ("local", _s_local), ("tiles", _s_tiles))
#: with two threads: ``plain`` alone first (most photos end there), then the fallbacks in two lanes of about
#: equal cost, side by side; the first lane to confirm a code stops the other
LANES: tuple[tuple[str, ...], ...] = (("small", "binarizers", "invert", "pyramid", "rotations", "enhance"),
                                      ("regions", "local", "tiles"))


def _run(reader: _Reader, names: Iterable[str]) -> None:
    """Run strategies in order until one confirms a code (or the reader is told to stop)."""
    table = dict(STRATEGIES)
    for name in names:
        for view in table[name](reader):
            if reader.done():
                return
            reader.read(view)
        if reader.done():
            return
        reader.confirm()
        if reader.winners():
            with reader._lock:
                reader.first = reader.first or name
            reader.stop.set()
            return


#: photos up to this many pixels are read by OCR whole; larger ones region by region
OCR_WHOLE_PIXELS = 1_500_000


def _read_digits(reader: _Reader, max_regions: int = 2) -> list[FoundCode]:
    """Codes read from the digits printed under the bars (see :mod:`core.barcode_ocr`): each bar-like region is
    cut out level and tall enough to hold the digits on either side, OCR reads it, and a code is kept only when
    its bar pattern fits the region's bars better than any code one digit away (a misread that passes the check
    digit does not). A small photo with no such region is read whole, and its codes checked the same way."""
    from . import barcode_ocr

    if not barcode_ocr.available():
        return []
    crops: list[tuple[Image.Image, np.ndarray, np.ndarray | None]] = []
    w, h = reader.work.size
    regions = _regions(reader)[:max_regions]
    if not regions and w * h <= OCR_WHOLE_PIXELS:   # a close-up: the code is the photo (either way up)
        regions = [(np.array([w / 2, h / 2]), w * 0.7, h * 0.7, 0.0),
                   (np.array([w / 2, h / 2]), h * 0.7, w * 0.7, 90.0)]
    for center, ext_u, ext_v, ang in regions:
        length = ext_u * 1.4 + 24
        crop, m, _ = reader._level_crop(center, length, max(ext_v * 2.4, length * 0.75), ang)
        if crop is None:
            continue
        bars, _, _ = reader._level_crop(center, length, max(ext_v * 0.8, 8), ang)
        f = min(1.0, 960 / max(crop.size))
        if f < 1.0:
            crop = crop.resize((max(8, int(crop.width * f)), max(8, int(crop.height * f))), Image.Resampling.BOX)
            m = m @ _scale_m(f)
        crops.append((crop, m, barcode_ocr.bar_profile(bars) if bars is not None else None))
    out: dict[str, FoundCode] = {}
    for crop, m, profile in crops:
        for pc in barcode_ocr.read_printed_codes(crop):
            if pc.code not in out and barcode_ocr.bars_agree(profile, pc.printed, pc.format):
                out[pc.code] = _digits_found(pc, m)
        if out:
            break
    if not out and w * h <= OCR_WHOLE_PIXELS and crops:
        for pc in barcode_ocr.read_printed_codes(reader.work):
            if pc.code not in out and any(barcode_ocr.bars_agree(p, pc.printed, pc.format) for _, _, p in crops):
                out[pc.code] = _digits_found(pc, np.eye(3))
    return sorted(out.values(), key=lambda f: (f.box[0], f.box[1]))


def _digits_found(pc: Any, m: np.ndarray) -> FoundCode:
    """A :class:`FoundCode` for a code read from printed digits, its box mapped back to the working image."""
    q = (m @ np.array([[pc.box[0], pc.box[2], pc.box[2], pc.box[0]],
                       [pc.box[1], pc.box[1], pc.box[3], pc.box[3]], [1, 1, 1, 1]], float))[:2].T
    box = (int(q[:, 0].min()), int(q[:, 1].min()), int(math.ceil(q[:, 0].max())), int(math.ceil(q[:, 1].max())))
    return FoundCode(pc.code, pc.printed, pc.format, 0, box, "digits")


def decode_image(img: Image.Image, time_budget_s: float = 2.0, size: tuple[int, int] | None = None,
                 threads: int = 2, ocr: bool = True, ocr_regions: int = 2) -> DecodeResult:
    """Run the cascade on an already-loaded image (any mode); see :func:`decode_photo`."""
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
        found = _read_digits(reader, ocr_regions)
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
                       limits.ocr, limits.ocr_regions)
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


# -- from codes to pressings ------------------------------------------------------------------------------------
@dataclass
class CodeMatches:
    """One code read off the photo and the pressings that carry it, best first."""

    found: FoundCode
    candidates: list["Candidate"]

    @property
    def code(self) -> str:
        return self.found.code


@dataclass
class PhotoLookup:
    """What :func:`find_pressings` found: per code, the candidate pressings."""

    decode: DecodeResult | None          # None: the codes were typed, not read off a photo
    matches: list[CodeMatches]

    @property
    def codes(self) -> list[str]:
        return [m.code for m in self.matches]

    def lines(self) -> list[str]:
        """A plain-text rendering: each code, then its candidates numbered (what tells them apart)."""
        out: list[str] = []
        n = 0
        for m in self.matches:
            how = " — read from the printed digits, check them" if m.found.from_digits else ""
            out.append(f"Barcode {m.found.printed} ({m.found.format}){how}")
            if not m.candidates:
                out.append("  no release on Discogs carries this barcode")
            for c in m.candidates:
                n += 1
                out.append(f"  {n}. {c.describe()}  [release {c.release_id}]")
        return out


def typed_code(text: str) -> FoundCode | None:
    """The barcode a collector typed ("0 75720 00325 9"), as if read off a photo; None when the text is not one."""
    got = typed_barcode(text)
    if got is None:
        return None
    code, typed = got
    fmt = ("EAN-13" if len(code) == 13 else "UPC-A" if len(code) == 12
           else "EAN-8" if len(typed) == 8 and code == typed else "UPC-E")
    return FoundCode(code, typed if len(typed) == 8 else code, fmt, 0, (0, 0, 0, 0), "typed")


def lookup_codes(found: Iterable[FoundCode], gateway: "DiscogsGateway", limit: int = 10) -> list[CodeMatches]:
    """Each code's candidate pressings on Discogs, best first (``DiscogsError`` goes through)."""
    matches = []
    for f in found:
        cands = gateway.search_barcode(f.code, limit=limit)
        if not cands and f.printed != f.code and normalise_barcode(f.printed) not in (None, f.code):
            cands = gateway.search_barcode(f.printed, limit=limit)   # a UPC-E stored as its 8 printed digits
        matches.append(CodeMatches(f, cands[:limit]))
    return matches


def find_pressings(data: bytes, gateway: "DiscogsGateway", limit: int = 10,
                   limits: PhotoLimits | None = None) -> PhotoLookup:
    """Read the barcode(s) in a photo and look each one up on Discogs: candidate pressings, best first.

    Raises :class:`PhotoError` (with what to try) when no barcode can be read, and lets the gateway's
    ``DiscogsError`` through (its ``user_message`` is fit for a reply). Synchronous: call it from a worker thread.
    """
    result = decode_photo(data, limits)
    if not result.codes:
        raise PhotoError(f"no barcode found ({result.attempts} reads, {result.seconds:.2f} s)", NO_BARCODE_HINT)
    matches = lookup_codes(result.found, gateway, limit)
    log.info("barcode photo: %s → %s", result.codes, [len(m.candidates) for m in matches])
    return PhotoLookup(result, matches)


async def find_pressings_async(data: bytes, gateway: "DiscogsGateway", limit: int = 10,
                               limits: PhotoLimits | None = None) -> PhotoLookup:
    """:func:`find_pressings` in a worker thread (decoding and the Discogs requests), for the chat adapters."""
    return await asyncio.to_thread(find_pressings, data, gateway, limit, limits)
