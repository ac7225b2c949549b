"""What zxing-cpp reads: views of the photo with their maps back to it, and the looks that make them (CLAHE,
rectification)."""
from __future__ import annotations

import functools
import importlib.metadata
import math
import operator
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import numpy as np
import zxingcpp
from PIL import Image, ImageFilter, ImageOps


class _Photo(Protocol):
    """What a rectified view reads of the photo being read (:class:`core.barcode.reader._Reader`)."""

    work: Image.Image

    def border(self, width: int) -> Any: ...


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


_LA, _GH, _FT = zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram, zxingcpp.Binarizer.FixedThreshold


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


def _clahe(img: Image.Image, clip: float = 3.0, tiles: int = 8) -> Image.Image:
    """Contrast-limited adaptive histogram equalisation (OpenCV's CLAHE): glare, shadow and a dark sleeve lose
    their hold on the local contrast of the bars. Without OpenCV, a plain global equalisation."""
    try:
        import cv2
    except Exception:   # pragma: no cover - OpenCV comes with rapidocr-onnxruntime
        return ImageOps.equalize(img)
    grid = (max(1, min(tiles, img.width // 16)), max(1, min(tiles, img.height // 16)))
    return Image.fromarray(cv2.createCLAHE(clipLimit=clip, tileGridSize=grid).apply(np.asarray(img)), "L")


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


def _rectified(r: _Photo, crop: Image.Image, m: np.ndarray, fam: str) -> tuple[Image.Image, np.ndarray, str] | None:
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


def _rectified_views(r: _Photo, crop: Image.Image, m: np.ndarray, fam: str, name: str) -> Iterator[_View]:
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
