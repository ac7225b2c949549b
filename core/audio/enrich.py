"""Enrichment: previews for a collector's records, analysed and stored one release at a time.

Which releases: those they scored (newest first: their cards are what a collector looks at), their wantlist, then
their collection; each at most once (``ok`` and ``none`` rows are not asked again until ``retry_after_days``;
``later`` rows — a service down or over its quota — are asked again on the next run). Every release's result is
committed as soon as it is known, so a run killed part-way resumes where it stopped.

For each release Deezer is asked first (by barcode, then by artist and title), iTunes where Deezer has nothing.
Up to ``tracks_per_release`` previews (spread over the album) are fetched at once — their links are signed and
short-lived; an expired one makes the album's tracks be asked again, once — decoded, analysed and dropped.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from core.audio.features import AudioUnreadable, TrackFeatures, aggregate, analyse_bytes
from core.audio.services import AlbumMatch, PreviewExpired, QuotaExceeded, ServiceDown, ServiceError, _Client
from core.domain.release import Release
from core.storage import Store, utcnow

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


@dataclass
class EnrichReport:
    asked: int = 0            # releases looked at this run
    analysed: int = 0         # …with features now
    none: int = 0             # …that no service has a preview of
    later: int = 0            # …to ask again (a service down or over its quota)
    skipped: int = 0          # already known, not asked again
    tracks: int = 0           # previews analysed
    unreadable: int = 0       # previews that were not audio we could decode
    expired: int = 0          # preview links that had expired (the album asked again)
    seconds: float = 0.0
    analyse_seconds: float = 0.0
    stopped: str = ""         # why the run stopped early (every service unreachable)
    requests: dict[str, int] = field(default_factory=dict)   # API calls per service
    previews: dict[str, int] = field(default_factory=dict)   # previews fetched per service
    retries: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        per = ", ".join(f"{k} {v} requests ({self.retries.get(k, 0)} retries) and {self.previews.get(k, 0)} previews"
                        for k, v in self.requests.items())
        return (f"sound analysed for {self.analysed} of {self.asked} records ({self.tracks} previews); "
                f"{self.none} have no preview anywhere, {self.later} to try again later, {self.skipped} already "
                f"known; {per}; {self.seconds:.1f} s" + (f". {self.stopped}" if self.stopped else ""))


def spread(n_tracks: int, k: int) -> list[int]:
    """Up to ``k`` track positions spread over an album of ``n_tracks`` (the first, then evenly)."""
    if n_tracks <= k:
        return list(range(n_tracks))
    return sorted({round(i * (n_tracks - 1) / (k - 1)) for i in range(k)}) if k > 1 else [0]


class AudioEnricher:
    def __init__(self, store: Store, services: list[_Client], *, tracks_per_release: int = 3,
                 retry_after_days: float = 30.0, analyse: Callable[[bytes], TrackFeatures] = analyse_bytes,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.services = services
        self.k = max(1, int(tracks_per_release))
        self.retry_after = timedelta(days=float(retry_after_days))
        self.analyse = analyse
        self.clock = clock
        #: records in a row for which every service was unreachable before a run gives up
        self.give_up_after = 3
        self._down = 0

    def wanted(self, user: str) -> list[Release]:
        """The user's releases in the order they are enriched: scored (newest first), wantlist, collection."""
        seen: set[int] = set()
        out: list[Release] = []
        scored = sorted(self.store.scores(user), key=lambda s: s.created_at, reverse=True)
        cached = self.store.get_releases([s.release_id for s in scored]) if scored else {}
        groups = [[cached[s.release_id] for s in scored if s.release_id in cached],
                  [it.release for it in self.store.collection(user, "wantlist")],
                  [it.release for it in self.store.collection(user, "collection")]]
        for group in groups:
            for r in group:
                if r.id not in seen:
                    seen.add(r.id)
                    out.append(r)
        return out

    def due(self, releases: list[Release]) -> list[Release]:
        """Those not known yet, or known as ``later``, or ``none``/``ok`` longer ago than the retry period."""
        rows = self.store.audio_rows([r.id for r in releases], status=None)
        now = self.clock()
        out = []
        for r in releases:
            row = rows.get(r.id)
            if row is None or row.status == "later" or (now - row.checked_at) > self.retry_after:
                out.append(r)
        return out

    def run_user(self, user: str, limit: int | None = None, progress: Progress | None = None) -> EnrichReport:
        return self.run(self.wanted(user), limit, progress)

    def run(self, releases: list[Release], limit: int | None = None,
            progress: Progress | None = None) -> EnrichReport:
        t0 = time.perf_counter()
        todo = self.due(releases)
        report = EnrichReport(skipped=len(releases) - len(todo))
        if limit is not None:
            todo = todo[:max(0, int(limit))]
        if progress:
            progress(0, len(todo), "")
        unreachable = 0
        for i, release in enumerate(todo, 1):
            if unreachable >= self.give_up_after:
                report.stopped = (f"Stopped after {report.asked} records: neither Deezer nor Apple Music can be "
                                  "reached from here. Run it again later: nothing heard is lost.")
                break
            report.asked += 1
            self._down = 0
            status = self.enrich_one(release, report)
            unreachable = unreachable + 1 if self._down == len(self.services) else 0
            counter = status if status in ("none", "later") else "analysed"
            setattr(report, counter, getattr(report, counter) + 1)
            if progress:
                progress(i, len(todo), release.display)
        for svc in self.services:
            report.requests[svc.service] = svc.requests
            report.previews[svc.service] = svc.clips
            report.retries[svc.service] = svc.retries
        report.seconds = time.perf_counter() - t0
        return report

    def enrich_one(self, release: Release, report: EnrichReport) -> str:
        """Find, fetch, analyse and store one release; its status (ok, none, later)."""
        busy: list[str] = []
        for svc in self.services:
            try:
                album = svc.find(release)
                if album is None or not album.tracks:
                    continue
                tracks = self._analyse_album(svc, album, report)
            except QuotaExceeded as exc:
                busy.append(str(exc))
                continue
            except ServiceDown as exc:
                self._down += 1
                busy.append(str(exc))
                continue
            except ServiceError as exc:
                log.info("audio: %s for release %s", exc, release.id)
                busy.append(str(exc))
                continue
            if tracks:
                feats = aggregate([t for t, _ in tracks])
                refs = [{"id": tr.track_id, "title": tr.title, "page": tr.page_url} for _, tr in tracks]
                self.store.put_audio(release.id, "ok", source=svc.service, album_id=album.album_id,
                                     features={**feats.as_dict(), "how": album.how}, vector=feats.vector,
                                     track_refs=refs, now=self.clock())
                report.tracks += len(tracks)
                return "ok"
        status = "later" if busy else "none"
        self.store.put_audio(release.id, status, note="; ".join(busy), now=self.clock())
        return status

    def _analyse_album(self, svc: _Client, album: AlbumMatch, report: EnrichReport) -> list[tuple]:
        out = []
        refreshed = False
        for pos in spread(len(album.tracks), self.k):
            if pos >= len(album.tracks):
                break
            track = album.tracks[pos]
            try:
                data = svc.clip(track.preview_url)
            except PreviewExpired:
                report.expired += 1
                if refreshed:
                    continue
                refreshed = True
                album = svc.refresh(album)   # fresh signed links for the whole album
                fresh = {t.track_id: t for t in album.tracks}
                if track.track_id not in fresh:
                    continue
                track = fresh[track.track_id]
                try:
                    data = svc.clip(track.preview_url)
                except PreviewExpired:
                    continue
            t0 = time.perf_counter()
            try:
                feats = self.analyse(data)
            except AudioUnreadable:
                report.unreadable += 1
                continue
            finally:
                report.analyse_seconds += time.perf_counter() - t0
            out.append((feats, track))
        return out
