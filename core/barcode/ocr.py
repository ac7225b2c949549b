"""The last resort for a barcode photo: read the human-readable digits printed under the bars.

Blur and glare that break the bars often leave the digits legible. :func:`read_printed_codes` runs RapidOCR
(PP-OCR models in ONNX, shipped inside the ``rapidocr-onnxruntime`` wheel: no download, no network) over the
photo, or over the bar-like regions of a large one, and assembles the digit groups it finds on each text line
("0 75720 00325 9", "5 000213 101025") into EAN-13 / UPC-A / EAN-8 / UPC-E codes. Only a sequence whose check
digit is valid, read with confidence, in a layout a barcode prints is accepted; every other line is dropped.
The reply then says that the code was read from the printed digits, so the collector can check it.

The engine is loaded once per process, lazily (importing onnxruntime and OpenCV costs ~0.5 s); without the
package the step is skipped with a log line, never an error.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
from PIL import Image

from core.discogs.barcodes import is_valid_gs1, normalise_barcode, upce_to_upca

log = logging.getLogger(__name__)

_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()
_UNAVAILABLE = object()

#: below this OCR confidence a digit group is not trusted
MIN_CONFIDENCE = 0.8
#: digit groups of one line: runs of digits between separators ("0 75720-00325 9", '5“000213"101025')
_GROUPS = re.compile(r"\d+")
#: what may stand between the digit groups of a printed code (spaces, dashes, quotes, the ">" of a quiet zone)
_SEPARATORS = re.compile(r"^[\d\s\-–.,:;'\"“”‘’<>_|/]*$")


@dataclass(frozen=True)
class PrintedCode:
    """A code assembled from printed digits."""

    code: str          # canonical (core.discogs.barcodes.normalise_barcode)
    printed: str       # the digits as printed (8 for EAN-8 / UPC-E)
    format: str        # "EAN-13", "UPC-A", "EAN-8" or "UPC-E"
    confidence: float  # the lowest OCR confidence of its groups
    box: tuple[int, int, int, int]   # where, in the image given to :func:`read_printed_codes`


def _engine() -> Any:
    """The shared RapidOCR engine (None when the package is missing or fails to load)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            try:
                from rapidocr_onnxruntime import RapidOCR

                _ENGINE = RapidOCR(intra_op_num_threads=2, inter_op_num_threads=1)
            except Exception as exc:   # not installed, or a broken onnxruntime: skip the step, keep the photo
                log.warning("OCR of printed barcode digits unavailable: %s", type(exc).__name__)
                _ENGINE = _UNAVAILABLE
        return None if _ENGINE is _UNAVAILABLE else _ENGINE


def available() -> bool:
    return _engine() is not None


def interpret(digits: str, groups: list[int]) -> tuple[str, str, str] | None:
    """(canonical code, printed digits, format) of a digit sequence laid out as printed in ``groups`` (the lengths
    of its digit groups), or None unless its check digit is valid and the layout is one a barcode prints."""
    n = len(digits)
    if len(groups) > 4:
        return None
    if groups == [6, 1]:
        # a UPC-E whose number system digit (printed small, left of the bars) was not read: take it only when
        # exactly one of the two number systems (0, 1) checks out
        fits = [got for ns in "01" if (got := interpret(ns + digits, [1, 6, 1])) is not None]
        return fits[0] if len(fits) == 1 else None
    if n in (12, 13):
        if not is_valid_gs1(digits):
            return None
        code = normalise_barcode(digits)
        if code is None:
            return None
        return code, code, "UPC-A" if len(code) == 12 else "EAN-13"
    if n != 8:
        return None
    # eight digits: EAN-8 prints 4 + 4 inside the guards; UPC-E prints 1 + 6 + 1 (number system, six, check)
    as_ean8 = is_valid_gs1(digits) and groups in ([8], [4, 4])
    upca = upce_to_upca(digits) if groups in ([8], [1, 6, 1], [1, 7], [7, 1]) else None
    as_upce = upca is not None
    if as_ean8 and as_upce:
        return None        # both readings check out: not enough to decide
    if as_ean8:
        code = normalise_barcode(digits)
        return (code, digits, "EAN-8") if code else None
    if upca is not None:   # i.e. as_upce
        return upca, digits, "UPC-E"
    return None


