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


def _lean_fit(gx: np.ndarray, gy: np.ndarray, x0: int, x1: int, strips: int = 12) -> tuple[float, float, float] | None:
    """How the bars lean across a level crop: ``(a, b, xc)`` with a bar crossing the middle row at ``x`` running
    ``a + b·(x − xc)`` pixels sideways per pixel down. ``b`` is not 0 when the bars converge (the camera tilted
    along them): then they all meet at one point, and every bar is still a straight line through it. Fitted to
    the lean of ``strips`` vertical strips of bar columns ``x0..x1`` (gradient structure tensor per strip,
    weighted by its edge energy and coherence)."""
    xs, ts, ws = [], [], []
    edges = np.linspace(x0, x1, strips + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi - lo < 3:
            continue
        sx, sy = gx[:, lo:hi], gy[:, lo:hi]
        jxx, jyy, jxy = float((sx * sx).sum()), float((sy * sy).sum()), float((sx * sy).sum())
        energy = jxx + jyy
        if energy <= 0:
            continue
        coh = math.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / energy
        theta = 0.5 * math.atan2(2 * jxy, jxx - jyy)     # across the bars
        if abs(theta) > 1.2:                             # more than ~70° off level: not these bars
            continue
        xs.append((lo + hi) / 2)
        ts.append(-math.tan(theta))                      # the bars run at theta + 90°: x moves by -tan θ per y
        ws.append(energy * coh * coh)
    if len(xs) < 3:
        return None
    x, t, w = np.array(xs), np.array(ts), np.array(ws)
    w = w / w.max()
    keep = w > 0.15                                      # strips of bars, not of the quiet zone beside them
    if keep.sum() < 3:
        return None
    x, t, w = x[keep], t[keep], w[keep]
    xc = float((x * w).sum() / w.sum())
    for _ in range(2):                                   # one pass to drop the strip that fits worst (a glare)
        A = np.c_[np.ones_like(x), x - xc] * np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(A, t * np.sqrt(w), rcond=None)
        res = np.abs(t - (coef[0] + coef[1] * (x - xc)))
        if len(x) <= 4 or res.max() < 0.03:
            break
        drop = int(np.argmax(res))
        x, t, w = np.delete(x, drop), np.delete(t, drop), np.delete(w, drop)
    return float(coef[0]), float(coef[1]), xc


def _bar_run(profile: np.ndarray, width: int) -> tuple[int, int] | None:
    """The widest run of bar columns in a column-energy profile, bridging gaps of up to 4 % of the width
    (wide bars, spaces); None unless it spans at least 30 % of it."""
    col = np.convolve(profile, np.ones(9) / 9, mode="same")
    on = col > 0.3 * float(np.percentile(col, 90))     # bars under glare are fainter than the rest
    if on.sum() < 16:
        return None
    idx = np.nonzero(on)[0]
    gaps = np.nonzero(np.diff(idx) > max(3, int(0.04 * width)))[0]
    starts, ends = np.r_[idx[0], idx[gaps + 1]], np.r_[idx[gaps], idx[-1]]
    k = int(np.argmax(ends - starts))
    xl, xr = int(starts[k]), int(ends[k])
    return (xl, xr) if xr - xl >= 0.3 * width else None


def _bar_quad(crop: Image.Image) -> np.ndarray | None:
    """The corners (TL, TR, BR, BL; crop pixels) of the block of bars in a level crop.

    The bars' lean is fitted across the whole block (:func:`_lean_fit`): parallel bars lean alike, converging
    bars (the camera tilted along them) lean apart, each a straight line through one vanishing point. The crop
    is straightened along those lines, the first and last bar columns and, at each end, the bars' top and bottom
    are read off it, and mapped back. Under a keystone either way the block is a quadrilateral whose sides are
    its first and last bars, and mapping it back to a rectangle undoes the perspective (:func:`_rectified`)."""
    lean_of = _block_lean(crop)
    if lean_of is None:
        return None
    gx, _, _, (la, lb, xc) = lean_of
    h, w = gx.shape
    yc = (h - 1) / 2

    def lean(x: float | np.ndarray) -> float | np.ndarray:
        return la + lb * (x - xc)

    # straighten: column u of ``s`` is the bar that crosses the middle row at x = u
    uu, vv = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = uu + lean(uu) * (vv - yc)
    try:
        import cv2
        g = cv2.remap(np.abs(gx), map_x.astype(np.float32), vv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    except Exception:   # pragma: no cover - OpenCV comes with rapidocr-onnxruntime
        xi = np.clip(np.round(map_x).astype(int), 0, w - 1)
        g = np.where((map_x >= 0) & (map_x <= w - 1), np.abs(gx)[vv.astype(int), xi], 0.0)
    run = _bar_run(g.mean(axis=0), w)
    if run is None:
        return None
    xl, xr = run
    span = xr - xl
    corners = []
    end = max(4, int(0.15 * span))
    for lo, hi, x in ((xl, xl + end, float(xl)), (xr - end, xr + 1, float(xr))):
        rows = np.convolve(g[:, lo:hi].mean(axis=1), np.ones(5) / 5, mode="same")
        ys = np.nonzero(rows > 0.35 * rows.max())[0]
        if len(ys) < 4:
            return None
        top, bot = float(ys[0]), float(ys[-1])
        t = float(lean(x))
        corners.append(((x + t * (top - yc), top), (x + t * (bot - yc), bot)))
    (tl, bl), (tr, br) = corners
    return np.array([tl, tr, br, bl], float)


def converging(crop: Image.Image) -> bool:
    """Whether the bars of a level crop lean apart: their lean changes by more than ~3° across the block (the
    camera tilted along them), so no straight scan line crosses them all alike."""
    lean_of = _block_lean(crop)
    if lean_of is None:
        return False
    _, _, (x0, x1), (_, slope, _) = lean_of
    return abs(slope) * (x1 - x0) > 0.05


def _block_lean(crop: Image.Image) -> tuple[np.ndarray, np.ndarray, tuple[int, int],
                                             tuple[float, float, float]] | None:
    """A level crop's gradients, its run of bar columns and how its bars lean (:func:`_lean_fit`); None when it
    holds no block of bars."""
    a = np.asarray(crop, dtype=np.float32)
    h, w = a.shape
    if w < 48 or h < 16:
        return None
    gx = np.zeros_like(a)
    gy = np.zeros_like(a)
    gx[:, 1:-1] = a[:, 2:] - a[:, :-2]
    gy[1:-1, :] = a[2:, :] - a[:-2, :]
    run = _bar_run(np.abs(gx).mean(axis=0), w)
    fit = _lean_fit(gx, gy, *run) if run else None
    return (gx, gy, run, fit) if run and fit else None


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
