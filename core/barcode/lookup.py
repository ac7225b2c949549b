"""From codes to pressings: typed codes, Discogs look-ups."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from core.barcode.decode import (
    decode_photo,
)
from core.barcode.loading import (
    NO_BARCODE_HINT,
    PhotoError,
    PhotoLimits,
)
from core.barcode.reader import (
    DecodeResult,
    FoundCode,
)
from core.discogs.barcodes import normalise_barcode, typed_barcode

if TYPE_CHECKING:   # pragma: no cover
    from core.discogs.gateway import Candidate, DiscogsGateway

log = logging.getLogger("core.barcode")


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
