"""A faithful local fake of the Discogs API v2, served over real HTTP on 127.0.0.1.

Use it as a context manager (or through the ``discogs_server`` pytest fixture in ``fakes.fixtures``)::

    with FakeDiscogsServer(window_seconds=1.0) as server:
        server.add_user("collector", n_records=230)
        server.add_token("good-token", "collector")
        client = discogs_client.Client("CrateDigger/0.1", user_token="good-token")
        client._base_url = server.base_url          # every API call goes to the fake
        client.backoff_enabled = False               # see 429s instead of sleeping
        client.release(4).title

For OAuth 1.0a, also point the client's class-level URLs at the fake (instance attributes)::

    client = discogs_client.Client("CrateDigger/0.1", consumer_key=KEY, consumer_secret=SECRET)
    client._base_url = server.base_url
    client._request_token_url = server.base_url + "/oauth/request_token"
    client._access_token_url = server.base_url + "/oauth/access_token"
    client._authorize_url = server.base_url + "/oauth/authorize"
    token, secret, url = client.get_authorize_url()
    verifier = server.authorize(token, "collector")   # what the user's "Authorize" click does
    client.get_access_token(verifier)

Endpoints (GET unless noted; JSON shapes copied from the real responses in
``data/discogs-api/discogs_client/tests/res``; API paths in bodies are absolute URLs on ``base_url``):

* ``/releases/{id}[?curr_abbr=]``, ``/masters/{id}``, ``/masters/{id}/versions``, ``/artists/{id}``,
  ``/labels/{id}`` (artists/labels: the bundled fixtures only)
* ``/database/search`` (auth required): ``q``, ``barcode`` (digits-only comparison), ``type``
  (``release``/``master``), ``title`` ("Artist - Title"), ``release_title``, ``artist``, ``label``, ``catno``,
  ``year``, ``country``, ``genre``, ``style``, ``format``, ``page``, ``per_page``
* ``/users/{u}``, ``/users/{u}/collection/folders``, ``/users/{u}/collection/folders/{0|1}/releases``
  (``sort=added|artist|title|year|rating|label|catno|format|id``, ``sort_order=asc|desc``; default
  ``added``/``asc``), ``/users/{u}/wants`` (same sorting); owner-only writes: ``PUT``/``DELETE
  /users/{u}/wants/{release_id}``, ``POST /users/{u}/collection/folders/1/releases/{release_id}``,
  ``DELETE /users/{u}/collection/folders/{f}/releases/{release_id}/instances/{instance_id}``
* ``/marketplace/stats/{release_id}[?curr_abbr=EUR]`` (``set_market()``: prices that change with ``market_clock``;
  blocked from sale), ``/marketplace/price_suggestions/{release_id}`` (a user's token; the profile's currency),
  ``/marketplace/listings/{id}`` (``add_listing()``, plus
  the fixture's listing 150899904 of an unknown release), ``/users/{u}/inventory``
* ``/oauth/identity``; ``GET|POST /oauth/request_token``, ``GET|POST /oauth/access_token``,
  ``GET /oauth/authorize?oauth_token=...&username=...`` (fake-only stand-in for the web authorize page)
* ``/image/...``: a 1x1 GIF for every image URL the fake hands out (not rate limited)

Pages beyond the last answer 404 ``{"message": "Page N of M requested."}`` (what python3-discogs-client turns
into ``IndexError``); ``per_page`` is clamped to 1..100 (default 50).

Authentication: a personal token as ``?token=`` or ``Authorization: Discogs token=...``; an app's consumer key
as ``Authorization: Discogs key=..., secret=...`` (search only, no identity); OAuth 1.0a ``Authorization: OAuth
...`` with HMAC-SHA1 or PLAINTEXT signatures, verified against the registered consumer and token secrets.
An unknown or revoked credential gets 401 on every endpoint.

Rate limiting: a moving window of ``window_seconds`` per credential (per client IP when anonymous), at most
``limit_authenticated`` / ``limit_anonymous`` requests; the request that finds the window full gets 429 and is
counted in ``over_limit`` (it does not use up the window). Every API response carries ``X-Discogs-Ratelimit``,
``X-Discogs-Ratelimit-Used`` and ``X-Discogs-Ratelimit-Remaining`` (also with ``rate_limit=False``, which only
stops the 429s).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import re
import secrets
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

try:  # the zone Discogs writes its timestamps in
    from zoneinfo import ZoneInfo

    _PACIFIC: Any = ZoneInfo("America/Los_Angeles")
except Exception:  # pragma: no cover - no tz database
    _PACIFIC = timezone(timedelta(hours=-8))

from .discogs_data import (
    CURRENCY_RATES,
    Dataset,
    basic_information,
    digits_only,
    load_dataset,
    market_numbers,
    master_search_result,
    norm,
    rng_for,
    search_result,
    version_entry,
)

log = logging.getLogger(__name__)

REAL_API = "https://api.discogs.com"
LOOPBACK = "127.0.0.1"

MSG_NOT_AUTHENTICATED = "You must authenticate to access this resource."
MSG_INVALID_TOKEN = "Invalid consumer token. Please register an app before making API requests."
MSG_FORBIDDEN = "You don't have permission to access this resource."
MSG_TOO_MANY = "You are making requests too quickly."
MSG_NO_USER = "User does not exist or may have been deleted."
MSG_NOT_FOUND = "The requested resource was not found."

#: Bodies for injected faults when ``fail(body=None)``. 502 is an HTML page, as Discogs' edge sends it.
DEFAULT_FAULT_BODIES: dict[int, Any] = {
    401: {"message": MSG_INVALID_TOKEN},
    403: {"message": MSG_FORBIDDEN},
    404: {"message": MSG_NOT_FOUND},
    429: {"message": MSG_TOO_MANY},
    500: {"message": "An internal server error occurred."},
    502: ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
          "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"),
    503: {"message": "The Discogs API is temporarily unavailable. Please try again later."},
    504: ("<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
          "<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n"),
}

_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
        b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

_COLLECTION_START = datetime(2009, 1, 1, tzinfo=timezone.utc)
_COLLECTION_END = datetime(2024, 10, 1, tzinfo=timezone.utc)


class RequestRecord(NamedTuple):
    """One request the fake answered: ``(time, method, path, query, token, status)``.

    ``time`` is ``time.monotonic()`` on arrival; ``query`` the query parameters without ``token``; ``token``
    the credential presented, valid or not (personal token, OAuth token or consumer key), ``None`` when none;
    ``status`` the HTTP status answered (0 when an injected fault dropped the connection). A request is logged
    just before its answer is sent, so whatever a client has received is already in the log.
    """

    time: float
    method: str
    path: str
    query: dict[str, str]
    token: str | None
    status: int


@dataclass
class Fault:
    """An injected fault; ``fail()`` returns it. ``remaining`` is ``None`` for a fault that never runs out."""

    pattern: re.Pattern[str]
    status: int | None
    remaining: int | None
    delay: float = 0.0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    drop: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request (and has uses left)."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        return self.pattern.search(path) is not None

    @property
    def exhausted(self) -> bool:
        """True once the fault has been used ``times`` times."""
        return self.remaining is not None and self.remaining <= 0


@dataclass
class CollectionEntry:
    """One instance of a release in a user's collection (or one wantlist entry)."""

    release_id: int
    instance_id: int
    date_added: datetime
    rating: int = 0
    folder_id: int = 1
    notes: str = ""


class MarketState(NamedTuple):
    """The marketplace of one release from ``at`` on (see ``FakeDiscogsServer.set_market``)."""

    at: float
    lowest_usd: float | None
    num_for_sale: int
    blocked: bool


