"""The cascade: cheap views first, fallbacks in two lanes (see core.barcode)."""
from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from core.barcode.reader import (
    _Reader,
)
from core.barcode.views import (
    _FT,
    _GH,
    _LA,
    _clahe,
    _rectified_views,
    _rotation_m,
    _scale_m,
    _translate_m,
    _View,
    converging,
)


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


def _tensor(img: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The gradient structure tensor's products (gx², gy², gx·gy) and the brightness of ``img`` at its own
    resolution, as float32 arrays: summed over blocks later, so that bars of two or three pixels a module (a
    small code in a 12-MP photo), which a box-filtered thumbnail would blur into grey, still count."""
    a = np.asarray(img, dtype=np.float32)
    try:
        import cv2
    except Exception:   # pragma: no cover - OpenCV comes with rapidocr-onnxruntime
        gx = np.zeros_like(a)
        gy = np.zeros_like(a)
        gx[:, 1:-1] = a[:, 2:] - a[:, :-2]
        gy[1:-1, :] = a[2:, :] - a[:-2, :]
        return gx * gx, gy * gy, gx * gy, a
    kernel = np.array([[-1.0, 0.0, 1.0]], np.float32)
    dx = cv2.filter2D(a, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.filter2D(a, -1, kernel.T, borderType=cv2.BORDER_REPLICATE)
    return cv2.multiply(dx, dx), cv2.multiply(dy, dy), cv2.multiply(dx, dy), a


def _block_sums(x: np.ndarray, block: int) -> np.ndarray:
    """Sums of ``x`` over ``block``×``block`` tiles (the ragged edge dropped)."""
    H, W = x.shape
    bh, bw = H // block, W // block
    x = x[:bh * block, :bw * block]
    try:
        import cv2
        return cv2.resize(x, (bw, bh), interpolation=cv2.INTER_AREA) * float(block * block)
    except Exception:   # pragma: no cover - OpenCV comes with rapidocr-onnxruntime
        return x.reshape(bh, block, bw, block).sum(axis=(1, 3))


def _bar_regions(img: Image.Image, block: int = 8, max_regions: int = 6,
                 tensor: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
                 converging: bool = False) -> list[tuple[np.ndarray, float, float, float]]:
    """Bar-like regions of ``img``: (center, extent along the gradient, extent across it, gradient angle°).

    Per block of ``block``×``block`` pixels, the gradient structure tensor gives the edge energy and how much
    of it runs one way (coherence); blocks that are both strong and coherent, joined with neighbours of a
    similar orientation, are the candidate barcodes (text is strong but incoherent, flat print is weak).
    ``tensor`` (:func:`_tensor` of ``img``) is reused when given. A region grows over blocks turned less than
    20° from its first; with ``converging``, over blocks turned less than 12° from the neighbour it grows from
    and 40° from its first (bars that converge, the camera tilted along them, turn a little block by block).
    """
    txx, tyy, txy, a = tensor if tensor is not None else _tensor(img)
    H, W = a.shape
    bh, bw = H // block, W // block
    if bh < 3 or bw < 3:
        return []
    jxx, jyy, jxy = _block_sums(txx, block), _block_sums(tyy, block), _block_sums(txy, block)
    energy = jxx + jyy
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (energy + 1e-6)
    mean = _block_sums(a, block) / (block * block)
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
                    d = abs(theta[yy, xx] - theta[y, x]) % 180
                    d0 = abs(theta[yy, xx] - t0) % 180
                    if (min(d, 180 - d) < 12 and min(d0, 180 - d0) < 40) if converging else min(d0, 180 - d0) < 20:
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
    """Bar-like regions in working-image pixels, in blocks of ~1/100 of the photo's long side (and ~1/200 for
    large photos, where a small code would be only a few blocks): (center, length along the gradient, height,
    gradient angle). Found once per photo: the cascade and the OCR of the digits share them."""
    with r.lock:
        if r.regions is None:
            r.regions = _find_regions(r)
        return r.regions


def _find_regions(r: _Reader) -> list[tuple[np.ndarray, float, float, float]]:
    """Regions from two looks at the photo: a thumbnail's tensor (the box filter averages sensor noise away) and
    the tensor at up to ~6 MP summed over the same blocks (a module of 2.5 px in a 12-MP photo is still more than
    a pixel there, where the thumbnail blurs it into grey). A region both find once is kept once."""
    w, h = r.work.size
    f = 1
    while (w // f) * (h // f) > 6_500_000:
        f *= 2
    fine = r.reduced(f)
    tensor = _tensor(fine)
    found: list[tuple[np.ndarray, float, float, float]] = []
    for side in (800, 1600):
        k = max(1, math.ceil(max(w, h) / side))
        if side > 800 and max(w, h) <= 2000:
            break
        looks = [(k, _bar_regions(r.reduced(k), max_regions=5))]
        block = max(2, round(8 * k / f))
        if block >= 3:   # the fine look differs from the thumbnail's
            looks.append((f, _bar_regions(fine, block, max_regions=5, tensor=tensor, converging=True)))
        for scale, regions in looks:
            for c, ext_u, ext_v, ang in regions:
                if ext_u < 0.5 * ext_v:    # far taller than wide: ruled lines, not a barcode
                    continue
                c, ext_u, ext_v = c * scale, ext_u * scale, ext_v * scale
                if any(_same_region((c, ext_u, ang), (o[0], o[1], o[3])) for o in found):
                    continue
                found.append((c, ext_u, ext_v, ang))
    return found[:8]


def _same_region(a: tuple[np.ndarray, float, float], b: tuple[np.ndarray, float, float]) -> bool:
    """Whether two regions (center, length, angle) are one: near, as long and turned alike. A region of the
    fine look that holds a thumbnail's piece of a code (split by glare, or by bars that converge) is not."""
    (ca, la, aa), (cb, lb, ab) = a, b
    turn = abs(aa - ab) % 180
    return bool(np.hypot(*(ca - cb)) < 0.25 * max(la, lb) and 0.75 < la / max(lb, 1e-6) < 1.33
                and min(turn, 180 - turn) < 10)


def _s_regions(r: _Reader) -> Iterator[_View]:
    for i, (center, ext_u, ext_v, ang) in enumerate(_regions(r)):
        if r.done():
            return
        length = ext_u * 1.35 + 24       # room for the quiet zones
        height = max(ext_v * 1.1, length * 0.25)
        crop, m, fam = r.level_crop(center, length, height, ang)
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
        tilted = converging(crop)
        if tilted:   # bars that lean apart (the camera tilted along them): straighten them first
            views = list(_rectified_views(r, crop, m, fam, name)) + views
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
            if not tilted:
                late = list(_rectified_views(r, crop, m, fam, name)) + late
            wide, wide_m, wide_fam = r.level_crop(center, length * 1.6, height * 1.2, ang)
            if wide is not None:   # the region found may be only part of the code (glare, a thumb)
                late.append(_View(f"{name}-wide", wide_fam + "w", wide, wide_m, _LA, False))
            for v in late:
                yield v
                if r.settled(center, length / 2):
                    break


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
            with reader.lock:
                reader.first = reader.first or name
            reader.stop.set()
            return
