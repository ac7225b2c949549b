"""Barcodes: a photo or typed digits → the pressings carrying them → the pressing's card, or a choice. The chat
and the shell (``crate barcode``) use the same look-up and the same sentences."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.app.jobs import Jobs, WorkerDied
from core.app.replies import Choice, Notice, Refusal, Reply
from core.app.scoring import Scoring
from core.app.words import NEEDS_LOGIN
from core.barcode import NO_BARCODE_HINT, FoundCode, PhotoError, PhotoLookup, lookup_codes, typed_code
from core.discogs.gateway import AuthFailed, Candidate, DiscogsError

log = logging.getLogger(__name__)


def spaced(found: FoundCode) -> str:
    """The code as printed under the bars: EAN-13 "5 000213 101025", UPC-A "0 75720 00325 9", EAN-8 "9638 5074",
    UPC-E "0 126490 4"."""
    p = found.printed
    if found.format == "EAN-13" and len(p) == 13:
        return f"{p[0]} {p[1:7]} {p[7:]}"
    if found.format == "UPC-A" and len(p) == 12:
        return f"{p[0]} {p[1:6]} {p[6:11]} {p[11]}"
    if found.format == "EAN-8" and len(p) == 8:
        return f"{p[:4]} {p[4:]}"
    if found.format == "UPC-E" and len(p) == 8:
        return f"{p[0]} {p[1:7]} {p[7]}"
    return p


@dataclass
class BarcodeAnswer:
    """What a shell barcode look-up found: the codes read, whether they could be looked up, the lines to show."""

    found: list[Any]
    lines: list[str]
    looked_up: bool


class Barcodes:
    def __init__(self, scoring: Scoring, jobs: Jobs) -> None:
        self.scoring, self.jobs = scoring, jobs
        self.rec = scoring.rec

    def photo(self, user: str, data: bytes) -> list[Reply]:
        """A photo of a barcode: the pressing's card, the pressings to choose from, or what to try instead."""
        missing = self.scoring.knows(user)
        if missing:
            return [Notice(missing)]
        try:
            result = self.jobs.decode_photo(data)
        except PhotoError as exc:
            return [Notice(exc.user_message)]
        except WorkerDied as exc:
            return [Notice(str(exc))]
        if not result.codes:
            return [Notice(NO_BARCODE_HINT)]
        return self.pressings(user, result.found)

    def pressings(self, user: str, found: list[FoundCode], limit: int = 10) -> list[Reply]:
        """Replies for barcodes read off a photo or typed: the pressing's score card when one pressing carries
        them, the pressings to choose from when several do, and what to do when none does or the look-up
        cannot be made. Codes read from the printed digits say so, so the collector can check them."""
        missing = self.scoring.knows(user)
        if missing:
            return [Notice(missing)]
        shown = ", ".join(spaced(f) for f in found)
        lead: list[Reply] = [Notice(
            f"I couldn't read the bars, so I read the digits printed under them: {shown} — check they match the "
            "sleeve (if not, type the right ones).")] if any(f.from_digits for f in found) else []
        gw = self.rec.gateway_for(user)
        if gw is None:
            return lead + [Notice(f"Barcode {shown}: live Discogs look-ups are off here, so I can't find the "
                                  "pressing. Paste the record's Discogs link instead.")]
        try:
            matches = lookup_codes(found, gw, limit)
        except AuthFailed as exc:
            if not (getattr(gw, "token", None) or getattr(gw, "oauth", None)):   # nobody's token was refused
                return lead + [Notice(NEEDS_LOGIN.format(shown=shown))]
            return lead + [Notice(exc.user_message)]
        except DiscogsError as exc:
            return lead + [Notice(exc.user_message)]
        per_code: list[tuple[FoundCode, list[Candidate]]] = []
        for m in matches:
            cands = list({c.release_id: c for c in m.candidates}.values())
            per_code.append((m.found, cands))
        if len(per_code) > 1 and len({tuple(c.release_id for c in cs) for _, cs in per_code}) > 1:
            return lead + self._each_code(user, per_code)
        seen: dict[int, Candidate] = {}
        for _, cs in per_code:
            for c in cs:
                seen.setdefault(c.release_id, c)
        cands = list(seen.values())
        if not cands:
            return lead + [Notice(f"I read the barcode {shown}, but no release on Discogs carries it. Paste the "
                                  "record's Discogs link instead.")]
        if len(cands) == 1:
            return lead + [self.scoring.score(user, cands[0].release_id)]
        return lead + [Choice(shown, cands)]

    def _each_code(self, user: str, per_code: list[tuple[FoundCode, list[Candidate]]]) -> list[Reply]:
        """Two or more different barcodes in one photo (a sleeve and its hype sticker, a box set's two codes):
        each is listed with its own pressings (a card when one pressing carries it), never one picked for the
        collector. Choices are numbered on from each other, so a typed number names one pressing."""
        names = [spaced(f) for f, _ in per_code]
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        out: list[Reply] = [Notice(f"I read {len(per_code)} different barcodes in that photo: {listed}. Here is "
                                   "each one with the pressings that carry it.")]
        first = 1
        for found, cands in per_code:
            name = spaced(found)
            if not cands:
                out.append(Notice(f"Barcode {name}: no release on Discogs carries it."))
            elif len(cands) == 1:
                out.append(self.scoring.score(user, cands[0].release_id))
            else:
                out.append(Choice(name, cands, first=first))
                first += len(cands)
        return out

    # -- the shell's look-up: a photo file or typed digits, listed ----------------------------------------------
    def lookup(self, user: str, photo: str, data: bytes | None, limit: int = 10) -> BarcodeAnswer:
        """Read the barcode(s) of a photo's bytes — or take the digits typed in ``photo`` — and list the pressings
        carrying them (raises :class:`Refusal`)."""
        typed = typed_code(photo) if data is None else None
        gw = self.rec.gateway_for(user)
        try:
            if typed is not None:
                found, how = [typed], "typed"
            else:
                res = self.jobs.decode_photo(data or b"")
                if not res.codes:
                    raise PhotoError("no barcode", NO_BARCODE_HINT)
                found, how = res.found, res.strategy or "photo"
            if gw is None or not (gw.token or gw.oauth):
                return BarcodeAnswer(found, self._unlooked(found, user, gw is None), looked_up=False)
            matches = lookup_codes(found, gw, limit=limit)
        except PhotoError as exc:
            raise Refusal(exc.user_message, 3) from exc
        except DiscogsError as exc:
            raise Refusal(exc.user_message, 4) from exc
        log.info("barcode %s", how)
        return BarcodeAnswer(found, PhotoLookup(None, matches).lines(), looked_up=True)

    @staticmethod
    def _unlooked(found: list[FoundCode], user: str, offline: bool) -> list[str]:
        lines = [f"Barcode {f.printed} ({f.format})" + (" — read from the printed digits, check them"
                                                       if f.from_digits else "") for f in found]
        if offline:
            lines.append("Live Discogs look-ups are off (discogs.live: false), so I can't look the pressings up.")
        else:
            lines.append("Discogs only answers barcode searches for a linked account: run "
                         f"`crate link --token-stdin --user {user}` first.")
        return lines