def assemble(results: Iterable[Any], min_confidence: float = MIN_CONFIDENCE) -> list[PrintedCode]:
    """Codes in RapidOCR's output (``[[box, text, score], …]``): the numeric boxes are grouped into lines, each
    line read left to right, and every run of consecutive boxes tried as a code. A line yields at most one code
    (the one that uses the most of it); lines are independent (a sticker can carry two codes)."""
    boxes = []
    for box, text, score in results or ():
        text = str(text).strip()
        if not text or not _SEPARATORS.match(text) or not _GROUPS.search(text):
            continue
        pts = np.asarray(box, float).reshape(-1, 2)
        boxes.append((pts, [g for g in _GROUPS.findall(text)], float(score)))
    # lines, left to right: a box continues a line when it starts after the line's last box (allowing a
    # little overlap) and their vertical extents overlap — a chain, so a slanted line of text stays one line
    boxes.sort(key=lambda b: float(b[0][:, 0].min()))
    lines: list[list[tuple[np.ndarray, list[str], float]]] = []
    for b in boxes:
        y0, y1, x0 = float(b[0][:, 1].min()), float(b[0][:, 1].max()), float(b[0][:, 0].min())
        best, best_overlap = None, 0.0
        for line in lines:
            last = line[-1][0]
            ly0, ly1 = float(last[:, 1].min()), float(last[:, 1].max())
            overlap = (min(y1, ly1) - max(y0, ly0)) / max(1.0, min(y1 - y0, ly1 - ly0))
            gap = x0 - float(last[:, 0].max())
            if overlap > max(0.3, best_overlap) and -0.5 * (ly1 - ly0) <= gap <= 4 * max(y1 - y0, ly1 - ly0):
                best, best_overlap = line, overlap
        if best is not None:
            best.append(b)
        else:
            lines.append([b])
    found: dict[str, PrintedCode] = {}
    for line in lines:
        best_run: tuple[int, PrintedCode] | None = None
        for i in range(len(line)):
            for j in range(i + 1, len(line) + 1):
                part = line[i:j]
                groups = [g for b in part for g in b[1]]
                conf = min(b[2] for b in part)
                if conf < min_confidence:
                    continue
                got = interpret("".join(groups), [len(g) for g in groups])
                if got is None:
                    continue
                pts = np.vstack([b[0] for b in part])
                box = (int(pts[:, 0].min()), int(pts[:, 1].min()), int(pts[:, 0].max()), int(pts[:, 1].max()))
                cand = PrintedCode(got[0], got[1], got[2], conf, box)
                if best_run is None or j - i > best_run[0]:
                    best_run = (j - i, cand)
        if best_run is not None and best_run[1].code not in found:
            found[best_run[1].code] = best_run[1]
    return list(found.values())


def read_printed_codes(img: Image.Image, min_confidence: float = MIN_CONFIDENCE) -> list[PrintedCode]:
    """Codes whose printed digits can be read in ``img`` (any mode; a crop around the bars works best)."""
    engine = _engine()
    if engine is None or img.width < 8 or img.height < 8:
        return []
    arr = np.asarray(img.convert("RGB"))
    try:
        results, _ = engine(arr)
    except Exception as exc:   # an OCR failure must not lose the reply
        log.warning("OCR failed: %s", type(exc).__name__)
        return []
    return assemble(results, min_confidence)


# -- checking digits against the bars -------------------------------------------------------------------------
_L = ("0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011")
_R = tuple("".join("1" if c == "0" else "0" for c in code) for code in _L)
_G = tuple(code[::-1] for code in _R)
_EAN13_PARITY = ("LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL")
_UPCE_PARITY = ("GGGLLL", "GGLGLL", "GGLLGL", "GGLLLG", "GLGGLL", "GLLGGL", "GLLLGG", "GLGLGL", "GLGLLG", "GLLGLG")


def modules(printed: str, fmt: str) -> np.ndarray:
    """The bar pattern (1 = bar, one entry per module, guards included) of ``printed`` in ``fmt``, whether its
    check digit is right or not: EAN-13 95 modules (UPC-A is EAN-13 with a leading 0), EAN-8 67, UPC-E 51."""
    d = [int(c) for c in printed]
    if fmt == "UPC-A":
        d = [0] + d
        fmt = "EAN-13"
    if fmt == "EAN-13":
        par = _EAN13_PARITY[d[0]]
        left = "".join((_L if p == "L" else _G)[x] for p, x in zip(par, d[1:7]))
        bits = "101" + left + "01010" + "".join(_R[x] for x in d[7:13]) + "101"
    elif fmt == "EAN-8":
        bits = "101" + "".join(_L[x] for x in d[:4]) + "01010" + "".join(_R[x] for x in d[4:8]) + "101"
    elif fmt == "UPC-E":
        par = _UPCE_PARITY[d[7]]
        if d[0] == 1:
            par = "".join("L" if p == "G" else "G" for p in par)
        bits = "101" + "".join((_L if p == "L" else _G)[x] for p, x in zip(par, d[1:7])) + "010101"
    else:
        raise ValueError(fmt)
    return np.frombuffer(bits.encode(), np.uint8) - ord("0")


