"""The one gateway to the live Discogs API, over python3-discogs-client.

* The client's own unbounded backoff (2^i s, 100 times) is turned off. Our :class:`LimitedFetcher` wraps the
  client's fetcher: every request first takes a slot from the token's shared :class:`RateLimiter`, the
  ``X-Discogs-Ratelimit*`` headers of every response re-align the limiter, and 429, 5xx and timeouts are
  retried a few times with capped, jittered backoff before a clear error is raised.
* Per-call timeouts, a configurable base URL (``DISCOGS_API_BASE_URL``) and a proper User-Agent.
* The client is synchronous: adapters call the gateway from a worker thread, never on the event loop.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

import discogs_client
import requests
from discogs_client.exceptions import HTTPError

from core.config import DiscogsConfig, get_config, section
from core.discogs.barcodes import normalise_barcode, same_barcode, search_forms
from core.discogs.ratelimit import RateLimiter, limiter_for
from core.domain.refs import DiscogsRef
from core.domain.release import Release
from core.ingest.readers.api_json import release_from_api

log = logging.getLogger(__name__)

ATTRIBUTION = "Data provided by Discogs."


# -- errors, each with a message fit for a chat reply -------------------------------------------------------
class DiscogsError(Exception):
    user_message = "Discogs didn't answer as expected — please try again in a moment."

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message:
            self.user_message = user_message


class NotFound(DiscogsError):
    user_message = "Discogs has no such release (it may have been deleted or merged)."


class UserNotFound(DiscogsError):
    user_message = "There's no Discogs user by that name — check the spelling of the username."


class PrivateCollection(DiscogsError):
    user_message = ("That collection is private. Link with a personal access token (Discogs → Settings → "
                    "Developers) so I can read it.")


class AuthFailed(DiscogsError):
    user_message = ("Discogs refused the token — it may have been revoked. Link again with a new token, or "
                    "by username for a public collection.")


class RateLimited(DiscogsError):
    user_message = "Discogs is asking me to slow down. I'll get there — please try again in a minute."


class Unavailable(DiscogsError):
    user_message = "Discogs seems to be down or unreachable right now. Please try again later."


@dataclass
class RetryPolicy:
    attempts: int = 4
    base: float = 1.0
    cap: float = 20.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter, capped: uniform(0, min(cap, base·2^attempt)), at least a tenth of it."""
        top = min(self.cap, self.base * (2 ** attempt))
        return max(top * 0.1, rng.uniform(0, top))


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


class LimitedFetcher:
    """Wraps a discogs_client fetcher with the shared limiter and our retry policy."""

    def __init__(self, inner: Any, limiter: RateLimiter, policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None) -> None:
        self.inner = inner
        self.inner.backoff_enabled = False
        self.limiter = limiter
        self.policy = policy
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.retries = 0

    # the client reads/writes these on its fetcher
    @property
    def backoff_enabled(self) -> bool:
        return False

    @backoff_enabled.setter
    def backoff_enabled(self, value: bool) -> None:  # never re-enabled
        self.inner.backoff_enabled = False

    def __getattr__(self, name: str) -> Any:   # connect_timeout, read_timeout, store_token, ...
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("connect_timeout", "read_timeout"):
            setattr(self.inner, name, value)
        else:
            super().__setattr__(name, value)

    def fetch(self, client: Any, method: str, url: str, data: Any = None, headers: Any = None, **kw: Any):
        last_status: int | None = None
        for attempt in range(self.policy.attempts):
            slot = self.limiter.acquire()
            sent_at = slot[0]
            try:
                content, status = self.inner.fetch(client, method, url, data=data, headers=headers, **kw)
            except (requests.Timeout, requests.ConnectionError) as exc:
                self.limiter.settle(slot)
                log.info("Discogs %s %s: %s (attempt %d)", method, _path(url), type(exc).__name__, attempt + 1)
                # a refused connection (host down, no network) is retried once; timeouts get every attempt
                limit = self.policy.attempts if isinstance(exc, requests.Timeout) else min(2, self.policy.attempts)
                if attempt + 1 >= limit:
                    raise Unavailable(f"{type(exc).__name__} after {attempt + 1} attempts") from exc
                self.retries += 1
                self.sleep(self.policy.delay(attempt, self.rng))
                continue
            self.limiter.settle(slot)
            self.limiter.update(_int(getattr(self.inner, "rate_limit", None)),
                                _int(getattr(self.inner, "rate_limit_used", None)),
                                _int(getattr(self.inner, "rate_limit_remaining", None)), sent_at=sent_at)
            last_status = status
            if status == 429 or status >= 500:
                log.info("Discogs %s %s: HTTP %d (attempt %d)", method, _path(url), status, attempt + 1)
                if attempt + 1 >= self.policy.attempts:
                    break
                self.retries += 1
                wait = self.policy.delay(attempt, self.rng)
                if status == 429:
                    self.limiter.block_for(wait)
                else:
                    self.sleep(wait)
                continue
            return content, status
        if last_status == 429:
            raise RateLimited(f"HTTP 429 after {self.policy.attempts} attempts")
        raise Unavailable(f"HTTP {last_status} after {self.policy.attempts} attempts")


