"""Local fakes of Deezer's public API and the iTunes Search API, over real HTTP on 127.0.0.1, serving previews
synthesised in the test (:mod:`fakes.audio_clips`).

Deezer (shapes of https://api.deezer.com, documented at developers.deezer.com/api):

* ``GET /album/upc:<UPC>`` → the album with ``tracks{data:[…]}``; unknown → HTTP 200
  ``{"error":{"type":"DataException","message":"no data","code":800}}``
* ``GET /search/album?q=artist:"A" album:"T"`` → ``{"data":[album without tracks…],"total":N}``
* ``GET /album/<id>`` and ``GET /album/<id>/tracks`` → the album / ``{"data":[track…],"total":N}``
* a track: ``{"id","readable","title","title_short","link","duration","preview","artist":{…},"type":"track"}``;
  ``preview`` is ``/preview/<track id>.mp3?hdnea=exp=<t>~hmac=…``, valid for ``link_ttl`` seconds of the fake's
  clock, then HTTP 403 (what Deezer's CDN answers for an expired signature)
* quota: more than ``quota`` requests in ``quota_window`` seconds → HTTP 200
  ``{"error":{"type":"Exception","message":"Quota limit exceeded","code":4}}``

iTunes (https://itunes.apple.com, the Search API documentation):

* ``GET /lookup?upc=<UPC>&entity=song`` and ``GET /lookup?id=<collectionId>&entity=song`` →
  ``{"resultCount":N,"results":[{"wrapperType":"collection",…},{"wrapperType":"track",…,"previewUrl"},…]}``
* ``GET /search?term=…&entity=album`` → ``{"resultCount":N,"results":[collection…]}``
* previews are AAC in MP4 (``.m4a``); over ``quota`` requests a minute: HTTP 403 (what Apple answers)

Every request is recorded (``requests``) so tests can count them per service.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

from fakes.audio_clips import ClipSpec, m4a, mp3


@dataclass
class FakeAlbum:
    album_id: int
    artist: str
    title: str
    upc: str | None
    clips: list[ClipSpec]                 # one per track
    track_ids: list[int] = field(default_factory=list)


class _Service:
    def __init__(self, name: str, quota: int, window: float, clock: Callable[[], float]) -> None:
        self.name = name
        self.quota = quota
        self.window = window
        self.clock = clock
        self.sent: deque[float] = deque()
        self.over = 0
        self.down = False

    def admit(self) -> bool:
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        if len(self.sent) >= self.quota:
            self.over += 1
            return False
        self.sent.append(now)
        return True


class FakeAudioServices:
    """Both fakes on one local port: Deezer under ``/deezer``, iTunes under ``/itunes``."""

    def __init__(self, *, deezer_quota: int = 50, deezer_window: float = 5.0, itunes_quota: int = 20,
                 itunes_window: float = 60.0, link_ttl: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.deezer = _Service("deezer", deezer_quota, deezer_window, clock)
        self.itunes = _Service("itunes", itunes_quota, itunes_window, clock)
        self.link_ttl = link_ttl
        self.deezer_albums: dict[int, FakeAlbum] = {}
        self.itunes_albums: dict[int, FakeAlbum] = {}
        self.tracks: dict[int, tuple[str, FakeAlbum, int]] = {}   # track id → (service, album, position)
        self.requests: list[tuple[str, str]] = []                 # (service, path)
        self.quota_bursts: dict[str, int] = {"deezer": 0, "itunes": 0}   # answer this many next API calls "quota"
        self.expired_links = 0      # hand out this many preview links already expired (a slow client's lot)
        self.quota_every = 0        # answer every Nth API call "quota" (others on the same address using it up)
        self._calls = 0
        self._clip_cache: dict[tuple[ClipSpec, str], bytes] = {}
        self._lock = threading.Lock()
        self._next_track = 3_135_556
        self._httpd: ThreadingHTTPServer | None = None

    # -- content -------------------------------------------------------------------------------------------
    def add_album(self, service: str, album_id: int, artist: str, title: str, upc: str | None,
                  clips: list[ClipSpec]) -> FakeAlbum:
        album = FakeAlbum(album_id, artist, title, upc, list(clips))
        for pos in range(len(clips)):
            tid = self._next_track
            self._next_track += 1
            album.track_ids.append(tid)
            self.tracks[tid] = (service, album, pos)
        (self.deezer_albums if service == "deezer" else self.itunes_albums)[album_id] = album
        return album

    def clip_bytes(self, spec: ClipSpec, kind: str) -> bytes:
        key = (spec, kind)
        with self._lock:
            if key not in self._clip_cache:
                self._clip_cache[key] = mp3(spec) if kind == "mp3" else m4a(spec)
            return self._clip_cache[key]

    def count(self, service: str, kind: str = "api") -> int:
        return sum(1 for s, p in self.requests if s == service and (p.startswith("/preview") == (kind == "clip")))

    # -- life ----------------------------------------------------------------------------------------------
    @property
    def base(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def deezer_url(self) -> str:
        return self.base + "/deezer"

    @property
    def itunes_url(self) -> str:
        return self.base + "/itunes"

    def __enter__(self) -> "FakeAudioServices":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:   # noqa: N802
                fake._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- wire ----------------------------------------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any, ctype: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _signed(self, service: str, tid: int) -> str:
        exp = int(self.clock() + self.link_ttl)
        with self._lock:
            if self.expired_links > 0:
                self.expired_links -= 1
                exp = int(self.clock()) - 60
        mac = hashlib.sha256(f"{tid}:{exp}".encode()).hexdigest()[:16]
        ext = "mp3" if service == "deezer" else "m4a"
        return f"{self.base}/{service}/preview/{tid}.{ext}?hdnea=exp={exp}~hmac={mac}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        parts = url.path.split("/", 2)
        service = parts[1] if len(parts) > 1 else ""
        path = "/" + (parts[2] if len(parts) > 2 else "")
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self._lock:
            self.requests.append((service, path))
        if path.startswith("/preview/"):
            return self._preview(h, service, path, q)
        svc = self.deezer if service == "deezer" else self.itunes if service == "itunes" else None
        if svc is None:
            return self._send(h, 404, {"error": "no such service"})
        if svc.down:
            return self._send(h, 503, b"<html>Service Unavailable</html>", "text/html")
        with self._lock:
            burst = self.quota_bursts[svc.name] > 0
            if burst:
                self.quota_bursts[svc.name] -= 1
            self._calls += 1
            burst = burst or bool(self.quota_every and self._calls % self.quota_every == 0)
        if burst or not svc.admit():
            if svc.name == "deezer":
                return self._send(h, 200, {"error": {"type": "Exception", "message": "Quota limit exceeded",
                                                     "code": 4}})
            return self._send(h, 403, b"", "text/plain")
        if svc.name == "deezer":
            return self._deezer(h, path, q)
        return self._itunes(h, path, q)

    def _preview(self, h: BaseHTTPRequestHandler, service: str, path: str, q: dict[str, str]) -> None:
        m = re.match(r"/preview/(\d+)\.(mp3|m4a)$", path)
        exp = re.match(r"exp=(\d+)~hmac=", q.get("hdnea", ""))
        if not m or not exp or int(m.group(1)) not in self.tracks:
            return self._send(h, 404, b"", "text/plain")
        if self.clock() > int(exp.group(1)):
            return self._send(h, 403, b"<Error>expired</Error>", "application/xml")
        _, album, pos = self.tracks[int(m.group(1))]
        kind = m.group(2)
        return self._send(h, 200, self.clip_bytes(album.clips[pos], kind),
                          "audio/mpeg" if kind == "mp3" else "audio/mp4")

    # Deezer
    def _d_track(self, album: FakeAlbum, pos: int) -> dict[str, Any]:
        tid = album.track_ids[pos]
        return {"id": tid, "readable": True, "title": f"{album.title} (track {pos + 1})",
                "title_short": f"{album.title} (track {pos + 1})", "link": f"https://www.deezer.com/track/{tid}",
                "duration": 200 + pos, "rank": 100000, "explicit_lyrics": False,
                "preview": self._signed("deezer", tid),
                "artist": {"id": album.album_id * 10, "name": album.artist, "type": "artist"}, "type": "track"}

    def _d_album(self, album: FakeAlbum, tracks: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": album.album_id, "title": album.title, "upc": album.upc or "",
                               "link": f"https://www.deezer.com/album/{album.album_id}",
                               "nb_tracks": len(album.clips), "record_type": "album", "type": "album",
                               "artist": {"id": album.album_id * 10, "name": album.artist, "type": "artist"}}
        if tracks:
            data = [self._d_track(album, i) for i in range(len(album.clips))]
            out["tracks"] = {"data": data}
        return out

    def _deezer(self, h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        no_data = {"error": {"type": "DataException", "message": "no data", "code": 800}}
        m = re.match(r"/album/upc:(\d+)$", path)
        if m:
            album = next((a for a in self.deezer_albums.values() if a.upc and a.upc.lstrip("0") ==
                          m.group(1).lstrip("0")), None)
            return self._send(h, 200, self._d_album(album) if album else no_data)
        m = re.match(r"/album/(\d+)(/tracks)?$", path)
        if m:
            album = self.deezer_albums.get(int(m.group(1)))
            if album is None:
                return self._send(h, 200, no_data)
            if m.group(2):
                data = [self._d_track(album, i) for i in range(len(album.clips))]
                return self._send(h, 200, {"data": data, "total": len(data)})
            return self._send(h, 200, self._d_album(album))
        if path == "/search/album":
            text = q.get("q", "")
            fields = dict(re.findall(r'(artist|album):"([^"]*)"', text))
            hits = [a for a in self.deezer_albums.values()
                    if fields.get("artist", "").lower() in a.artist.lower()
                    and fields.get("album", "").lower() in a.title.lower()]
            return self._send(h, 200, {"data": [self._d_album(a, tracks=False) for a in hits], "total": len(hits)})
        return self._send(h, 200, {"error": {"type": "DataException", "message": "no data", "code": 800}})

    # iTunes
    def _i_collection(self, album: FakeAlbum) -> dict[str, Any]:
        return {"wrapperType": "collection", "collectionType": "Album", "collectionId": album.album_id,
                "artistName": album.artist, "collectionName": album.title,
                "collectionViewUrl": f"https://music.apple.com/us/album/{album.album_id}",
                "trackCount": len(album.clips), "country": "USA", "primaryGenreName": "Rock"}

    def _i_track(self, album: FakeAlbum, pos: int) -> dict[str, Any]:
        tid = album.track_ids[pos]
        return {"wrapperType": "track", "kind": "song", "collectionId": album.album_id, "trackId": tid,
                "artistName": album.artist, "collectionName": album.title, "trackName": f"Track {pos + 1}",
                "previewUrl": self._signed("itunes", tid),
                "trackViewUrl": f"https://music.apple.com/us/album/{album.album_id}?i={tid}",
                "trackNumber": pos + 1, "trackTimeMillis": 200000}

    def _itunes(self, h: BaseHTTPRequestHandler, path: str, q: dict[str, str]) -> None:
        if path == "/lookup":
            album = None
            if "upc" in q:
                album = next((a for a in self.itunes_albums.values() if a.upc and a.upc.lstrip("0") ==
                              q["upc"].lstrip("0")), None)
            elif "id" in q and q["id"].isdigit():
                album = self.itunes_albums.get(int(q["id"]))
            results: list[dict[str, Any]] = []
            if album is not None:
                results = [self._i_collection(album)]
                if q.get("entity") == "song":
                    results += [self._i_track(album, i) for i in range(len(album.clips))]
            return self._send(h, 200, {"resultCount": len(results), "results": results})
        if path == "/search":
            term = q.get("term", "").lower()
            hits = [self._i_collection(a) for a in self.itunes_albums.values()
                    if a.artist.lower() in term and a.title.lower() in term]
            return self._send(h, 200, {"resultCount": len(hits), "results": hits})
        return self._send(h, 404, {"errorMessage": "Invalid request"})
