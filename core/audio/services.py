"""Free 30-second previews: Deezer's public API (no key) first, the iTunes Search API where Deezer has nothing.

Wire formats (the fakes in ``tests/fakes/audio_server.py`` follow them):

* Deezer (``DEEZER_API_BASE_URL``, default https://api.deezer.com): ``GET /album/upc:<UPC>`` → the album
  (``id``, ``title``, ``link``, ``artist{name}``, ``tracks{data:[{id,title,duration,preview,link}]}``); an unknown
  one is HTTP 200 with ``{"error":{"type":"DataException","message":"no data","code":800}}``.
  ``GET /search/album?q=artist:"A" album:"T"`` → ``{"data":[album…],"total":N}`` (albums without tracks),
  ``GET /album/<id>/tracks`` → ``{"data":[track…]}``. Over the quota (50 requests per 5 s) the answer is HTTP 200
  with ``{"error":{"type":"Exception","message":"Quota limit exceeded","code":4}}``: back off, try again.
* iTunes (``ITUNES_API_BASE_URL``, default https://itunes.apple.com): ``GET /lookup?upc=<UPC>&entity=song`` and
  ``GET /lookup?id=<collectionId>&entity=song`` → ``{"resultCount":N,"results":[collection, track…]}`` (tracks:
  ``wrapperType "track"``, ``trackId``, ``trackName``, ``previewUrl``, ``trackViewUrl``);
  ``GET /search?term=…&entity=album`` → albums (``collectionId``, ``collectionName``, ``artistName``). About 20
  requests a minute; over it, HTTP 403 or 429.

A ``preview`` is a signed, short-lived URL of a 30 s clip (MP3 on Deezer, AAC on iTunes): it is fetched at once,
analysed and dropped (only the features and the track's id and page are kept). An expired one answers 403: the
album's tracks are asked again for fresh links. Each service has its own rate limiter
(:class:`core.discogs.ratelimit.RateLimiter`, the moving window the Discogs gateway uses).
"""
from __future__ import annotations

import logging
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

from core.discogs.ratelimit import RateLimiter
from core.domain.release import Release, norm_text

log = logging.getLogger(__name__)

USER_AGENT = "CrateDigger/0.1 (+https://github.com/cratedigger/cratedigger)"


class ServiceError(Exception):
    """A preview service failed (down, over its quota after retries, answering nonsense)."""


class QuotaExceeded(ServiceError):
    """Still over the quota after backing off: try this release again later."""


class ServiceDown(ServiceError):
    """The service cannot be reached at all (no route, no name, connection refused)."""


class PreviewExpired(ServiceError):
    """The signed preview URL is no longer valid (403/404/410)."""


@dataclass
class PreviewTrack:
    track_id: str
    title: str
    preview_url: str
    page_url: str


@dataclass
class AlbumMatch:
    service: str            # "deezer" | "itunes"
    album_id: str
    title: str
    artist: str
    page_url: str
    tracks: list[PreviewTrack] = field(default_factory=list)
    how: str = "upc"        # how it was found: "upc" (the barcode) or "search" (artist and title)


def upc_forms(barcodes: list[str]) -> list[str]:
    """The digits of a release's barcodes as the services look them up: 12-digit UPCs and 13-digit EANs; an EAN
    with a leading 0 also as its UPC (Deezer and iTunes store US releases as UPC-A)."""
    out: list[str] = []
    for code in barcodes:
        digits = "".join(ch for ch in str(code) if ch.isdigit())
        if len(digits) not in (12, 13):
            continue
        for form in (digits, digits[1:] if len(digits) == 13 and digits[0] == "0" else None):
            if form and form not in out:
                out.append(form)
    return out


_EDITION = re.compile(r"\s*(\([^)]*\)|\[[^\]]*\])\s*|\s+-\s+(\d{4}\s+)?(remaster|deluxe|expanded|anniversary|"
                      r"bonus|edition|special|live|mono|stereo).*$", re.I)


def _core_name(name: str) -> str:
    """A name without its edition: "(Deluxe)", "[Remastered 2009]", " - 2011 Remaster" go; "The" leads nothing."""
    core = norm_text(_EDITION.sub(" ", name))
    return core[4:] if core.startswith("the ") else core