def bar_profile(crop: Image.Image) -> np.ndarray | None:
    """Darkness along a level crop of the bars (bars upright): the median over the rows where the bars are
    (strong horizontal gradients), standardised; None when no rows look like bars."""
    a = np.asarray(crop.convert("L"), dtype=np.float32)
    if a.shape[0] < 4 or a.shape[1] < 32:
        return None
    gx = np.abs(np.diff(a, axis=1)).mean(axis=1)
    rows = gx >= 0.5 * gx.max()
    if rows.sum() < 2:
        return None
    p = 255.0 - np.median(a[rows], axis=0)
    sd = float(p.std())
    return (p - p.mean()) / sd if sd > 1e-3 else None


def _ncc(profile: np.ndarray, mods: np.ndarray, x0: float, x1: float, chirp: float) -> float:
    """Correlation of ``profile`` with ``mods`` laid from x0 to x1 (a module a little wider at one end by
    ``chirp``: perspective), quiet zones light, over the code plus a margin."""
    n = len(profile)
    m = len(mods)
    span = x1 - x0
    if span < m:   # under one pixel a module: nothing to compare
        return -1.0
    lo, hi = max(0, int(x0 - 0.06 * span)), min(n, int(x1 + 0.06 * span) + 1)
    x = np.arange(lo, hi, dtype=np.float32)
    t = (x - x0) / span                               # 0…1 along the code
    t = t + chirp * t * (1 - t)                       # perspective: the modules' widths change along the code
    idx = np.floor(t * m).astype(int)
    inside = (idx >= 0) & (idx < m)
    tpl = np.where(inside, mods[np.clip(idx, 0, m - 1)], 0).astype(np.float32)
    p = profile[lo:hi]
    tpl = tpl - tpl.mean()
    den = float(np.sqrt((tpl * tpl).sum() * ((p - p.mean()) ** 2).sum()))
    return float((tpl * (p - p.mean())).sum() / den) if den > 0 else -1.0


def _best_fit(profile: np.ndarray, mods: np.ndarray) -> tuple[float, tuple[float, float, float]]:
    """The best correlation of ``mods`` with ``profile`` over where the code starts and ends and its chirp."""
    n = len(profile)
    best = (-1.0, (0.0, float(n), 0.0))
    for x0 in np.linspace(0.0, 0.45 * n, 24):
        for x1 in np.linspace(0.55 * n, n, 24):
            for chirp in (-0.3, 0.0, 0.3):
                c = _ncc(profile, mods, float(x0), float(x1), chirp)
                if c > best[0]:
                    best = (c, (float(x0), float(x1), chirp))
    c, (x0, x1, chirp) = best
    step = 0.45 * n / 23
    for dx0 in np.linspace(-step, step, 7):   # refine
        for dx1 in np.linspace(-step, step, 7):
            for dc in (-0.1, 0.0, 0.1):
                cc = _ncc(profile, mods, x0 + float(dx0), x1 + float(dx1), chirp + dc)
                if cc > best[0]:
                    best = (cc, (x0 + float(dx0), x1 + float(dx1), chirp + dc))
    return best


#: the digits' bar pattern must correlate at least this well with the photo's bars…
MIN_BAR_MATCH = 0.45
#: …and no pattern with one digit changed may fit them better by more than this (blurred bars fit every
#: near pattern about equally: they cannot confirm the digits, only refute a misread)
BAR_MATCH_MARGIN = 0.03


def bars_agree(profile: np.ndarray | None, printed: str, fmt: str) -> bool:
    """Whether the bars in ``profile`` (see :func:`bar_profile`) could show ``printed``: its pattern fits them,
    and no sequence one digit away fits them clearly better. OCR's misreads that still pass the check digit
    differ from the truth in two digits or more, so where the bars hold any detail a one-digit correction
    towards the truth fits them better and the misread is refused; bars blurred past reading fit every near
    pattern alike and refute nothing."""
    if profile is None:
        return False
    score, (x0, x1, chirp) = _best_fit(profile, modules(printed, fmt))
    if score < MIN_BAR_MATCH:
        return False
    for i in range(len(printed)):
        if fmt == "UPC-E" and i == 0 and printed[0] not in "01":
            continue
        for dgt in "0123456789":
            if dgt == printed[i] or (fmt == "UPC-E" and i == 0 and dgt not in "01"):
                continue
            alt = modules(printed[:i] + dgt + printed[i + 1:], fmt)
            near = max(_ncc(profile, alt, x0 + dx0, x1 + dx1, chirp)
                       for dx0 in (-1.5, 0.0, 1.5) for dx1 in (-1.5, 0.0, 1.5))
            if near > score + BAR_MATCH_MARGIN:
                return False
    return True
