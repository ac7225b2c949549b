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

from .discogs.barcodes import is_valid_gs1, normalise_barcode, upce_to_upca

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
    if as_upce:
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
        best: tuple[int, PrintedCode] | None = None
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
                if best is None or j - i > best[0]:
                    best = (j - i, cand)
        if best is not None and best[1].code not in found:
            found[best[1].code] = best[1]
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