def _path(url: str) -> str:
    """The URL without its query string (which may hold a token): safe to log."""
    return url.split("?", 1)[0]


@dataclass
class Candidate:
    """One pressing that carries a barcode, with what tells it apart from the others."""

    release_id: int
    title: str
    year: int | None
    country: str | None
    formats: list[str]
    catno: str | None
    labels: list[str]
    have: int | None
    want: int | None
    exact: bool

    def describe(self) -> str:
        bits = [str(b) for b in (self.year, self.country, ", ".join(self.formats[:3]) or None,
                                 self.catno) if b]
        return f"{self.title} — " + " · ".join(bits) if bits else self.title


#: slots of the rate-limit window a price never takes: the collector's own look-ups keep them
PRICE_KEEPS = 5


@dataclass(frozen=True)
class MarketStats:
    """What ``GET /marketplace/stats/{id}`` says of a release's marketplace now."""

    lowest: float | None      # the cheapest copy for sale, in ``currency`` (None: none for sale)
    currency: str
    num_for_sale: int
    blocked: bool             # Discogs bars the release from sale


class PriceLater(Exception):
    """A price that would have to wait for the rate limit (asked with ``wait=False``)."""


@dataclass
class _Cached:
    value: Any
    at: float


@dataclass
class DiscogsGateway:
    """Everything the product asks of Discogs. Create one per token (or one anonymous) and share it."""

    token: str | None = None
    oauth: tuple[str, str, str, str] | None = None   # consumer key, consumer secret, token, secret
    base_url: str | None = None
    cfg: Mapping[str, Any] | None = None
    sleep: Callable[[float], None] = time.sleep
    limiter: RateLimiter | None = None
    clock: Callable[[], float] = time.monotonic     # ages the price cache (injectable for tests)
    _prices: dict[tuple[int, str], _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        cfg = section(DiscogsConfig, (self.cfg or get_config())["discogs"])
        self.base_url = (self.base_url or os.environ.get("DISCOGS_API_BASE_URL") or cfg.base_url
                         or "https://api.discogs.com").rstrip("/")
        self.user_agent = cfg.user_agent
        if self.oauth:
            ck, cs, tok, sec = self.oauth
            client = discogs_client.Client(self.user_agent, consumer_key=ck, consumer_secret=cs, token=tok,
                                           secret=sec)
            key = f"oauth:{tok}"
        elif self.token:
            client = discogs_client.Client(self.user_agent, user_token=self.token)
            key = f"token:{self.token}"
        else:
            client = discogs_client.Client(self.user_agent)
            key = "anonymous"
        authed = bool(self.oauth or self.token)
        limit = cfg.rate_limit_auth if authed else cfg.rate_limit_anon
        window = cfg.rate_window_s
        self.limiter = self.limiter or limiter_for(key, limit, window)
        policy = RetryPolicy(cfg.retry_attempts, cfg.retry_base_s, cfg.retry_cap_s)
        client._base_url = self.base_url
        client._request_token_url = f"{self.base_url}/oauth/request_token"
        client._access_token_url = f"{self.base_url}/oauth/access_token"
        if self.base_url != "https://api.discogs.com":   # a proxy or local fake serves its own authorize page
            client._authorize_url = f"{self.base_url}/oauth/authorize"
        client._fetcher = LimitedFetcher(client._fetcher, self.limiter, policy, self.sleep)
        client.set_timeout(connect=cfg.connect_timeout_s, read=cfg.read_timeout_s)
        self.client = client
        self.price_ttl = cfg.price_ttl_s

    def __repr__(self) -> str:  # never show the token
        return f"DiscogsGateway(base_url={self.base_url!r}, authenticated={bool(self.token or self.oauth)})"

    # -- raw access ---------------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON resource through the client; HTTP errors become our DiscogsError subclasses."""
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        try:
            return self.client._get(url)
        except HTTPError as exc:
            raise _map_http_error(exc, path) from exc
        except (discogs_client.exceptions.MalformedResponseError, ValueError) as exc:
            raise DiscogsError(f"malformed response for {path}") from exc

    # -- releases -----------------------------------------------------------------------------------
    def release(self, release_id: int) -> Release:
        data = self.get(f"/releases/{int(release_id)}")
        return release_from_api(data)

    def master_main_release(self, master_id: int) -> int:
        data = self.get(f"/masters/{int(master_id)}")
        main = data.get("main_release")
        if not main:
            raise NotFound(f"master {master_id} has no main release")
        return int(main)

    def listing_release(self, listing_id: int) -> int:
        data = self.get(f"/marketplace/listings/{int(listing_id)}")
        return int(data["release"]["id"])

    def resolve(self, ref: DiscogsRef) -> Release:
        if ref.kind == "master":
            return self.release(self.master_main_release(ref.id))
        if ref.kind == "listing":
            return self.release(self.listing_release(ref.id))
        return self.release(ref.id)

    def price(self, release_id: int, currency: str = "EUR", *, wait: bool = True) -> tuple[float, str] | None:
        """Lowest marketplace price in the user's currency, cached for ``price_ttl_s``. ``wait=False``: only
        what can be had at once — the cache, or a request when the rate-limit window has room to spare (a
        price is an extra: it never holds a card up); :class:`PriceLater` otherwise."""
        key = (int(release_id), currency.upper())
        now = self.clock()
        with self._lock:
            hit = self._prices.get(key)
            if hit is not None and now - hit.at < self.price_ttl:
                return hit.value
        if not wait and self.limiter is not None and not self.limiter.has_room(keep=PRICE_KEEPS):
            raise PriceLater(f"no room in the rate-limit window for the price of {release_id} now")
        stats = self.market_stats(release_id, currency)
        value = (stats.lowest, stats.currency) if stats.lowest is not None else None
        with self._lock:
            self._prices[key] = _Cached(value, now)
        return value

    def market_stats(self, release_id: int, currency: str = "EUR") -> MarketStats:
        """The release's marketplace now (one request, never cached): the lowest price in ``currency``, how many
        copies are for sale, whether Discogs bars it from sale. A deleted release raises :class:`NotFound`."""
        data = self.get(f"/marketplace/stats/{int(release_id)}", curr_abbr=currency.upper()) or {}
        lp = data.get("lowest_price") or None
        lowest = float(lp["value"]) if lp and lp.get("value") is not None else None
        cur = str((lp or {}).get("currency") or currency.upper())
        return MarketStats(lowest, cur, _int(data.get("num_for_sale")) or 0, bool(data.get("blocked_from_sale")))

    def price_suggestions(self, release_id: int) -> dict[str, tuple[float, str]]:
        """Discogs' suggested price per condition ("Mint (M)", "Near Mint (NM or M-)", "Very Good Plus (VG+)", …),
        in the currency of the token owner's profile; needs a user's token (:class:`AuthFailed` otherwise)."""
        data = self.get(f"/marketplace/price_suggestions/{int(release_id)}") or {}
        return {str(grade): (float(v["value"]), str(v.get("currency") or ""))
                for grade, v in data.items() if isinstance(v, dict) and v.get("value") is not None}

    def identity(self) -> str:
        return str(self.get("/oauth/identity")["username"])

    def profile_currency(self, username: str) -> str | None:
        """The currency the collector set on Discogs (their profile's ``curr_abbr``), or None if not given."""
        cur = self.get(f"/users/{username}").get("curr_abbr")
        return str(cur).upper() if cur else None

    # -- barcodes -----------------------------------------------------------------------------------
    def search_barcode(self, raw: str, limit: int = 25) -> list[Candidate]:
        """Candidate pressings for a barcode, best first: exact barcode matches, then the most owned."""
        code = normalise_barcode(raw)
        if code is None:
            raise ValueError(f"{raw!r} is not a valid EAN/UPC barcode (wrong length or check digit)")
        seen: dict[int, Candidate] = {}
        for form in search_forms(code):
            data = self.get("/database/search", barcode=form, type="release", per_page=limit, page=1)
            for res in data.get("results", []):
                rid = _int(res.get("id"))
                if rid is None or rid in seen:
                    continue
                community = res.get("community") or {}
                title = str(res.get("title", ""))
                seen[rid] = Candidate(
                    release_id=rid, title=title, year=_int(res.get("year")), country=res.get("country"),
                    formats=list(dict.fromkeys(res.get("format") or [])), catno=res.get("catno"),
                    labels=list(dict.fromkeys(res.get("label") or [])), have=_int(community.get("have")),
                    want=_int(community.get("want")),
                    exact=any(same_barcode(code, b) for b in res.get("barcode") or []))
            if seen:
                break
        return sorted(seen.values(), key=lambda c: (not c.exact, -(c.have or 0), c.release_id))

    # -- collections ------------------------------------------------------------------------------
    def collection_page(self, username: str, page: int = 1, per_page: int = 100, order: str = "desc") -> dict:
        return self.get(f"/users/{username}/collection/folders/0/releases", page=page, per_page=per_page,
                        sort="added", sort_order=order)

    def wantlist_page(self, username: str, page: int = 1, per_page: int = 100) -> dict:
        return self.get(f"/users/{username}/wants", page=page, per_page=per_page)


def _map_http_error(exc: HTTPError, path: str) -> DiscogsError:
    code = exc.status_code
    if code == 404:
        if path.startswith("/users/"):
            return UserNotFound(str(exc))
        return NotFound(str(exc))
    if code == 401:
        return AuthFailed(str(exc))
    if code == 403:
        if path.startswith("/users/"):
            return PrivateCollection(str(exc))
        return AuthFailed(str(exc))
    if code == 429:
        return RateLimited(str(exc))
    if code >= 500:
        return Unavailable(str(exc))
    return DiscogsError(str(exc))