@dataclass
class FakeUser:
    """A registered user; read it through ``server.user(name)``, change it through the server's methods."""

    username: str
    id: int
    private: bool = False
    private_wantlist: bool = False
    name: str = ""
    registered: datetime = _COLLECTION_START
    currency: str = "USD"          # the profile's ``curr_abbr`` (Discogs' default: USD)
    collection: list[CollectionEntry] = field(default_factory=list)
    wants: list[CollectionEntry] = field(default_factory=list)

    @property
    def collection_ids(self) -> list[int]:
        """Release ids of the collection, in the order they were added."""
        return [e.release_id for e in self.collection]

    @property
    def want_ids(self) -> list[int]:
        """Release ids of the wantlist, in the order they were added."""
        return [e.release_id for e in self.wants]


@dataclass
class _Auth:
    kind: str = "anonymous"          # anonymous | token | oauth | consumer
    credential: str | None = None     # what is logged and rate-limited on
    username: str | None = None
    consumer_name: str | None = None
    error: tuple[int, str] | None = None


@dataclass
class _Token:
    username: str
    consumer_name: str
    secret: str | None = None         # OAuth access token secret
    consumer_key: str | None = None   # OAuth: the consumer it was issued to


@dataclass
class _RequestToken:
    consumer_key: str
    secret: str
    callback: str | None
    verifier: str | None = None
    username: str | None = None


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json",
                     dict(headers or {}))