def _same(a: str, b: str) -> bool:
    """The same album or artist, editions aside ("Remind Me Tomorrow" is "Remind Me Tomorrow (Deluxe)"); never a
    mere containment ("Live" is not "Live at Leeds": a wrong preview is worse than none)."""
    x, y = _core_name(a), _core_name(b)
    return bool(x) and x == y


def _artist(release: Release) -> str:
    name = release.artists[0] if release.artists else ""
    # Discogs disambiguates namesakes with " (2)": the services do not
    return name.rsplit(" (", 1)[0] if name.endswith(")") and name.rsplit(" (", 1)[-1][:-1].isdigit() else name


class _Client:
    """One service's HTTP: its own limiter, timeouts, a few retries with jittered backoff."""

    service = ""

    def __init__(self, base_url: str, limiter: RateLimiter, *, session: requests.Session | None = None,
                 timeout: float = 10.0, attempts: int = 4, backoff_s: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.http = session or requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.requests = 0       # API calls
        self.clips = 0          # previews fetched
        self.retries = 0

    def _backoff(self, attempt: int) -> float:
        return self.backoff_s * (2 ** attempt) * (0.5 + self.rng.random() / 2)

    def _get(self, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        slot = self.limiter.acquire()
        self.requests += 1
        try:
            return self.http.get(url, params=params, timeout=self.timeout)
        finally:
            self.limiter.settle(slot)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON answer; retried on quota, 429, 5xx and network errors; :class:`QuotaExceeded`,
        :class:`ServiceDown` or :class:`ServiceError` when they last."""
        last = ""
        for attempt in range(self.attempts):
            more = attempt + 1 < self.attempts
            wait = self._backoff(attempt)
            try:
                resp = self._get(self.base_url + path, params)
            except requests.ConnectionError as exc:   # no route, no name, refused: down, not busy
                last = f"{type(exc).__name__}"
                if attempt >= 1:
                    raise ServiceDown(f"{self.service}: unreachable ({last})") from exc
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
            else:
                if resp.status_code in (403, 429):   # over the quota (Apple answers 403)
                    last = f"HTTP {resp.status_code}"
                    wait = float(resp.headers.get("Retry-After") or wait)
                    self.limiter.block_for(wait)
                    if not more:
                        raise QuotaExceeded(f"{self.service}: {last}")
                elif resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                elif resp.status_code >= 400:
                    raise ServiceError(f"{self.service}: HTTP {resp.status_code} for {path}")
                else:
                    try:
                        data = resp.json()
                    except ValueError as exc:
                        raise ServiceError(f"{self.service}: not JSON for {path}") from exc
                    if not self._over_quota(data):
                        return data
                    last = "quota"               # Deezer: HTTP 200 with error code 4
                    self.limiter.block_for(wait)
                    if not more:
                        raise QuotaExceeded(f"{self.service}: quota")
            if more:
                self.retries += 1
                self.sleep(wait)
        raise ServiceError(f"{self.service}: {last or 'no answer'} for {path}")

    def _over_quota(self, data: Any) -> bool:
        return False

    def clip(self, url: str) -> bytes:
        """The preview's bytes (not rate limited by the API's quota: it is a file on a CDN); an expired link is
        :class:`PreviewExpired`."""
        self.clips += 1
        try:
            resp = self.http.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceError(f"{self.service}: preview unreachable ({type(exc).__name__})") from exc
        if resp.status_code in (403, 404, 410):
            raise PreviewExpired(f"{self.service}: preview link expired (HTTP {resp.status_code})")
        if resp.status_code != 200:
            raise ServiceError(f"{self.service}: preview HTTP {resp.status_code}")
        if len(resp.content) > 5_000_000:   # a 30 s preview is ~0.5 MB: anything else is not a preview
            raise ServiceError(f"{self.service}: preview too large")
        return resp.content

    def find(self, release: Release) -> AlbumMatch | None:
        raise NotImplementedError

    def refresh(self, album: AlbumMatch) -> AlbumMatch:
        """The album's tracks again, with fresh preview links."""
        raise NotImplementedError


class Deezer(_Client):
    service = "deezer"

    def _over_quota(self, data: Any) -> bool:
        err = data.get("error") if isinstance(data, dict) else None
        return isinstance(err, dict) and int(err.get("code") or 0) == 4

    @staticmethod
    def _no_data(data: Any) -> bool:
        return isinstance(data, dict) and isinstance(data.get("error"), dict)

    @staticmethod
    def _tracks(items: list[dict[str, Any]]) -> list[PreviewTrack]:
        return [PreviewTrack(str(t["id"]), str(t.get("title") or ""), str(t["preview"]),
                             str(t.get("link") or f"https://www.deezer.com/track/{t['id']}"))
                for t in items if isinstance(t, dict) and t.get("preview") and t.get("id") is not None]

    def _album(self, data: dict[str, Any], how: str) -> AlbumMatch:
        tracks = (data.get("tracks") or {}).get("data") or []
        return AlbumMatch("deezer", str(data["id"]), str(data.get("title") or ""),
                          str((data.get("artist") or {}).get("name") or ""),
                          str(data.get("link") or f"https://www.deezer.com/album/{data['id']}"),
                          self._tracks(tracks), how)

    def find(self, release: Release) -> AlbumMatch | None:
        for upc in upc_forms(release.barcodes):
            data = self.get_json(f"/album/upc:{upc}")
            if not self._no_data(data) and isinstance(data, dict) and data.get("id") is not None:
                album = self._album(data, "upc")
                return album if album.tracks else self.refresh(album)
        artist = _artist(release)
        if not (artist and release.title):
            return None
        found = self.get_json("/search/album", {"q": f'artist:"{artist}" album:"{release.title}"'})
        for item in (found.get("data") or []) if isinstance(found, dict) else []:
            if _same(str(item.get("title") or ""), release.title) and \
                    _same(str((item.get("artist") or {}).get("name") or ""), artist):
                return self.refresh(self._album(item, "search"))
        return None

    def refresh(self, album: AlbumMatch) -> AlbumMatch:
        data = self.get_json(f"/album/{album.album_id}/tracks")
        if self._no_data(data):
            return AlbumMatch(album.service, album.album_id, album.title, album.artist, album.page_url, [], album.how)
        album.tracks = self._tracks((data or {}).get("data") or [])
        return album


class ITunes(_Client):
    service = "itunes"

    @staticmethod
    def _from_lookup(data: Any, how: str) -> AlbumMatch | None:
        results = data.get("results") or [] if isinstance(data, dict) else []
        coll = next((r for r in results if r.get("wrapperType") == "collection"), None)
        if coll is None:
            return None
        tracks = [PreviewTrack(str(r["trackId"]), str(r.get("trackName") or ""), str(r["previewUrl"]),
                               str(r.get("trackViewUrl") or coll.get("collectionViewUrl") or ""))
                  for r in results if r.get("wrapperType") == "track" and r.get("previewUrl")
                  and r.get("trackId") is not None]
        return AlbumMatch("itunes", str(coll["collectionId"]), str(coll.get("collectionName") or ""),
                          str(coll.get("artistName") or ""), str(coll.get("collectionViewUrl") or ""), tracks, how)

    def find(self, release: Release) -> AlbumMatch | None:
        for upc in upc_forms(release.barcodes):
            album = self._from_lookup(self.get_json("/lookup", {"upc": upc, "entity": "song"}), "upc")
            if album is not None:
                return album
        artist = _artist(release)
        if not (artist and release.title):
            return None
        found = self.get_json("/search", {"term": f"{artist} {release.title}", "entity": "album", "limit": 10})
        for item in (found.get("results") or []) if isinstance(found, dict) else []:
            if _same(str(item.get("collectionName") or ""), release.title) and \
                    _same(str(item.get("artistName") or ""), artist):
                album = self._from_lookup(self.get_json("/lookup", {"id": item["collectionId"], "entity": "song"}),
                                          "search")
                if album is not None:
                    return album
        return None

    def refresh(self, album: AlbumMatch) -> AlbumMatch:
        fresh = self._from_lookup(self.get_json("/lookup", {"id": album.album_id, "entity": "song"}), album.how)
        return fresh or AlbumMatch(album.service, album.album_id, album.title, album.artist, album.page_url, [],
                                   album.how)


def base_urls(env: dict[str, str] | None = None) -> tuple[str, str]:
    """(Deezer, iTunes) API base URLs: ``DEEZER_API_BASE_URL`` and ``ITUNES_API_BASE_URL`` or the real ones."""
    env = dict(os.environ) if env is None else env
    return (env.get("DEEZER_API_BASE_URL") or "https://api.deezer.com",
            env.get("ITUNES_API_BASE_URL") or "https://itunes.apple.com")
