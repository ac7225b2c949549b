"""The reader: runs views through zxing-cpp, files every reading under its spot, confirms spots by re-reading."""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import zxingcpp
from PIL import Image, ImageFilter, ImageOps

from core.barcode.views import (
    _FORMATS,
    _GH,
    _LA,
    _clahe,
    _rectified_views,
    _scale_m,
    _translate_m,
    _View,
)
from core.discogs.barcodes import digits, is_valid_gs1, normalise_barcode, upce_to_upca

log = logging.getLogger("core.barcode")


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
        printed: str | None
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
        self.regions: list[tuple[np.ndarray, float, float, float]] | None = None   # bar-like regions, once found
        self.lock = threading.RLock()          # the spots are shared by the lanes
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
            self._cache[key] = _border(self.reduced(k))
        return int(self._cache[key])

    def out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline

    def done(self) -> bool:
        """Stop reading: out of time, or another lane has confirmed a code."""
        return self.stop.is_set() or self.out_of_time()

    def read(self, view: _View, spots: list[_Spot] | None = None) -> list[_Spot]:
        """Read ``view``; every valid EAN/UPC reading is filed under its spot. Returns the spots it touched."""
        if view.img.width < 8 or view.img.height < 8:
            return []
        with self.lock:
            self.attempts += 1
        try:   # zxing-cpp releases the GIL: the two lanes read in parallel
            results = zxingcpp.read_barcodes(view.img, formats=_FORMATS, try_rotate=view.try_rotate,
                                             try_downscale=False, try_invert=False, binarizer=view.binarizer)
        except Exception as exc:   # zxing never should, but a reader bug must not lose the photo
            log.warning("zxing-cpp failed on view %s: %s", view.name, exc)
            return []
        with self.lock:
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
        with self.lock:
            return any(np.hypot(*(s.center - center)) < radius and s.winner() is not None for s in self.spots)

    # -- confirming what was seen --------------------------------------------------------------------------
    def confirm(self) -> None:
        """Re-read, from crops around it, every spot that has readings but no winner yet."""
        with self.lock:
            todo = [sp for sp in self.spots if sp.families and not sp.verified and sp.winner() is None]
            for sp in todo:
                sp.verified = True          # one lane verifies a spot, never both
        for spot in todo:
            for view in self._verify_views(spot):
                if self.out_of_time():
                    return
                self.read(view, [spot])
                with self.lock:
                    if spot.winner() is not None:
                        break

    def _verify_views(self, spot: _Spot) -> Iterator[_View]:
        """Other looks at the spot: the crop turned level, squashed along the bars, halved or doubled."""
        # a short code may be half of a long one: look at twice its length, so the rest can show up
        long_ = spot.has_long()
        span = spot.length * (1.5 if long_ else 2.6)
        angle = self._bar_angle(spot)
        base, base_m, fam = self.level_crop(spot.center, span, spot.length * 0.9, angle)
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

    def level_crop(self, center: np.ndarray, length: float, height: float, angle: float,
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
        with self.lock:
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