def absolutize(obj: Any, base_url: str) -> Any:
    """A copy of ``obj`` with every API path (``/releases/1``, ``/image/...``) and ``https://api.discogs.com``
    URL rewritten onto ``base_url``; web URLs (``https://www.discogs.com/...``, a search result's relative
    ``uri``) are left alone."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if isinstance(v, str) and (k == "resource_url" or k.endswith("_url")) and v.startswith("/"):
                out[k] = base_url + v
            else:
                out[k] = absolutize(v, base_url)
        return out
    if isinstance(obj, list):
        return [absolutize(v, base_url) for v in obj]
    if isinstance(obj, str):
        if obj.startswith(REAL_API):
            return base_url + obj[len(REAL_API):]
        if obj.startswith("/image/"):
            return base_url + obj
    return obj


def _iso(dt: datetime) -> str:
    return dt.astimezone(_PACIFIC).replace(microsecond=0).isoformat()


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name, default))
    except (TypeError, ValueError):
        return default


class FakeDiscogsServer:
    """A thread-safe fake Discogs API on ``127.0.0.1`` (an ephemeral port unless ``port`` is given).

    Args:
        rate_limit: return 429 when a window is full (headers are sent either way).
        window_seconds: length of the moving rate-limit window (Discogs: 60).
        limit_authenticated: requests per window for a valid credential (Discogs: 60).
        limit_anonymous: requests per window per client IP without credentials (Discogs: 25).
        deleted_ids: release ids that answer 404 as deleted releases (also ``delete_release()``).
        port: the port to bind on 127.0.0.1; 0 picks a free one.
        verify_oauth_signatures: check OAuth 1.0a signatures (HMAC-SHA1 / PLAINTEXT).
        dataset: the data to serve; the bundled data (``load_dataset()``) by default.
    """

    def __init__(self, *, rate_limit: bool = True, window_seconds: float = 60.0, limit_authenticated: int = 60,
                 limit_anonymous: int = 25, deleted_ids: Iterable[int] = (), port: int = 0,
                 verify_oauth_signatures: bool = True, dataset: Dataset | None = None) -> None:
        self.data: Dataset = dataset or load_dataset()
        self.rate_limit_enabled = rate_limit
        self.window_seconds = float(window_seconds)
        self.limit_authenticated = int(limit_authenticated)
        self.limit_anonymous = int(limit_anonymous)
        self.verify_oauth_signatures = verify_oauth_signatures
        self.requests: list[RequestRecord] = []
        self.over_limit = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._deleted: set[int] = set(int(i) for i in deleted_ids)
        self._market: dict[int, list[MarketState]] = {}
        self.market_clock: Callable[[], float] = time.time   # what "now" is for set_market's timelines
        self._users: dict[str, FakeUser] = {}
        self._tokens: dict[str, _Token] = {}
        self._revoked: set[str] = set()
        self._consumers: dict[str, tuple[str, str]] = {}
        self._request_tokens: dict[str, _RequestToken] = {}
        self._faults: list[Fault] = []
        self._windows: dict[str, deque[float]] = {}
        self._instance_ids = itertools.count(1_000_001)
        self._listing_ids = itertools.count(3_000_000_001)
        self._listings: dict[int, dict[str, Any]] = {l_["id"]: l_ for l_ in self.data.fixture_listings}
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeDiscogsServer":
        """Bind 127.0.0.1 and serve in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((LOOPBACK, self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-discogs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; slow (delayed) responses in flight are cut short."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "FakeDiscogsServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (after ``start()``)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: set it as ``client._base_url``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def request_token_url(self) -> str:
        """Value for ``client._request_token_url``."""
        return self.base_url + "/oauth/request_token"

    @property
    def access_token_url(self) -> str:
        """Value for ``client._access_token_url``."""
        return self.base_url + "/oauth/access_token"

    @property
    def authorize_url(self) -> str:
        """Value for ``client._authorize_url``."""
        return self.base_url + "/oauth/authorize"

    def point_client(self, client: Any) -> Any:
        """Point a ``discogs_client.Client`` at this server (base, OAuth URLs) and turn its backoff off."""
        client._base_url = self.base_url
        client._request_token_url = self.request_token_url
        client._access_token_url = self.access_token_url
        client._authorize_url = self.authorize_url
        client.backoff_enabled = False
        return client

    # ------------------------------------------------------------------ users and records
    def add_user(self, username: str, n_records: int = 0, private: bool = False, wants: int | Iterable[int] = 0, *,
                 private_wantlist: bool | None = None, seed: int | str = 0, name: str | None = None,
                 currency: str = "USD") -> FakeUser:
        """Register a user with ``n_records`` collection records drawn deterministically (by username and seed).

        Records come from the catalogue (4,325) and dump-sample (1,000) releases, shuffled: up to 5,325 they
        are distinct releases; beyond, the pool is cycled as further instances (distinct ``instance_id``).
        ``date_added`` values spread from 2009 to 2024, increasing with ``instance_id``. ``wants`` is a
        count (releases not in the collection) or explicit release ids. A ``private`` collection answers 403
        to anyone but the user's own token; ``private_wantlist`` defaults to ``private``.
        """
        rng = rng_for("user", username, seed)
        pool = list(self.data.pool_ids)
        rng.shuffle(pool)
        ids = [pool[i % len(pool)] for i in range(n_records)]
        stamps = sorted(rng.uniform(_COLLECTION_START.timestamp(), _COLLECTION_END.timestamp()) for _ in ids)
        with self._lock:
            if username in self._users:
                raise ValueError(f"user {username!r} already exists")
            user = FakeUser(username=username, id=100_000 + zlib.crc32(username.encode()) % 9_000_000,
                            private=private, private_wantlist=private if private_wantlist is None else private_wantlist,
                            name=name if name is not None else username.title(), currency=currency,
                            registered=_COLLECTION_START - timedelta(days=rng.randint(1, 2000)))
            for rid, ts in zip(ids, stamps):
                user.collection.append(CollectionEntry(
                    rid, next(self._instance_ids), datetime.fromtimestamp(int(ts), timezone.utc),
                    rating=rng.choice([0, 0, 0, 0, 0, 0, 3, 4, 4, 5])))
            if isinstance(wants, int):
                owned = set(ids)
                want_ids = [r for r in pool[len(ids):] + pool[:len(ids)] if r not in owned][:wants]
            else:
                want_ids = [int(w) for w in wants]
            for rid in want_ids:
                self._check_release_id(rid)
                user.wants.append(CollectionEntry(
                    rid, 0, datetime.fromtimestamp(int(rng.uniform(_COLLECTION_START.timestamp(),
                                                                   _COLLECTION_END.timestamp())), timezone.utc),
                    rating=0))
            user.wants.sort(key=lambda e: e.date_added)
            self._users[username] = user
            return user

    def user(self, username: str) -> FakeUser:
        """The registered user (``KeyError`` when unknown)."""
        with self._lock:
            return self._users[username]

    def remove_user(self, username: str) -> None:
        """Delete a user: their pages then answer 404 (their tokens 401)."""
        with self._lock:
            self._users.pop(username, None)
            for tok, info in list(self._tokens.items()):
                if info.username == username:
                    self._revoked.add(tok)

    def add_records(self, username: str, ids: Iterable[int] | None = None, *, n: int = 0,
                    rating: int = 0) -> list[CollectionEntry]:
        """Append records to a collection, dated after every existing record (1 hour apart).

        ``ids`` are release ids (any release the fake knows); with ``n`` instead, the next ``n`` pool
        releases the user does not own yet. Returns the new entries (with their ``instance_id``).
        """
        with self._lock:
            user = self._users[username]
            if ids is None:
                owned = set(user.collection_ids)
                rng = rng_for("more", username, len(user.collection))
                pool = [r for r in self.data.pool_ids if r not in owned]
                rng.shuffle(pool)
                ids = pool[:n]
            last = max((e.date_added for e in user.collection), default=_COLLECTION_END)
            added = []
            for k, rid in enumerate(ids, 1):
                self._check_release_id(int(rid))
                entry = CollectionEntry(int(rid), next(self._instance_ids), last + timedelta(hours=k), rating=rating)
                user.collection.append(entry)
                added.append(entry)
            return added

    def remove_records(self, username: str, release_ids: Iterable[int]) -> int:
        """Remove every instance of these releases from a collection; returns how many were removed."""
        drop = {int(r) for r in release_ids}
        with self._lock:
            user = self._users[username]
            before = len(user.collection)
            user.collection = [e for e in user.collection if e.release_id not in drop]
            return before - len(user.collection)

    def add_wants(self, username: str, ids: Iterable[int]) -> list[CollectionEntry]:
        """Append releases to a wantlist, dated after every existing want."""
        with self._lock:
            user = self._users[username]
            last = max((e.date_added for e in user.wants), default=_COLLECTION_END)
            added = []
            for k, rid in enumerate(ids, 1):
                self._check_release_id(int(rid))
                entry = CollectionEntry(int(rid), 0, last + timedelta(hours=k))
                user.wants.append(entry)
                added.append(entry)
            return added

    def set_private(self, username: str, private: bool = True, *, wantlist: bool | None = None) -> None:
        """Make a collection (and, by default, the wantlist) private or public."""
        with self._lock:
            user = self._users[username]
            user.private = private
            user.private_wantlist = private if wantlist is None else wantlist

    def _check_release_id(self, rid: int) -> None:
        if rid not in self.data.releases:
            raise ValueError(f"release {rid} is not known to the fake")

    # ------------------------------------------------------------------ releases
    def add_listing(self, release_id: int, *, seller: str = "collector", price: float | None = None,
                    currency: str = "USD", status: str = "For Sale", condition: str = "Very Good Plus (VG+)",
                    sleeve_condition: str = "Very Good (VG)", listing_id: int | None = None) -> int:
        """Put a release up for sale (``GET /marketplace/listings/{id}``, the seller's inventory); returns the
        listing id. The seller is registered (empty) if unknown; ``price`` defaults to the release's lowest price."""
        rel = self.data.releases.get(int(release_id))
        if rel is None:
            raise ValueError(f"release {release_id} is not known to the fake")
        if price is None:
            price = (market_numbers(int(release_id), currency)[1]
                     or round(9.99 * CURRENCY_RATES.get(currency.upper(), 1.0), 2))
        with self._lock:
            if seller not in self._users:
                self.add_user(seller)
            user = self._users[seller]
            lid = int(listing_id) if listing_id is not None else next(self._listing_ids)
            fmt = ", ".join(d for f in rel.get("formats") or []
                            for d in [f.get("name", ""), *(f.get("descriptions") or [])] if d)
            artist = rel.get("artists_sort", "")
            self._listings[lid] = {
                "id": lid, "resource_url": f"/marketplace/listings/{lid}", "uri": f"https://www.discogs.com/sell/item/{lid}",
                "status": status, "condition": condition, "sleeve_condition": sleeve_condition, "comments": "",
                "ships_from": "Germany", "posted": _iso(datetime(2024, 5, 1, 12, tzinfo=timezone.utc)),
                "allow_offers": False, "audio": False, "price": {"currency": currency.upper(), "value": float(price)},
                "original_price": {"curr_abbr": currency.upper(), "curr_id": 1, "formatted": f"{price:.2f}",
                                   "value": float(price)},
                "shipping_price": {"currency": currency.upper(), "value": 5.0},
                "seller": {"id": user.id, "username": seller, "resource_url": f"/users/{seller}",
                           "avatar_url": f"/image/A-{user.id}.jpeg",
                           "stats": {"rating": "100.0", "stars": 5.0, "total": 12},
                           "min_order_total": 0.0, "html_url": f"https://www.discogs.com/user/{seller}",
                           "uid": user.id, "url": f"/users/{seller}", "payment": "PayPal", "shipping": ""},
                "release": {"catalog_number": ", ".join(lab.get("catno", "") for lab in rel.get("labels") or []),
                            "resource_url": f"/releases/{rel['id']}", "year": rel.get("year") or 0, "id": rel["id"],
                            "description": f"{artist} - {rel.get('title', '')} ({fmt})", "artist": artist,
                            "title": rel.get("title", ""), "format": fmt, "thumbnail": rel.get("thumb", ""),
                            "stats": {"community": {"in_wantlist": (rel.get("community") or {}).get("want", 0),
                                                    "in_collection": (rel.get("community") or {}).get("have", 0)}}},
            }
            return lid

    def delete_release(self, *release_ids: int) -> None:
        """Make releases answer 404 as deleted (they stay in collections that hold them)."""
        with self._lock:
            self._deleted.update(int(r) for r in release_ids)

    def restore_release(self, *release_ids: int) -> None:
        """Undo ``delete_release``."""
        with self._lock:
            self._deleted.difference_update(int(r) for r in release_ids)

    def set_market(self, release_id: int, lowest_usd: float | None, num_for_sale: int, *, at: float | None = None,
                   blocked: bool = False) -> None:
        """From ``at`` (``market_clock()`` time; default: now) the marketplace of ``release_id`` holds
        ``num_for_sale`` copies, the cheapest at ``lowest_usd`` US dollars (converted for ``curr_abbr``);
        ``blocked``: Discogs bars the release from sale (nothing for sale, ``blocked_from_sale: true``). Calls
        build a timeline, so prices change as the tests move the clock; without one the figures are
        ``market_numbers``'s."""
        state = MarketState(self.market_clock() if at is None else float(at), lowest_usd,
                            0 if blocked else int(num_for_sale), blocked)
        with self._lock:
            line = self._market.setdefault(int(release_id), [])
            line.append(state)
            line.sort(key=lambda st: st.at)

    def market(self, release_id: int, currency: str = "USD") -> tuple[int, float | None, bool]:
        """``(num_for_sale, lowest price in currency, blocked)`` as ``/marketplace/stats`` answers them now."""
        with self._lock:
            line = self._market.get(int(release_id))
            now = self.market_clock()
            state = next((st for st in reversed(line or []) if st.at <= now), None)
        if state is None:
            num, price = market_numbers(release_id, currency)
            return num, price, False
        if state.blocked or state.lowest_usd is None or state.num_for_sale == 0:
            return state.num_for_sale if not state.blocked else 0, None, state.blocked
        rate = CURRENCY_RATES.get(currency.upper(), 1.0)
        value = round(state.lowest_usd * rate) if currency.upper() == "JPY" else round(state.lowest_usd * rate, 2)
        return state.num_for_sale, float(value), False

    @property
    def deleted_ids(self) -> frozenset[int]:
        """Release ids currently answering 404 as deleted."""
        with self._lock:
            return frozenset(self._deleted)

    def release_json(self, release_id: int, currency: str = "USD") -> dict[str, Any]:
        """What ``GET /releases/{id}`` answers (``KeyError`` when unknown or deleted)."""
        with self._lock:
            if release_id in self._deleted:
                raise KeyError(release_id)
        return self._release_body(release_id, currency)

    # ------------------------------------------------------------------ credentials
    def add_token(self, token: str, username: str, *, consumer_name: str = "Personal Access Token") -> None:
        """Register a personal access token for ``username`` (the user is created, empty, if unknown)."""
        with self._lock:
            if username not in self._users:
                self.add_user(username)
            self._tokens[token] = _Token(username=username, consumer_name=consumer_name)
            self._revoked.discard(token)

    def revoke_token(self, token: str) -> None:
        """Revoke a personal token or an OAuth access token: it then gets 401 everywhere."""
        with self._lock:
            self._revoked.add(token)

    def add_consumer(self, key: str, secret: str, name: str = "Crate Digger") -> None:
        """Register an application (consumer key and secret) for OAuth and ``Discogs key=, secret=`` auth."""
        with self._lock:
            self._consumers[key] = (secret, name)

    def add_oauth_token(self, token: str, secret: str, username: str, consumer_key: str) -> None:
        """Register an OAuth access token directly (skipping the three-legged dance)."""
        with self._lock:
            if consumer_key not in self._consumers:
                raise ValueError(f"consumer {consumer_key!r} is not registered")
            if username not in self._users:
                self.add_user(username)
            self._tokens[token] = _Token(username=username, consumer_name=self._consumers[consumer_key][1],
                                         secret=secret, consumer_key=consumer_key)
            self._revoked.discard(token)

    def authorize(self, request_token: str, username: str) -> str:
        """The user ``username`` approves a request token; returns the ``oauth_verifier``."""
        with self._lock:
            rt = self._request_tokens.get(request_token)
            if rt is None:
                raise KeyError(f"unknown request token {request_token!r}")
            if username not in self._users:
                raise KeyError(f"unknown user {username!r}")
            rt.verifier = secrets.token_hex(5)
            rt.username = username
            return rt.verifier

    def token_owner(self, token: str) -> str | None:
        """The username a (valid) token belongs to."""
        with self._lock:
            info = self._tokens.get(token)
            return None if info is None or token in self._revoked else info.username

    # ------------------------------------------------------------------ faults
    def fail(self, path_regex: str, status: int | None = 500, times: int | None = 1, delay: float = 0.0,
             body: Any = None, headers: dict[str, str] | None = None, *, method: str | None = None,
             drop: bool = False) -> Fault:
        """Make the next ``times`` requests whose path matches ``path_regex`` (``re.search`` on the path
        without the query string) fail with ``status``.

        ``delay`` seconds are waited before answering (``status=None``: a slow but normal answer, to trigger
        client read timeouts); ``body`` is a JSON-able object, or str/bytes sent as HTML (default: a
        Discogs-like body for the status, HTML for 502/504); ``headers`` are added; ``drop=True`` closes the
        connection without any answer. ``times=None`` keeps failing until ``clear_faults()``. Faults are
        checked in the order they were added, after rate limiting.
        """
        fault = Fault(re.compile(path_regex), status, times, float(delay), body, dict(headers or {}),
                      method.upper() if method else None, drop)
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_all_once(self, status: int | None = 500, **kwargs: Any) -> Fault:
        """The very next request, whatever its path, fails with ``status`` (see ``fail``)."""
        return self.fail(".*", status, times=1, **kwargs)

    def slow(self, path_regex: str, delay: float, *, times: int | None = 1) -> Fault:
        """The next ``times`` matching requests are answered normally, but only after ``delay`` seconds."""
        return self.fail(path_regex, None, times=times, delay=delay)

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    if fault.exhausted:
                        self._faults.remove(fault)
                    return fault
        return None

    # ------------------------------------------------------------------ rate limiting and log
    def configure_rate_limit(self, *, enabled: bool | None = None, window_seconds: float | None = None,
                             limit_authenticated: int | None = None, limit_anonymous: int | None = None) -> None:
        """Change rate limiting while running (the windows in progress are kept)."""
        with self._lock:
            if enabled is not None:
                self.rate_limit_enabled = enabled
            if window_seconds is not None:
                self.window_seconds = float(window_seconds)
            if limit_authenticated is not None:
                self.limit_authenticated = int(limit_authenticated)
            if limit_anonymous is not None:
                self.limit_anonymous = int(limit_anonymous)

    def reset_rate_limit(self) -> None:
        """Empty every rate-limit window and zero ``over_limit``."""
        with self._lock:
            self._windows.clear()
            self.over_limit = 0

    def _rate_check(self, key: str, authenticated: bool, now: float) -> tuple[bool, int, int, int]:
        """``(allowed, limit, used, remaining)`` for one request under ``key``; records it when allowed."""
        with self._lock:
            limit = self.limit_authenticated if authenticated else self.limit_anonymous
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - self.window_seconds:
                window.popleft()
            if self.rate_limit_enabled and len(window) >= limit:
                self.over_limit += 1
                return False, limit, len(window), 0
            window.append(now)
            return True, limit, len(window), max(0, limit - len(window))

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self.requests.clear()

    def count_requests(self, path_regex: str | None = None, *, status: int | None = None,
                       method: str | None = None) -> int:
        """How many logged requests match a path regex / status / method."""
        pattern = re.compile(path_regex) if path_regex else None
        with self._lock:
            return sum(1 for r in self.requests
                       if (pattern is None or pattern.search(r.path)) and (status is None or r.status == status)
                       and (method is None or r.method == method.upper()))

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    # ------------------------------------------------------------------ authentication
    def _authenticate(self, method: str, url: str, headers: Any, query: dict[str, str], body: bytes) -> _Auth:
        header = (headers.get("Authorization") or "").strip()
        token = query.get("token")
        if token is None and header[:8].lower() == "discogs ":
            fields = dict(_split_kv(header[8:]))
            if "token" in fields:
                token = fields["token"]
            elif "key" in fields:
                with self._lock:
                    consumer = self._consumers.get(fields["key"])
                if consumer is None or consumer[0] != fields.get("secret"):
                    return _Auth(credential=fields["key"], error=(401, MSG_INVALID_TOKEN))
                return _Auth("consumer", fields["key"], None, consumer[1])
        if token is not None:
            with self._lock:
                info = self._tokens.get(token)
                if info is None or token in self._revoked or info.username not in self._users:
                    return _Auth(credential=token, error=(401, MSG_INVALID_TOKEN))
                return _Auth("token", token, info.username, info.consumer_name)
        if header[:6].lower() == "oauth ":
            return self._oauth_auth(method, url, headers, body)
        return _Auth()

    def _oauth_params(self, headers: Any) -> dict[str, str]:
        from oauthlib.oauth1.rfc5849 import utils

        try:
            pairs = utils.parse_authorization_header(headers.get("Authorization"))
        except Exception:
            return {}
        try:
            return {k: utils.unescape(v) for k, v in pairs}
        except Exception:
            return {}

    def _signature_base(self, method: str, url: str, headers: Any, body: bytes) -> str:
        """The OAuth 1.0a signature base string of a request (RFC 5849 section 3.4.1)."""
        from oauthlib.oauth1.rfc5849 import signature

        parts = urlsplit(url)
        body_text = ""
        if body and "application/x-www-form-urlencoded" in (headers.get("Content-Type") or ""):
            body_text = body.decode("utf-8", "replace")
        collected = signature.collect_parameters(uri_query=parts.query, body=body_text or None,
                                                 headers={"Authorization": headers.get("Authorization")},
                                                 exclude_oauth_signature=True)
        normalized = signature.normalize_parameters(collected)
        base_uri = signature.base_string_uri(f"{parts.scheme}://{parts.netloc}{parts.path}")
        return signature.signature_base_string(method, base_uri, normalized)

    def _verify_signature(self, method: str, url: str, headers: Any, body: bytes, consumer_secret: str,
                          token_secret: str | None) -> str | None:
        """``None`` when the request's OAuth signature is right, else the error message Discogs gives."""
        if not self.verify_oauth_signatures:
            return None
        from oauthlib.oauth1.rfc5849 import signature, utils

        params = self._oauth_params(headers)
        sig_method = params.get("oauth_signature_method", "")
        given = params.get("oauth_signature", "")
        if sig_method == "PLAINTEXT":
            ok = signature.safe_string_equals(signature.sign_plaintext(consumer_secret, token_secret), given)
            return None if ok else "Invalid signature."
        if sig_method != "HMAC-SHA1":
            return f"Unsupported signature method: {sig_method or 'none'}."
        base = self._signature_base(method, url, headers, body)
        key = f"{utils.escape(consumer_secret or '')}&{utils.escape(token_secret or '')}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
        if signature.safe_string_equals(expected, given):
            return None
        return f"Invalid signature. Expected signature base string: {base}"

    def _oauth_auth(self, method: str, url: str, headers: Any, body: bytes) -> _Auth:
        params = self._oauth_params(headers)
        key, token = params.get("oauth_consumer_key"), params.get("oauth_token")
        with self._lock:
            consumer = self._consumers.get(key or "")
            info = self._tokens.get(token or "")
            revoked = token in self._revoked
        if consumer is None:
            return _Auth(credential=token or key, error=(401, MSG_INVALID_TOKEN))
        if not token:
            return _Auth("consumer", key, None, consumer[1])
        if info is None or revoked or info.secret is None or info.consumer_key != key:
            return _Auth(credential=token, error=(401, MSG_INVALID_TOKEN))
        problem = self._verify_signature(method, url, headers, body, consumer[0], info.secret)
        if problem:
            return _Auth(credential=token, error=(401, problem))
        return _Auth("oauth", token, info.username, consumer[1])

    # ------------------------------------------------------------------ request handling
    def _serve(self, handler: "_Handler") -> None:
        """Answer one request (called on the handler's thread)."""
        arrived = time.monotonic()
        parts = urlsplit(handler.path)
        path = unquote(parts.path) or "/"
        query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = {k: v for k, v in query_pairs}
        method = handler.command.upper()
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        host = handler.headers.get("Host") or f"{LOOPBACK}:{self.port}"
        full_url = f"http://{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        logged_query = {k: v for k, v in query.items() if k != "token"}

        if path.startswith("/image/"):
            resp = _Response(200, _GIF, "image/gif")
            self._log(RequestRecord(arrived, method, path, logged_query, None, 200))
            handler.send(resp)
            return

        auth = self._authenticate(method, full_url, handler.headers, query, body)
        if path in ("/oauth/request_token", "/oauth/access_token", "/oauth/authorize"):
            auth_for_limit = _Auth()  # the token endpoints are anonymous by nature
            credential = self._oauth_params(handler.headers).get("oauth_consumer_key")
        else:
            auth_for_limit = auth
            credential = auth.credential
        valid = auth_for_limit.error is None and auth_for_limit.kind != "anonymous"
        key = f"{auth_for_limit.kind}:{auth_for_limit.credential}" if valid else f"ip:{handler.client_address[0]}"
        allowed, limit, used, remaining = self._rate_check(key, valid, arrived)
        rl_headers = {"X-Discogs-Ratelimit": str(limit), "X-Discogs-Ratelimit-Used": str(used),
                      "X-Discogs-Ratelimit-Remaining": str(remaining)}

        resp: _Response | None = None
        if not allowed:
            resp = _json_response(429, {"message": MSG_TOO_MANY})
        else:
            fault = self._take_fault(method, path)
            if fault is not None:
                if fault.delay > 0:
                    self._stopping.wait(fault.delay)
                if fault.drop:
                    handler.close_connection = True
                    self._log(RequestRecord(arrived, method, path, logged_query, credential, 0))
                    return
                if fault.status is not None:
                    resp = self._fault_response(fault)
            if resp is None:
                try:
                    resp = self._route(method, path, query, auth, full_url, handler.headers, body)
                except _HTTPError as exc:
                    resp = _json_response(exc.status, {"message": exc.message})
                except Exception:  # pragma: no cover - a bug in the fake itself
                    log.exception("fake Discogs failed on %s %s", method, handler.path)
                    resp = _json_response(500, {"message": "An internal server error occurred."})
        for k, v in rl_headers.items():
            resp.headers.setdefault(k, v)
        # logged *before* the answer goes out: once a client has its response, the request is in the log
        # (logging after sending raced with a test that counts requests right after the call returned)
        self._log(RequestRecord(arrived, method, path, logged_query, credential, resp.status))
        handler.send(resp)

    def _fault_response(self, fault: Fault) -> _Response:
        status = int(fault.status or 500)
        body = (fault.body if fault.body is not None
                else DEFAULT_FAULT_BODIES.get(status, {"message": f"Error {status}"}))
        if isinstance(body, (bytes, str)):
            raw = body.encode("utf-8") if isinstance(body, str) else body
            resp = _Response(status, raw, "text/html; charset=utf-8")
        else:
            resp = _json_response(status, body)
        resp.headers.update(fault.headers)
        return resp

    def _route(self, method: str, path: str, query: dict[str, str], auth: _Auth, url: str, headers: Any,
               body: bytes) -> _Response:
        for methods, pattern, fn in _ROUTES:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if method not in methods:
                raise _HTTPError(405, "Method not allowed.")
            if auth.error is not None and not fn.__name__.startswith("_oauth_"):
                raise _HTTPError(*auth.error)
            return fn(self, m, query, auth, url=url, headers=headers, body=body, method=method)
        raise _HTTPError(404, MSG_NOT_FOUND)

    # ------------------------------------------------------------------ bodies
    def _ok(self, obj: Any, status: int = 200) -> _Response:
        return _json_response(status, absolutize(obj, self.base_url))

    def _release_body(self, rid: int, currency: str = "USD") -> dict[str, Any]:
        rel = self.data.releases.get(rid)
        if rel is None:
            raise KeyError(rid)
        out = absolutize(rel, self.base_url)
        num, price = market_numbers(rid, currency)
        out["num_for_sale"] = num
        out["lowest_price"] = price
        return out

    def _page(self, items: list[Any], query: dict[str, str], path: str) -> tuple[list[Any], dict[str, Any]]:
        per_page = min(100, max(1, _int_param(query, "per_page", 50)))
        page = max(1, _int_param(query, "page", 1))
        total = len(items)
        pages = max(1, -(-total // per_page))
        if page > pages:
            raise _HTTPError(404, f"Page {page} of {pages} requested.")
        keep = [(k, v) for k, v in query.items() if k not in ("token", "page", "per_page")]

        def link(p: int) -> str:
            return f"{self.base_url}{path}?" + urlencode(keep + [("page", p), ("per_page", per_page)])

        urls: dict[str, str] = {}
        if page > 1:
            urls["first"] = link(1)
            urls["prev"] = link(page - 1)
        if page < pages:
            urls["next"] = link(page + 1)
            urls["last"] = link(pages)
        pagination = {"page": page, "pages": pages, "per_page": per_page, "items": total, "urls": urls}
        return items[(page - 1) * per_page: page * per_page], pagination

    def _user_or_404(self, username: str) -> FakeUser:
        with self._lock:
            user = self._users.get(username)
        if user is None:
            raise _HTTPError(404, MSG_NO_USER)
        return user

    def _sorted_entries(self, entries: list[CollectionEntry], query: dict[str, str]) -> list[CollectionEntry]:
        key_name = query.get("sort", "added")
        releases = self.data.releases

        def rel(e: CollectionEntry) -> dict[str, Any]:
            return releases.get(e.release_id, {})

        keys: dict[str, Callable[[CollectionEntry], Any]] = {
            "added": lambda e: (e.date_added, e.instance_id),
            "id": lambda e: (e.release_id, e.instance_id),
            "artist": lambda e: (norm(rel(e).get("artists_sort", "")), e.instance_id),
            "title": lambda e: (norm(rel(e).get("title", "")), e.instance_id),
            "year": lambda e: (rel(e).get("year") or 0, e.instance_id),
            "rating": lambda e: (e.rating, e.instance_id),
            "label": lambda e: (norm((rel(e).get("labels") or [{}])[0].get("name", "")), e.instance_id),
            "catno": lambda e: (norm((rel(e).get("labels") or [{}])[0].get("catno", "")), e.instance_id),
            "format": lambda e: (norm((rel(e).get("formats") or [{}])[0].get("name", "")), e.instance_id),
        }
        key = keys.get(key_name, keys["added"])
        return sorted(entries, key=key, reverse=query.get("sort_order", "asc").lower() == "desc")


def _split_kv(text: str) -> Iterable[tuple[str, str]]:
    """``key=value`` pairs of a ``Discogs key=..., secret=...`` / ``Discogs token=...`` header."""
    for part in re.split(r"[,\s]+", text.strip()):
        if "=" in part:
            k, v = part.split("=", 1)
            yield k.strip(), v.strip().strip('"')


# ---------------------------------------------------------------------- route handlers
_RouteFn = Callable[..., _Response]


def _get_release(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /releases/{id}: the release object (404 when unknown or deleted); ``curr_abbr`` prices it."""
    rid = int(m.group(1))
    with srv._lock:
        deleted = rid in srv._deleted
    if deleted or rid not in srv.data.releases:
        raise _HTTPError(404, "Release not found.")
    return _json_response(200, srv._release_body(rid, query.get("curr_abbr", "USD")))


def _get_master(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /masters/{id}: the master object (404 when unknown)."""
    mid = int(m.group(1))
    master = srv.data.masters.get(mid)
    if master is None:
        raise _HTTPError(404, "Master Release not found.")
    out = absolutize(master, srv.base_url)
    num, price = market_numbers(mid, query.get("curr_abbr", "USD"), kind="master")
    out.setdefault("num_for_sale", num)
    out.setdefault("lowest_price", price)
    return _json_response(200, out)


def _get_versions(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /masters/{id}/versions: the master's releases, paginated."""
    mid = int(m.group(1))
    if mid not in srv.data.masters:
        raise _HTTPError(404, "Master Release not found.")
    if mid in srv.data.versions_fixture:
        entries = list(srv.data.versions_fixture[mid]["versions"])
    else:
        with srv._lock:
            deleted = set(srv._deleted)
        entries = [version_entry(srv.data.releases[r]) for r in srv.data.versions.get(mid, []) if r not in deleted]
    page, pagination = srv._page(entries, query, f"/masters/{mid}/versions")
    return srv._ok({"pagination": pagination, "versions": page})


def _get_artist(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /artists/{id}: the bundled fixture artists only."""
    obj = srv.data.artists.get(int(m.group(1)))
    if obj is None:
        raise _HTTPError(404, "Artist not found.")
    return srv._ok(obj)


def _get_label(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /labels/{id}: the bundled fixture labels only."""
    obj = srv.data.labels.get(int(m.group(1)))
    if obj is None:
        raise _HTTPError(404, "Label not found.")
    return srv._ok(obj)


def _search(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /database/search: releases (and masters) matching the query, paginated; needs authentication."""
    if auth.kind == "anonymous":
        raise _HTTPError(401, MSG_NOT_AUTHENTICATED)
    kind = (query.get("type") or "").lower()
    barcode = digits_only(query["barcode"]) if "barcode" in query else None
    terms = norm(query.get("q", "")).split()
    filters = {k: norm(query[k]) for k in ("artist", "release_title", "label", "catno", "country", "genre", "style",
                                           "format") if query.get(k)}
    title_q = norm(query.get("title", "")).split()
    year = (query.get("year") or "").strip()
    with srv._lock:
        deleted = set(srv._deleted)
        user = srv._users.get(auth.username or "")
        owned = set(user.collection_ids) if user else set()
        wanted = set(user.want_ids) if user else set()
    docs = srv.data.search_docs
    hits = []
    if kind in ("", "release"):
        for doc in docs.values():
            if doc.id in deleted:
                continue
            if barcode is not None and (not barcode or barcode not in doc.barcodes):
                continue
            if terms and not all(t in doc.text for t in terms):
                continue
            if title_q and not all(t in f"{doc.artist} {doc.title}" for t in title_q):
                continue
            if year and doc.year != year:
                continue
            if filters and not _doc_filters(doc, filters):
                continue
            hits.append(doc)
    hits.sort(key=lambda d: (-d.popularity, d.id))
    results: list[dict[str, Any]] = [search_result(srv.data.releases[d.id], in_collection=d.id in owned,
                                                   in_wantlist=d.id in wanted) for d in hits]
    if kind in ("", "master") and barcode is None:
        for mid, text in srv.data.master_search_texts.items():
            master = srv.data.masters[mid]
            if terms and not all(t in text for t in terms):
                continue
            if title_q and not all(t in text for t in title_q):
                continue
            if not terms and not title_q and not year and not filters:
                continue
            if year and str(master.get("year") or "") != year:
                continue
            if filters and not set(filters) <= {"genre", "style"}:
                continue
            if "genre" in filters and filters["genre"] not in {norm(g) for g in master.get("genres") or []}:
                continue
            if "style" in filters and filters["style"] not in {norm(s) for s in master.get("styles") or []}:
                continue
            results.append(master_search_result(master, srv.data.releases.get(master.get("main_release") or 0)))
    page, pagination = srv._page(results, query, "/database/search")
    return srv._ok({"pagination": pagination, "results": page})


def _doc_filters(doc: Any, filters: dict[str, str]) -> bool:
    """Whether a release search document passes the field filters (artist, label, genre...)."""
    for k, v in filters.items():
        if k == "artist" and v not in doc.artist:
            return False
        if k == "release_title" and v not in doc.title:
            return False
        if k == "label" and v not in doc.labels:
            return False
        if k == "catno" and v.replace(" ", "") not in doc.catnos.replace(" ", ""):
            return False
        if k == "country" and v != doc.country:
            return False
        if k == "genre" and v not in doc.genres:
            return False
        if k == "style" and v not in doc.styles:
            return False
        if k == "format" and v not in doc.formats:
            return False
    return True


def _is_owner(auth: _Auth, user: FakeUser) -> bool:
    """Whether the request is authenticated as ``user``."""
    return auth.username is not None and auth.username == user.username


def _get_user(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /users/{username}: the public profile (counts hidden when private; email for the owner)."""
    user = srv._user_or_404(m.group(1))
    owner = _is_owner(auth, user)
    u = user.username
    obj: dict[str, Any] = {
        "id": user.id, "username": u, "resource_url": f"/users/{u}", "uri": f"https://www.discogs.com/user/{u}",
        "name": user.name, "home_page": "", "location": "", "profile": "", "registered": _iso(user.registered),
        "rank": 0.0, "num_pending": 0, "num_for_sale": 0, "num_lists": 0, "releases_contributed": 0,
        "releases_rated": sum(1 for e in user.collection if e.rating), "rating_avg": 0.0,
        "inventory_url": f"/users/{u}/inventory", "collection_folders_url": f"/users/{u}/collection/folders",
        "collection_fields_url": f"/users/{u}/collection/fields", "wantlist_url": f"/users/{u}/wants",
        "avatar_url": f"/image/A-{user.id}.jpeg", "curr_abbr": user.currency, "activated": True,
        "marketplace_suspended": False, "banner_url": "", "buyer_rating": 0.0, "buyer_rating_stars": 0,
        "buyer_num_ratings": 0, "seller_rating": 0.0, "seller_rating_stars": 0, "seller_num_ratings": 0,
        "is_staff": False,
    }
    if owner or not user.private:
        obj["num_collection"] = len(user.collection)
    if owner or not user.private_wantlist:
        obj["num_wantlist"] = len(user.wants)
    if owner:
        obj["email"] = f"{u}@example.invalid"
    return srv._ok(obj)


def _get_folders(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /users/{username}/collection/folders: "All" for everyone, "Uncategorized" too for the owner."""
    user = srv._user_or_404(m.group(1))
    owner = _is_owner(auth, user)
    if user.private and not owner:
        raise _HTTPError(403, MSG_FORBIDDEN)
    u, n = user.username, len(user.collection)
    folders = [{"id": 0, "name": "All", "count": n, "resource_url": f"/users/{u}/collection/folders/0"}]
    if owner:
        folders.append({"id": 1, "name": "Uncategorized", "count": sum(1 for e in user.collection if e.folder_id == 1),
                        "resource_url": f"/users/{u}/collection/folders/1"})
    return srv._ok({"folders": folders})


def _entry_json(srv: FakeDiscogsServer, e: CollectionEntry, owner: bool) -> dict[str, Any]:
    """One ``releases`` entry of a collection folder page."""
    rel = srv.data.releases[e.release_id]
    out: dict[str, Any] = {"id": e.release_id, "instance_id": e.instance_id, "date_added": _iso(e.date_added),
                           "rating": e.rating, "folder_id": e.folder_id, "basic_information": basic_information(rel)}
    if owner and e.notes:
        out["notes"] = [{"field_id": 3, "value": e.notes}]
    return out


def _get_folder_releases(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth,
                         **_: Any) -> _Response:
    """GET /users/{username}/collection/folders/{folder}/releases: a sorted collection page."""
    user = srv._user_or_404(m.group(1))
    folder = int(m.group(2))
    owner = _is_owner(auth, user)
    if (user.private or folder != 0) and not owner:
        raise _HTTPError(403, MSG_FORBIDDEN)
    if folder not in (0, 1):
        raise _HTTPError(404, "Folder not found.")
    with srv._lock:
        entries = [e for e in user.collection if folder == 0 or e.folder_id == folder]
    entries = srv._sorted_entries(entries, query)
    page, pagination = srv._page(entries, query, f"/users/{user.username}/collection/folders/{folder}/releases")
    return srv._ok({"pagination": pagination, "releases": [_entry_json(srv, e, owner) for e in page]})


def _want_json(srv: FakeDiscogsServer, user: FakeUser, e: CollectionEntry) -> dict[str, Any]:
    """One ``wants`` entry of a wantlist page."""
    rel = srv.data.releases[e.release_id]
    return {"id": e.release_id, "resource_url": f"/users/{user.username}/wants/{e.release_id}", "rating": e.rating,
            "date_added": _iso(e.date_added), "notes": e.notes, "basic_information": basic_information(rel)}


def _get_wants(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /users/{username}/wants: a sorted wantlist page."""
    user = srv._user_or_404(m.group(1))
    if user.private_wantlist and not _is_owner(auth, user):
        raise _HTTPError(403, MSG_FORBIDDEN)
    with srv._lock:
        entries = list(user.wants)
    entries = srv._sorted_entries(entries, query)
    page, pagination = srv._page(entries, query, f"/users/{user.username}/wants")
    return srv._ok({"pagination": pagination, "wants": [_want_json(srv, user, e) for e in page]})


def _owner_or_403(srv: FakeDiscogsServer, username: str, auth: _Auth) -> FakeUser:
    """The user, when the request is authenticated as them; 401/403/404 otherwise."""
    user = srv._user_or_404(username)
    if auth.kind == "anonymous":
        raise _HTTPError(401, MSG_NOT_AUTHENTICATED)
    if not _is_owner(auth, user):
        raise _HTTPError(403, MSG_FORBIDDEN)
    return user


def _edit_want(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, *, method: str,
               **_: Any) -> _Response:
    """GET/PUT/POST/DELETE /users/{username}/wants/{release_id} (owner only)."""
    user = _owner_or_403(srv, m.group(1), auth)
    rid = int(m.group(2))
    if rid not in srv.data.releases:
        raise _HTTPError(404, "Release not found.")
    with srv._lock:
        existing = [e for e in user.wants if e.release_id == rid]
        if method == "DELETE":
            if not existing:
                raise _HTTPError(404, MSG_NOT_FOUND)
            user.wants = [e for e in user.wants if e.release_id != rid]
            return _Response(204, b"")
        if method == "GET":
            if not existing:
                raise _HTTPError(404, MSG_NOT_FOUND)
            return srv._ok(_want_json(srv, user, existing[0]))
        if existing:
            entry = existing[0]
        else:
            entry = CollectionEntry(rid, 0, datetime.now(timezone.utc))
            user.wants.append(entry)
        notes = query.get("notes")
        if notes is not None:
            entry.notes = notes
        if query.get("rating", "").isdigit():
            entry.rating = int(query["rating"])
        return srv._ok(_want_json(srv, user, entry), 201)


def _add_to_folder(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """POST /users/{username}/collection/folders/{folder}/releases/{release_id} (owner only)."""
    user = _owner_or_403(srv, m.group(1), auth)
    folder, rid = int(m.group(2)), int(m.group(3))
    if folder == 0:
        raise _HTTPError(400, "Cannot add to the 'All' folder.")
    if folder != 1:
        raise _HTTPError(404, "Folder not found.")
    if rid not in srv.data.releases:
        raise _HTTPError(404, "Release not found.")
    with srv._lock:
        last = max((e.date_added for e in user.collection), default=datetime.now(timezone.utc))
        entry = CollectionEntry(rid, next(srv._instance_ids),
                                max(last + timedelta(seconds=1), datetime.now(timezone.utc)),
                                folder_id=folder)
        user.collection.append(entry)
    return srv._ok({"instance_id": entry.instance_id,
                    "resource_url": f"/users/{user.username}/collection/folders/{folder}/releases/{rid}/instances/"
                                    f"{entry.instance_id}"}, 201)


def _delete_instance(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth,
                     **_: Any) -> _Response:
    """DELETE .../collection/folders/{folder}/releases/{release_id}/instances/{instance_id}."""
    user = _owner_or_403(srv, m.group(1), auth)
    rid, iid = int(m.group(3)), int(m.group(4))
    with srv._lock:
        before = len(user.collection)
        user.collection = [e for e in user.collection if not (e.release_id == rid and e.instance_id == iid)]
        if len(user.collection) == before:
            raise _HTTPError(404, MSG_NOT_FOUND)
    return _Response(204, b"")


def _market_stats(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /marketplace/stats/{release_id}: deterministic figures in ``curr_abbr`` (default USD)."""
    rid = int(m.group(1))
    with srv._lock:
        deleted = rid in srv._deleted
    if deleted or rid not in srv.data.releases:
        raise _HTTPError(404, "Release not found.")
    currency = (query.get("curr_abbr") or "USD").upper()
    if currency not in CURRENCY_RATES:
        raise _HTTPError(422, f"Invalid currency: {currency}")
    num, price, blocked = srv.market(rid, currency)
    return srv._ok({"lowest_price": None if price is None else {"currency": currency, "value": price},
                    "num_for_sale": num, "blocked_from_sale": blocked})


#: the conditions ``/marketplace/price_suggestions`` prices, best first, and what each fetches of a Mint copy
SUGGESTION_GRADES = (("Mint (M)", 1.0), ("Near Mint (NM or M-)", 0.9), ("Very Good Plus (VG+)", 0.7),
                     ("Very Good (VG)", 0.5), ("Good Plus (G+)", 0.35), ("Good (G)", 0.25), ("Fair (F)", 0.15),
                     ("Poor (P)", 0.1))


def _price_suggestions(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth,
                       **_: Any) -> _Response:
    """GET /marketplace/price_suggestions/{release_id}: a suggested price per condition, in the currency of the
    authenticated user's profile; needs a user's token (401 otherwise), 404 for an unknown or deleted release."""
    if auth.username is None:
        raise _HTTPError(401, MSG_NOT_AUTHENTICATED)
    rid = int(m.group(1))
    with srv._lock:
        deleted = rid in srv._deleted
    if deleted or rid not in srv.data.releases:
        raise _HTTPError(404, "Release not found.")
    currency = srv._user_or_404(auth.username).currency
    _, usd = market_numbers(rid, "USD")
    mint = (usd or 20.0) * 1.6
    rate = CURRENCY_RATES.get(currency.upper(), 1.0)
    return srv._ok({grade: {"currency": currency, "value": round(mint * f * rate, 6)}
                    for grade, f in SUGGESTION_GRADES})


def _get_listing(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /marketplace/listings/{id}: a listing added with ``add_listing`` (or the fixture's 150899904)."""
    with srv._lock:
        listing = srv._listings.get(int(m.group(1)))
    if listing is None:
        raise _HTTPError(404, "Listing not found.")
    return srv._ok(listing)


def _get_inventory(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /users/{username}/inventory: the user's listings, paginated."""
    user = srv._user_or_404(m.group(1))
    with srv._lock:
        listings = [v for v in srv._listings.values() if v["seller"]["username"] == user.username]
    page, pagination = srv._page(listings, query, f"/users/{user.username}/inventory")
    return srv._ok({"pagination": pagination, "listings": page})


def _identity(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, **_: Any) -> _Response:
    """GET /oauth/identity: who the token (personal or OAuth) belongs to."""
    if auth.username is None:
        raise _HTTPError(401, MSG_NOT_AUTHENTICATED)
    user = srv._user_or_404(auth.username)
    return srv._ok({"id": user.id, "username": user.username, "resource_url": f"/users/{user.username}",
                    "consumer_name": auth.consumer_name or ""})


def _form(status: int, pairs: dict[str, str]) -> _Response:
    """A form-encoded response, as the OAuth token endpoints answer."""
    return _Response(status, urlencode(pairs).encode(), "application/x-www-form-urlencoded")


def _oauth_request_token(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, *, url: str,
                         headers: Any, body: bytes, method: str, **_: Any) -> _Response:
    """GET|POST /oauth/request_token: a request token for a registered, correctly signing consumer."""
    params = srv._oauth_params(headers)
    key = params.get("oauth_consumer_key", "")
    with srv._lock:
        consumer = srv._consumers.get(key)
    if consumer is None:
        raise _HTTPError(401, MSG_INVALID_TOKEN)
    problem = srv._verify_signature(method, url, headers, body, consumer[0], None)
    if problem:
        raise _HTTPError(401, problem)
    token, secret = secrets.token_hex(20), secrets.token_hex(20)
    with srv._lock:
        srv._request_tokens[token] = _RequestToken(key, secret, params.get("oauth_callback"))
    return _form(200, {"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"})


def _oauth_access_token(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth, *, url: str,
                        headers: Any, body: bytes, method: str, **_: Any) -> _Response:
    """GET|POST /oauth/access_token: trade an authorized request token and its verifier for an access token."""
    params = srv._oauth_params(headers)
    key, token = params.get("oauth_consumer_key", ""), params.get("oauth_token", "")
    with srv._lock:
        consumer = srv._consumers.get(key)
        rt = srv._request_tokens.get(token)
    if consumer is None:
        raise _HTTPError(401, MSG_INVALID_TOKEN)
    if rt is None or rt.consumer_key != key:
        raise _HTTPError(401, "Invalid request token.")
    problem = srv._verify_signature(method, url, headers, body, consumer[0], rt.secret)
    if problem:
        raise _HTTPError(401, problem)
    if rt.verifier is None or params.get("oauth_verifier") != rt.verifier or rt.username is None:
        raise _HTTPError(401, "Invalid OAuth verifier.")
    access, secret = secrets.token_hex(20), secrets.token_hex(20)
    with srv._lock:
        srv._request_tokens.pop(token, None)
        srv._tokens[access] = _Token(username=rt.username, consumer_name=consumer[1], secret=secret, consumer_key=key)
    return _form(200, {"oauth_token": access, "oauth_token_secret": secret})


def _oauth_authorize(srv: FakeDiscogsServer, m: re.Match[str], query: dict[str, str], auth: _Auth,
                     **_: Any) -> _Response:
    """GET /oauth/authorize: the user approves (``username`` query parameter, fake-only); shows or redirects
    the verifier."""
    token, username = query.get("oauth_token", ""), query.get("username", "")
    with srv._lock:
        rt = srv._request_tokens.get(token)
        if not username and len(srv._users) == 1:
            username = next(iter(srv._users))
    if rt is None:
        raise _HTTPError(404, "Invalid request token.")
    try:
        verifier = srv.authorize(token, username)
    except KeyError:
        raise _HTTPError(400, "Pass ?username= (a registered user) to authorize the request token.") from None
    if rt.callback and rt.callback != "oob":
        sep = "&" if "?" in rt.callback else "?"
        return _Response(302, b"", "text/plain",
                         {"Location": f"{rt.callback}{sep}"
                                      + urlencode({"oauth_token": token, "oauth_verifier": verifier})})
    html = f"<html><body><p>Your verification code is</p><pre id=\"verifier\">{verifier}</pre></body></html>"
    return _Response(200, html.encode(), "text/html; charset=utf-8")


_GET = frozenset({"GET"})
_ROUTES: list[tuple[frozenset[str], re.Pattern[str], _RouteFn]] = [
    (_GET, re.compile(r"/releases/(\d+)"), _get_release),
    (_GET, re.compile(r"/masters/(\d+)"), _get_master),
    (_GET, re.compile(r"/masters/(\d+)/versions"), _get_versions),
    (_GET, re.compile(r"/artists/(\d+)"), _get_artist),
    (_GET, re.compile(r"/labels/(\d+)"), _get_label),
    (_GET, re.compile(r"/database/search"), _search),
    (_GET, re.compile(r"/users/([^/]+)"), _get_user),
    (_GET, re.compile(r"/users/([^/]+)/collection/folders"), _get_folders),
    (_GET, re.compile(r"/users/([^/]+)/collection/folders/(\d+)/releases"), _get_folder_releases),
    (frozenset({"POST"}), re.compile(r"/users/([^/]+)/collection/folders/(\d+)/releases/(\d+)"), _add_to_folder),
    (frozenset({"DELETE"}), re.compile(r"/users/([^/]+)/collection/folders/(\d+)/releases/(\d+)/instances/(\d+)"),
     _delete_instance),
    (_GET, re.compile(r"/users/([^/]+)/wants"), _get_wants),
    (frozenset({"GET", "PUT", "POST", "DELETE"}), re.compile(r"/users/([^/]+)/wants/(\d+)"), _edit_want),
    (_GET, re.compile(r"/marketplace/stats/(\d+)"), _market_stats),
    (_GET, re.compile(r"/marketplace/price_suggestions/(\d+)"), _price_suggestions),
    (_GET, re.compile(r"/marketplace/listings/(\d+)"), _get_listing),
    (_GET, re.compile(r"/users/([^/]+)/inventory"), _get_inventory),
    (_GET, re.compile(r"/oauth/identity"), _identity),
    (frozenset({"GET", "POST"}), re.compile(r"/oauth/request_token"), _oauth_request_token),
    (frozenset({"GET", "POST"}), re.compile(r"/oauth/access_token"), _oauth_access_token),
    (_GET, re.compile(r"/oauth/authorize"), _oauth_authorize),
]


# ---------------------------------------------------------------------- HTTP plumbing
class _HTTPServer(ThreadingHTTPServer):
    """Loopback-only threading server; never waits on idle keep-alive connections when closing."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the default 5 drops SYNs under concurrent clients (1 s retransmit stalls)
    allow_reuse_address = True
    fake: FakeDiscogsServer

    def server_bind(self) -> None:
        if self.server_address[0] != LOOPBACK:
            raise ValueError("the fake Discogs server only binds 127.0.0.1")
        super().server_bind()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("fake Discogs: connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    server_version = "FakeDiscogs/1.0"
    sys_version = ""
    timeout = 30
    server: _HTTPServer

    def _dispatch(self) -> None:
        try:
            self.server.fake._serve(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def send(self, resp: _Response) -> None:
        """Write a full response (status, headers, body)."""
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("X-Discogs-Media-Type", "discogs.v2")
        self.send_header("Access-Control-Allow-Origin", "*")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)
        self.wfile.flush()

    def version_string(self) -> str:
        """The ``Server`` header."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("fake Discogs: " + format, *args)
