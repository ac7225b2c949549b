"""A local fake of Discord — REST API v10 and the gateway websocket — on 127.0.0.1, for the real discord.py client.

Point discord.py at it before the client starts (both are class attributes, so restore them afterwards)::

    discord.http.Route.BASE = f"{server.base_url}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)

and log in with ``server.token``. The server is aiohttp on its own event loop in a background thread, so a
synchronous test, a bot in another thread or a bot in another process can all use it.

What it speaks (formats as discord.py 2.7 reads them, see ``discord/types``):

* **gateway** ``ws://127.0.0.1:PORT/gateway?v=10&encoding=json[&compress=zlib-stream]``: op 10 HELLO; op 2 IDENTIFY
  (token checked: close 4004; intents required: 4013; privileged intents not in :attr:`FakeDiscord.privileged_intents`:
  4014) answered with READY (guilds unavailable) then one GUILD_CREATE a guild; op 1 HEARTBEAT → op 11 ACK; op 6
  RESUME replays the dispatches after the client's ``seq`` and sends RESUMED (unknown session: op 9 ``false``);
  op 8 REQUEST_GUILD_MEMBERS → one GUILD_MEMBERS_CHUNK. With ``compress=zlib-stream`` every frame is binary, from one
  ``zlib.compressobj()`` a connection, each ending in a Z_SYNC_FLUSH; ``zstd-stream`` works where ``zstandard`` (or
  Python 3.14's ``compression.zstd``) is importable, else the socket closes with 4000.
* **REST** under ``/api/v10``: users, application info, gateway, application commands (global and guild), interaction
  callbacks (``?with_response=1`` → InteractionCallback JSON), the interaction webhooks (``@original``, followups),
  channel messages, reactions, DMs, guilds and members. JSON or multipart (``payload_json`` + ``files[n]``) bodies;
  errors in Discord's shape (``{"message": ..., "code": ...}``, form errors with ``errors``); Discord's rate-limit
  headers on every answer. Uploaded files (and :meth:`FakeDiscord.attachment`) are served at
  ``/attachments/<id>/<filename>``.
* **events** the bot would get from Discord for what it does (filtered by its intents, without message content where
  Discord leaves it out): MESSAGE_CREATE / MESSAGE_UPDATE / MESSAGE_DELETE for its non-ephemeral messages,
  MESSAGE_REACTION_ADD for its own reactions. Tests send the user's side: :meth:`FakeDiscord.slash`,
  :meth:`~FakeDiscord.click`, :meth:`~FakeDiscord.submit_modal`, :meth:`~FakeDiscord.react`, ... each returning
  an :class:`Interaction` handle to wait on.

Checks Discord makes and this fake makes too: an interaction is answered once (40060), only with a callback type its
kind allows; messages are not empty (50006) and within Discord's limits (content 2000, 10 embeds of 6000 characters,
5 action rows, custom ids unique and within 100 characters...: 50035 with ``errors``); commands have valid names and
descriptions; a command can only be invoked once registered (and where its ``contexts``/``dm_permission`` allow);
a component only clicked while it is on the message and enabled; a modal only submitted once the bot opened it.
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import mimetypes
import re
import secrets
import socket
import struct
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import unquote

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
OWNER_ID = 100000000000000001
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

# gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents)
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS = 1 << 13
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# message flags
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
_SENDABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2 | (1 << 13)

# permissions: what @everyone gets in a new server, and what the bot was invited with
EVERYONE_PERMISSIONS = sum(1 << b for b in (0, 6, 9, 10, 11, 14, 15, 16, 18, 20, 21, 25, 26, 31, 35, 36, 37, 38,
                                            39, 40, 46))
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | (1 << 13)          # + manage messages
MEMBER_PERMISSIONS = EVERYONE_PERMISSIONS

_SNOWFLAKE_OPTION_TYPES = {6, 7, 8, 9, 11}
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


# -- small helpers ---------------------------------------------------------------------------------------------
def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class _Snowflakes:
    """Increasing snowflakes whose timestamp part is the current time (so discord.py's ``created_at`` is sane)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            self._last = max(now, self._last + 1)
            return self._last


class DiscordHTTPError(Exception):
    """A Discord error answer: ``status`` and the JSON body ``{"message", "code"[, "errors"]}``."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def _form_error(problems: list[tuple[tuple[str, ...], str, str]], prefix: tuple[str, ...] = ()) -> DiscordHTTPError:
    """50035 Invalid Form Body with Discord's nested ``errors`` ({"a": {"0": {"b": {"_errors": [...]}}}})."""
    errors: dict[str, Any] = {}
    for path, code, message in problems:
        node = errors
        for key in prefix + path:
            node = node.setdefault(key, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return DiscordHTTPError(400, 50035, "Invalid Form Body", errors)


def _too_long(n: int) -> tuple[str, str]:
    return "BASE_TYPE_MAX_LENGTH", f"Must be {n} or fewer in length."


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


@dataclass
class Request:
    """One REST request as the fake received it."""

    method: str
    path: str                    # the full path, e.g. "/api/v10/channels/1/messages"
    route: str                   # the path under /api/v10, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any                    # the JSON body, or multipart's payload_json, parsed; None without one
    files: list[tuple[str, bytes]]   # (filename, bytes) of each multipart file part
    headers: dict[str, str]
    at: float                    # time.perf_counter() on arrival
    file_fields: list[str] = field(default_factory=list)   # the form names of the file parts ("files[0]", ...)
    status: int | None = None    # the status the fake answered


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int | None
    retry_after: float


class _Conn:
    """One gateway websocket."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self.zstd: Any = None
        self.lock = asyncio.Lock()
        self.session: _Session | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        raw = _dumps(frame).encode()
        async with self.lock:
            if self.ws.closed:
                return
            try:
                if self.zlib is not None:
                    await self.ws.send_bytes(self.zlib.compress(raw) + self.zlib.flush(zlib.Z_SYNC_FLUSH))
                elif self.zstd is not None:
                    await self.ws.send_bytes(self.zstd(raw))
                else:
                    await self.ws.send_str(raw.decode())
            except (ConnectionError, RuntimeError):
                pass


def _zstd_compressor() -> Callable[[bytes], bytes] | None:
    """One streaming zstd compressor (a block flush a message), if a zstd module is importable."""
    try:
        import zstandard  # type: ignore[import-not-found]

        obj = zstandard.ZstdCompressor().compressobj()
        return lambda raw: obj.compress(raw) + obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    except ImportError:
        pass
    try:
        from compression import zstd  # type: ignore[import-not-found]

        comp = zstd.ZstdCompressor()
        return lambda raw: comp.compress(raw, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
    except ImportError:
        return None


@dataclass
class _Session:
    session_id: str
    identify: dict[str, Any]
    intents: int
    shard: tuple[int, int] | None
    seq: int = 0
    acked_seq: int | None = None          # the last sequence number the client's heartbeats carried
    history: list[dict[str, Any]] = field(default_factory=list)
    conn: _Conn | None = None
    ready: bool = False                   # READY and every GUILD_CREATE (or RESUMED) sent on the current conn

    def has_guild(self, guild_id: int | None) -> bool:
        if guild_id is None or self.shard is None:
            return True
        shard_id, count = self.shard
        return (guild_id >> 22) % max(count, 1) == shard_id


# -- the interaction handle ---------------------------------------------------------------------------------------
class Interaction:
    """An interaction the fake dispatched, and what the bot answered to it."""

    def __init__(self, server: "FakeDiscord", payload: dict[str, Any]) -> None:
        self._server = server
        self.payload = payload
        self.id: int = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.response: dict[str, Any] | None = None      # the callback body
        self.response_files: list[tuple[str, bytes]] = []
        self.response_ms: float | None = None
        self.dispatched_at: float | None = None
        self.sequence: int | None = None
        self.original_id: int | None = None
        self.message_id: int | None = int(payload["message"]["id"]) if "message" in payload else None
        self._followup_ids: list[int] = []
        self._origin: Interaction | None = None     # for a modal submit: the interaction that opened the modal

    def __repr__(self) -> str:
        return f"<fake Interaction id={self.id} type={self.type} response={self.response_type}>"

    @property
    def guild_id(self) -> int | None:
        return int(self.payload["guild_id"]) if "guild_id" in self.payload else None

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])

    @property
    def user(self) -> dict[str, Any]:
        return self.payload["member"]["user"] if "member" in self.payload else self.payload["user"]

    @property
    def response_type(self) -> int | None:
        return None if self.response is None else self.response.get("type")

    @property
    def original(self) -> dict[str, Any] | None:
        """The current original response message (or, for a deferred component update, the clicked message)."""
        return None if self.original_id is None else self._server._find_message(self.original_id)

    @property
    def followups(self) -> list[dict[str, Any]]:
        with self._server._cond:
            return [m for m in (self._server._find_message(i) for i in self._followup_ids) if m is not None]

    def wait_response(self, timeout: float = 10) -> dict[str, Any]:
        """The initial callback body ``{"type": 4|5|6|7|8|9, "data": {...}}`` (multipart: its payload_json)."""
        return self._server._wait(lambda: self.response, timeout, f"a callback to interaction {self.id}")

    def wait_original(self, predicate: Callable[[dict[str, Any]], bool] | None = None,
                      timeout: float = 15) -> dict[str, Any]:
        """The original response once ``predicate(message)`` holds (default: it is no longer "thinking" and has
        content, embeds, attachments or components)."""
        pred = predicate or _has_body

        def probe() -> dict[str, Any] | None:
            msg = self.original
            return msg if msg is not None and pred(msg) else None

        return self._server._wait(probe, timeout, f"the original response of interaction {self.id}",
                                  lambda: f"; it is {self.original!r}")

    def wait_followup(self, n: int = 1, timeout: float = 15) -> dict[str, Any]:
        """The ``n``-th followup (1-based)."""
        def probe() -> dict[str, Any] | None:
            ups = self.followups
            return ups[n - 1] if len(ups) >= n else None

        return self._server._wait(probe, timeout, f"followup #{n} of interaction {self.id}",
                                  lambda: f"; followups so far: {self.followups!r}")


def _has_body(msg: dict[str, Any]) -> bool:
    return not (msg.get("flags", 0) & FLAG_LOADING) and bool(
        msg.get("content") or msg.get("embeds") or msg.get("attachments") or msg.get("components"))


# -- the server ---------------------------------------------------------------------------------------------------
class FakeDiscord:
    """Discord's REST API and gateway for one bot application, on 127.0.0.1 (a free port)."""

    def __init__(self, *, app_id: int = 1111, bot_id: int = 1111, bot_name: str = "Crate Digger",
                 heartbeat_interval_ms: int = 41250) -> None:
        self.app_id, self.bot_id, self.bot_name = app_id, bot_id, bot_name
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.token = "MTEx.fake.token-for-tests"
        #: privileged intents the developer portal has switched on; an IDENTIFY asking for others is closed 4014
        self.privileged_intents = 0
        #: if set, a callback later than this many seconds after the dispatch is refused (10062), like Discord's 3 s
        self.callback_deadline_s: float | None = None
        #: the user side (slash, click, react, ...) acts only once the bot's REST requests have been answered this
        #: long ago (at most 2 s of waiting): a person cannot click within a millisecond, and discord.py only
        #: registers a message's view once the request that sent it returns
        self.user_delay_s = 0.1
        #: Discord's limit on posting in one channel, (messages, seconds), e.g. (5, 5.0): past it a 429 whose
        #: retry_after is when the window frees (None: no limit)
        self.channel_limit: tuple[int, float] | None = None
        self._channel_posts: dict[str, list[float]] = {}
        self.rate_limited = 0               # 429s answered for the channel limit
        self._inflight = 0
        self._last_answer = 0.0

        self._cond = threading.Condition(threading.RLock())
        self._ids = _Snowflakes()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._conns: set[_Conn] = set()
        self._sessions: dict[str, _Session] = {}
        self._pending: list[tuple[str, dict[str, Any], int | None, int]] = []
        self._failures: list[_Failure] = []

        self.users: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, dict[str, Any]] = {}
        self.members: dict[int, dict[int, dict[str, Any]]] = {}       # guild id → user id → member (with user)
        self.dm_channels: dict[int, dict[str, Any]] = {}              # user id → DM channel
        self.commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.commands_synced = 0            # PUTs of the global commands so far
        self.messages: dict[int, dict[str, Any]] = {}     # what the bot created, by id (current version)
        self.user_messages: dict[int, dict[str, Any]] = {}   # what tests posted as users (user_message)
        self.deleted: dict[int, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.errors: list[str] = []        # tracebacks of the fake's own failures (answered 500)
        self.interactions: dict[int, Interaction] = {}
        self.modals: list[tuple[dict[str, Any], Interaction]] = []   # (modal data, the interaction that opened it)
        self.identify: dict[str, Any] | None = None     # the last IDENTIFY's "d" (its token included)
        self.presence: dict[str, Any] | None = None      # the last op 3 PRESENCE_UPDATE
        self.gateway_queries: list[dict[str, str]] = []   # the query of every gateway connection (v, encoding, ...)
        self.gateway_received: list[dict[str, Any]] = []  # every frame the clients sent
        self.dispatched: list[dict[str, Any]] = []        # every op 0 frame sent, in order
        self.ready_count = 0                              # READY + GUILD_CREATEs completed so far
        self._files: dict[int, tuple[str, bytes, str]] = {}

        self.bot_user = {"id": str(bot_id), "username": bot_name, "global_name": None, "discriminator": "8890",
                         "avatar": None, "avatar_decoration_data": None, "banner": None, "accent_color": None,
                         "public_flags": 524288, "flags": 524288, "bot": True, "primary_guild": None,
                         "collectibles": None}
        self.users[bot_id] = self.bot_user
        self.owner = self.user(OWNER_ID, "Crate Owner")

    # -- lifecycle ----------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("not started")
        return self._sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def start(self) -> "FakeDiscord":
        if self._thread is not None:
            return self
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._run, name="fake-discord", daemon=True)
        self._thread.start()
        if not self._started.wait(10) or self._start_error is not None:
            raise RuntimeError(f"the fake Discord did not start: {self._start_error!r}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
            except Exception:   # noqa: BLE001 - best effort: the loop is stopped below anyway
                pass
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)
        with self._cond:
            self._cond.notify_all()

    def __enter__(self) -> "FakeDiscord":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop, self._loop_thread_id = loop, threading.get_ident()
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:   # noqa: BLE001 - reported by start()
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=2))
            loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        assert self._sock is not None
        await web.SockSite(self._runner, self._sock).start()

    async def _shutdown(self) -> None:
        for conn in list(self._conns):
            try:
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"The fake Discord is stopping."), 1)
            except Exception:   # noqa: BLE001
                pass
        if self._runner is not None:
            try:
                await asyncio.wait_for(self._runner.cleanup(), 3)
            except Exception:   # noqa: BLE001
                pass

    # -- waiting -------------------------------------------------------------------------------------------
    def _wait(self, probe: Callable[[], Any], timeout: float, what: str,
              detail: Callable[[], str] | None = None) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = probe()
                if got is not None and got is not False:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s" + (detail() if detail else ""))
                self._cond.wait(min(left, 0.1))

    def wait_ready(self, timeout: float = 30) -> None:
        """Until a connected client has IDENTIFYed (or RESUMEd) and got READY and every GUILD_CREATE."""
        self._wait(lambda: any(s.ready and s.conn is not None for s in self._sessions.values()), timeout,
                   "client READY", lambda: f"; requests so far: {[(r.method, r.route) for r in self.requests]}")

    def wait_commands(self, timeout: float = 30, *, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The global commands once the bot has PUT them (or, with ``guild_id``, that guild's)."""
        if guild_id is None:
            return self._wait(lambda: self.commands if self.commands_synced else None, timeout,
                              "PUT of the global commands")
        return self._wait(lambda: self.guild_commands.get(guild_id), timeout, f"PUT of guild {guild_id}'s commands")

    def wait_request(self, method: str, route: str, timeout: float = 10) -> Request:
        """The first request of ``method`` whose route (the path under /api/v10) matches the regex ``route``."""
        rx = re.compile(route)
        return self._wait(lambda: next((r for r in self.requests if r.method == method and rx.fullmatch(r.route)),
                                       None), timeout, f"{method} {route}")

    def requests_to(self, method: str, route: str) -> list[Request]:
        rx = re.compile(route)
        with self._cond:
            return [r for r in self.requests if r.method == method and rx.fullmatch(r.route)]

    def wait_message(self, predicate: Callable[[dict[str, Any]], bool] | None = None, *,
                     channel_id: int | None = None, timeout: float = 15) -> dict[str, Any]:
        """The first message the bot created (any kind) matching ``predicate`` / ``channel_id`` (current version)."""
        def probe() -> dict[str, Any] | None:
            for m in self.messages.values():
                if channel_id is not None and int(m["channel_id"]) != channel_id:
                    continue
                if predicate is None or predicate(m):
                    return m
            return None

        return self._wait(probe, timeout, "matching message from the bot",
                          lambda: f"; messages: {list(self.messages.values())!r}")

    # -- failures --------------------------------------------------------------------------------------------
    def fail(self, method: str, route: str, status: int = 500, *, code: int = 0, message: str | None = None,
             times: int | None = 1, retry_after: float = 0.2) -> None:
        """The next ``times`` requests of ``method`` on a route matching the regex ``route`` answer ``status``
        (429 like Discord's rate limiter: ``retry_after`` in the body and headers, a ``Via`` header)."""
        default = {429: "You are being rate limited.", 500: "500: Internal Server Error",
                   502: "502: Bad Gateway", 403: "Missing Permissions", 404: "404: Not Found"}
        with self._cond:
            self._failures.append(_Failure(method, re.compile(route), status, code,
                                           message or default.get(status, f"{status}: Error"), times, retry_after))

    def _take_failure(self, method: str, route: str) -> _Failure | None:
        for f in self._failures:
            if f.method == method and f.pattern.fullmatch(route) and (f.times is None or f.times > 0):
                if f.times is not None:
                    f.times -= 1
                return f
        return None

    def _channel_limited(self, method: str, route: str) -> _Failure | None:
        m = re.fullmatch(r"/channels/(\d+)/messages", route)
        if self.channel_limit is None or method != "POST" or m is None:
            return None
        n, window = self.channel_limit
        now = time.monotonic()
        posts = [t for t in self._channel_posts.get(m.group(1), []) if now - t < window]
        if len(posts) >= n:
            self._channel_posts[m.group(1)] = posts
            self.rate_limited += 1
            return _Failure(method, re.compile(re.escape(route)), 429, 20028,
                            "You are being rate limited.", 1, round(posts[0] + window - now, 3))
        self._channel_posts[m.group(1)] = posts + [now]
        return None

    # -- the world -------------------------------------------------------------------------------------------
    def user(self, user_id: int, name: str) -> dict[str, Any]:
        """A Discord user object (registered with the fake, so DMs and mentions resolve it)."""
        username = re.sub(r"[^a-z0-9_.]", "", name.lower()) or f"user{user_id}"
        u = {"id": str(user_id), "username": username, "global_name": name, "discriminator": "0", "avatar": None,
             "avatar_decoration_data": None, "banner": None, "accent_color": None, "public_flags": 0, "flags": 0,
             "primary_guild": None, "collectibles": None}
        with self._cond:
            self.users[user_id] = u
        return u

    def member(self, guild_id: int, user: dict[str, Any], *, permissions: int | None = None,
               with_user: bool = True) -> dict[str, Any]:
        """``user``'s guild member object (joined now on first use); ``permissions`` as interactions carry it."""
        with self._cond:
            members = self.members.setdefault(guild_id, {})
            m = members.get(int(user["id"]))
            if m is None:
                m = {"user": user, "nick": None, "avatar": None, "banner": None, "roles": [], "joined_at": _now_iso(),
                     "premium_since": None, "deaf": False, "mute": False, "flags": 0, "pending": False,
                     "communication_disabled_until": None, "unusual_dm_activity_until": None}
                members[int(user["id"])] = m
        out = copy.deepcopy(m)
        if not with_user:
            out.pop("user")
        if permissions is not None:
            out["permissions"] = str(permissions)
        return out

    def text_channel(self, guild_id: int) -> dict[str, Any]:
        return self.guilds[guild_id]["channels"][0]

    def add_guild(self, guild_id: int, name: str = "Crate Club") -> dict[str, Any]:
        """A server the bot is in, with a text channel ``guild_id + 1`` "records", @everyone and the bot's managed
        role ``guild_id + 2``. Sent as unavailable in READY, then as GUILD_CREATE (at once, if a client is live)."""
        channel = {"id": str(guild_id + 1), "type": 0, "guild_id": str(guild_id), "name": "records", "position": 0,
                   "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                   "rate_limit_per_user": 0, "last_message_id": None, "flags": 0, "icon_emoji": None,
                   "theme_color": None}
        roles = [self._role(guild_id, "@everyone", EVERYONE_PERMISSIONS),
                 self._role(guild_id + 2, self.bot_name, BOT_PERMISSIONS, managed=True,
                            tags={"bot_id": str(self.bot_id)}, position=1)]
        guild = {"id": str(guild_id), "name": name, "icon": None, "icon_hash": None, "splash": None,
                 "discovery_splash": None, "banner": None, "description": None, "owner_id": str(OWNER_ID),
                 "region": "deprecated", "afk_channel_id": None, "afk_timeout": 300, "widget_enabled": False,
                 "widget_channel_id": None, "verification_level": 1, "default_message_notifications": 1,
                 "explicit_content_filter": 2, "roles": roles, "emojis": [], "stickers": [], "features": [],
                 "mfa_level": 0, "application_id": None, "system_channel_id": channel["id"],
                 "system_channel_flags": 0, "rules_channel_id": None, "public_updates_channel_id": None,
                 "safety_alerts_channel_id": None, "max_presences": None, "max_members": 500000,
                 "vanity_url_code": None, "premium_tier": 0, "premium_subscription_count": 0,
                 "preferred_locale": "en-US", "max_video_channel_users": 25, "max_stage_video_channel_users": 50,
                 "nsfw_level": 0, "premium_progress_bar_enabled": False, "incidents_data": None,
                 "hub_type": None, "latest_onboarding_question_id": None, "home_header": None,
                 "channels": [channel]}
        with self._cond:
            self.guilds[guild_id] = guild
            self.member(guild_id, self.bot_user)
            self.members[guild_id][self.bot_id]["roles"] = [str(guild_id + 2)]
        if self._loop is not None and self._live_sessions():
            self._call_in_loop(self._dispatch_async("GUILD_CREATE", self._guild_create(guild_id), guild_id))
        return guild

    @staticmethod
    def _role(role_id: int, name: str, permissions: int, *, managed: bool = False, tags: dict | None = None,
              position: int = 0) -> dict[str, Any]:
        role = {"id": str(role_id), "name": name, "description": None, "permissions": str(permissions),
                "position": position, "color": 0,
                "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False, "managed": managed, "mentionable": False, "icon": None, "unicode_emoji": None,
                "flags": 0}
        if tags:
            role["tags"] = tags
        return role

    def _guild_create(self, guild_id: int) -> dict[str, Any]:
        g = copy.deepcopy(self.guilds[guild_id])
        for c in g["channels"]:
            c.pop("guild_id", None)           # channels in GUILD_CREATE carry no guild_id
        members = self.members.get(guild_id, {})
        g.update({"joined_at": members[self.bot_id]["joined_at"], "large": False, "unavailable": False,
                  "lazy": True, "member_count": max(len(members), 2), "voice_states": [],
                  "members": [copy.deepcopy(members[self.bot_id])], "threads": [], "presences": [],
                  "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
                  "embedded_activities": [], "activity_instances": [], "application_command_counts": {}})
        return g

    def dm_channel(self, user: dict[str, Any] | int) -> dict[str, Any]:
        """The DM channel between the bot and ``user`` (created on first use, id stable)."""
        uid = int(user["id"]) if isinstance(user, dict) else int(user)
        with self._cond:
            ch = self.dm_channels.get(uid)
            if ch is None:
                u = self.users.get(uid) or self.user(uid, f"user{uid}")
                ch = {"id": str(self._ids()), "type": 1, "last_message_id": None, "flags": 0, "recipients": [u]}
                self.dm_channels[uid] = ch
            return copy.deepcopy(ch)

    def attachment(self, filename: str, data: bytes, content_type: str = "text/csv") -> dict[str, Any]:
        """A file a user uploaded: bytes served at ``base_url/attachments/<id>/<filename>``; the attachment object
        (use it in ``resolved={"attachments": {id: obj}}`` with an option ``{"name", "type": 11, "value": id}``; the
        fake fills ``resolved`` itself for the attachments it knows)."""
        return self._store_file(filename, data, content_type)

    def _store_file(self, filename: str, data: bytes, content_type: str | None = None, *,
                    description: str | None = None, ephemeral: bool = False) -> dict[str, Any]:
        if content_type is None:
            guessed = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            content_type = guessed + ("; charset=utf-8" if guessed.startswith("text/") else "")
        att_id = self._ids()
        url = f"{self.base_url}/attachments/{att_id}/{filename}" if self._sock else f"/attachments/{att_id}/{filename}"
        obj: dict[str, Any] = {"id": str(att_id), "filename": filename, "size": len(data), "url": url,
                               "proxy_url": url, "content_type": content_type}
        size = _image_size(data)
        if size:
            obj["width"], obj["height"] = size
        if description is not None:
            obj["description"] = description
        if ephemeral:
            obj["ephemeral"] = True
        with self._cond:
            self._files[att_id] = (filename, data, content_type)
        return obj

    def file_bytes(self, attachment: dict[str, Any] | int) -> bytes:
        att_id = int(attachment["id"]) if isinstance(attachment, dict) else int(attachment)
        return self._files[att_id][1]

    def user_message(self, user: dict[str, Any], content: str, *, guild_id: int | None = None,
                     channel_id: int | None = None, attachments: list[dict[str, Any]] | None = None,
                     dispatch: bool = True) -> dict[str, Any]:
        """A message ``user`` posted (in ``guild_id``'s "records" channel, or their DM with the bot), for message
        commands and reactions; dispatched as MESSAGE_CREATE if ``dispatch`` (content left out there, as Discord
        does, unless the bot has the message content intent, it is a DM or the bot is mentioned)."""
        cid = channel_id or (guild_id + 1 if guild_id else int(self.dm_channel(user)["id"]))
        msg = self._base_message(cid, guild_id, author=user, mtype=0)
        msg.update({"content": content, "attachments": list(attachments or []),
                    "mentions": self._mentions(content, None)})
        with self._cond:
            self.user_messages[int(msg["id"])] = msg
        if dispatch and self._live_sessions():
            self._call_in_loop(self._emit_message("MESSAGE_CREATE", msg))
        return msg

    # -- gateway ---------------------------------------------------------------------------------------------
    def _live_sessions(self) -> list[_Session]:
        with self._cond:
            return [s for s in self._sessions.values() if s.ready and s.conn is not None and not s.conn.ws.closed]

    def _call_in_loop(self, coro: Any, timeout: float = 10) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the fake Discord is not started")
        if threading.get_ident() == self._loop_thread_id:
            coro.close()
            raise RuntimeError("call the fake's test-side methods from outside its event loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def dispatch(self, event: str, data: dict[str, Any], *, guild_id: int | None = None) -> int:
        """Send ``{"op": 0, "t": event, "s": n, "d": data}`` to the connected client(s); returns ``n``.
        Waits (up to 10 s) for a client to be READY."""
        self.wait_ready(10)
        seq = self._call_in_loop(self._dispatch_async(event, data, guild_id))
        if seq is None:
            raise RuntimeError(f"no connected session took {event}")
        return seq

    async def _dispatch_async(self, event: str, data: dict[str, Any], guild_id: int | None = None,
                              intent: int = 0) -> int | None:
        seq = None
        for s in self._live_sessions():
            if not s.has_guild(guild_id) or (intent and not s.intents & intent):
                continue
            seq = await self._send_dispatch(s, event, data)
        return seq

    async def _send_dispatch(self, s: _Session, event: str, data: dict[str, Any]) -> int:
        with self._cond:
            s.seq += 1
            frame = {"op": 0, "t": event, "s": s.seq, "d": data}
            s.history.append(frame)
            self.dispatched.append(frame)
            self._cond.notify_all()
        if s.conn is not None:
            await s.conn.send(frame)
        return frame["s"]

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        q = request.query
        conn = _Conn(ws, q.get("compress"))
        self._conns.add(conn)
        with self._cond:
            self.gateway_queries.append(dict(q))
        try:
            if conn.compress == "zstd-stream":
                conn.zstd = _zstd_compressor()
                if conn.zstd is None:
                    await ws.close(code=4000, message=b"zstd-stream is not available in the fake Discord")
                    return ws
            elif conn.compress not in (None, "zlib-stream"):
                await ws.close(code=4000, message=b"Unknown compression.")
                return ws
            if q.get("v") not in (None, "10"):
                await ws.close(code=4012, message=b"Invalid API version.")
                return ws
            if q.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Error while decoding payload.")   # etf is not spoken here
                return ws
            await conn.send({"op": 10, "s": None, "t": None,
                             "d": {"heartbeat_interval": self.heartbeat_interval_ms,
                                   "_trace": ['["gateway-prd-fake-0",{"micros":0.0}]']}})
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    frame = json.loads(msg.data)
                except (ValueError, UnicodeDecodeError):
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                with self._cond:
                    self.gateway_received.append(frame)
                    self._cond.notify_all()
                await self._on_frame(conn, frame)
                if ws.closed:
                    break
        finally:
            self._conns.discard(conn)
            with self._cond:
                if conn.session is not None and conn.session.conn is conn:
                    conn.session.conn = None
                    conn.session.ready = False
                self._cond.notify_all()
        return ws

    async def _on_frame(self, conn: _Conn, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        ws = conn.ws
        if op == 1:                                     # HEARTBEAT
            if conn.session is not None:
                conn.session.acked_seq = d
            await conn.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:                                   # IDENTIFY
            await self._identify(conn, d or {})
        elif op == 6:                                   # RESUME
            await self._resume(conn, d or {})
        elif conn.session is None:
            await ws.close(code=4003, message=b"Not authenticated.")
        elif op == 3:                                   # PRESENCE_UPDATE
            self.presence = d
        elif op == 4:                                   # VOICE_STATE_UPDATE: nothing to say
            pass
        elif op == 8:                                   # REQUEST_GUILD_MEMBERS
            gid = int(d["guild_id"]) if not isinstance(d["guild_id"], list) else int(d["guild_id"][0])
            members = list(self.members.get(gid, {}).values())
            wanted = d.get("user_ids")
            if wanted is not None:
                wanted = {int(x) for x in (wanted if isinstance(wanted, list) else [wanted])}
                members = [m for m in members if int(m["user"]["id"]) in wanted]
            elif d.get("query"):
                members = [m for m in members if m["user"]["username"].startswith(d["query"].lower())]
            if d.get("limit"):
                members = members[: d["limit"]]
            chunk = {"guild_id": str(gid), "members": copy.deepcopy(members), "chunk_index": 0, "chunk_count": 1,
                     "not_found": [], "presences": [] if d.get("presences") else None}
            if chunk["presences"] is None:
                del chunk["presences"]
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            await self._send_dispatch(conn.session, "GUILD_MEMBERS_CHUNK", chunk)
        else:
            await ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _Conn, d: dict[str, Any]) -> None:
        ws = conn.ws
        if conn.session is not None:
            await ws.close(code=4005, message=b"Already authenticated.")
            return
        with self._cond:
            self.identify = d
            self._cond.notify_all()
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if "intents" not in d:
            await ws.close(code=4013, message=b"Invalid intent(s).")
            return
        intents = int(d["intents"])
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = tuple(d["shard"]) if d.get("shard") else None
        if shard is not None and not (0 <= shard[0] < shard[1]):
            await ws.close(code=4010, message=b"Invalid shard.")
            return
        s = _Session(secrets.token_hex(16), d, intents, shard)   # type: ignore[arg-type]
        s.conn = conn
        conn.session = s
        with self._cond:
            self._sessions[s.session_id] = s
            guild_ids = [g for g in self.guilds if s.has_guild(g)]
        ready = {"v": 10, "user_settings": {}, "user": {**self.bot_user, "verified": True, "mfa_enabled": False,
                                                         "email": None},
                 "session_type": "normal", "session_id": s.session_id, "resume_gateway_url": self.gateway_url,
                 "relationships": [], "private_channels": [], "presences": [], "guild_join_requests": [],
                 "geo_ordered_rtc_regions": ["us-east", "us-central"], "game_relationships": [], "auth": {},
                 "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
                 "application": {"id": str(self.app_id), "flags": self._app_flags()},
                 "_trace": ['["gateway-prd-fake-0",{"micros":1000,"calls":["id_created",{"micros":100}]}]']}
        if shard is not None:
            ready["shard"] = list(shard)
        await self._send_dispatch(s, "READY", ready)
        for g in guild_ids:
            await self._send_dispatch(s, "GUILD_CREATE", self._guild_create(g))
        with self._cond:
            s.ready = True
            self.ready_count += 1
            self._cond.notify_all()

    async def _resume(self, conn: _Conn, d: dict[str, Any]) -> None:
        s = self._sessions.get(d.get("session_id", ""))
        if s is None or d.get("token") != self.token:
            await conn.send({"op": 9, "s": None, "t": None, "d": False})
            return
        old = s.conn
        if old is not None and old is not conn and not old.ws.closed:
            await old.ws.close(code=4000, message=b"Resumed elsewhere.")
        s.conn, conn.session = conn, s
        seq = d.get("seq") or 0
        for frame in [f for f in s.history if f["s"] > seq]:
            await conn.send(frame)
        await self._send_dispatch(s, "RESUMED", {"_trace": ['["gateway-prd-fake-0",{"micros":0}]']})
        with self._cond:
            s.ready = True
            self.ready_count += 1
            self._cond.notify_all()

    def reconnect(self) -> None:
        """Send op 7 RECONNECT to the connected client(s) (discord.py closes and RESUMEs)."""
        async def go() -> None:
            for s in self._live_sessions():
                s.ready = False          # until the client RESUMEs (wait_ready waits for that)
                if s.conn is not None:
                    await s.conn.send({"op": 7, "s": None, "t": None, "d": None})
        self._call_in_loop(go())

    def disconnect(self, code: int = 4000) -> None:
        """Close the client(s)' websockets with ``code`` (4000: discord.py reconnects and RESUMEs)."""
        async def go() -> None:
            for s in self._live_sessions():
                s.ready = False
                if s.conn is not None:
                    await s.conn.ws.close(code=code, message=b"Closed by the test.")
        self._call_in_loop(go())

    def _app_flags(self) -> int:
        flags = 1 << 23                                          # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    # -- the user's side: interactions and reactions ----------------------------------------------------------
    def _find_command(self, name: str, ctype: int, guild_id: int | None) -> tuple[dict[str, Any], int | None]:
        with self._cond:
            if guild_id is not None:
                for c in self.guild_commands.get(guild_id, []):
                    if c["name"] == name and c.get("type", 1) == ctype:
                        return c, guild_id
            for c in self.commands:
                if c["name"] == name and c.get("type", 1) == ctype:
                    contexts = c.get("contexts")
                    where = 0 if guild_id is not None else 1
                    if contexts is not None and where not in contexts or \
                            (guild_id is None and c.get("dm_permission") is False):
                        place = "in a server" if where == 0 else "in DMs"
                        raise PermissionError(f"command {name!r} cannot be used {place}: {c}")
                    return c, None
            known = [c["name"] for c in self.commands] + [c["name"] for cs in self.guild_commands.values() for c in cs]
        raise LookupError(f"no command {name!r} of type {ctype} registered (registered: {known})")

    def _interaction_payload(self, itype: int, user: dict[str, Any], data: dict[str, Any], *,
                             guild_id: int | None, channel_id: int | None,
                             message: dict[str, Any] | None = None) -> dict[str, Any]:
        iid = self._ids()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        p: dict[str, Any] = {"id": str(iid), "application_id": str(self.app_id), "type": itype, "data": data,
                             "token": token, "version": 1, "locale": "en-US", "entitlements": [],
                             "entitlement_sku_ids": [], "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
                             "app_permissions": str(BOT_PERMISSIONS)}
        if guild_id is not None:
            if guild_id not in self.guilds:
                raise LookupError(f"the bot is not in guild {guild_id} (add_guild first)")
            cid = channel_id or guild_id + 1
            ch = next((c for c in self.guilds[guild_id]["channels"] if int(c["id"]) == cid), None)
            ch = copy.deepcopy(ch) if ch else {**copy.deepcopy(self.text_channel(guild_id)), "id": str(cid),
                                                "name": f"channel-{cid}"}
            ch["permissions"] = str(MEMBER_PERMISSIONS)
            p.update({"guild_id": str(guild_id), "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                      "guild_locale": "en-US", "member": self.member(guild_id, user, permissions=MEMBER_PERMISSIONS),
                      "channel_id": str(cid), "channel": ch, "context": 0,
                      "authorizing_integration_owners": {"0": str(guild_id)}})
        else:
            dm = self.dm_channel(user)
            if channel_id is not None and channel_id != int(dm["id"]):
                dm["id"] = str(channel_id)
            p.update({"user": user, "channel_id": dm["id"], "channel": dm, "context": 1,
                      "authorizing_integration_owners": {"0": "0"}})
        if message is not None:
            p["message"] = message
        return p

    def _settle(self, max_wait: float = 2.0) -> None:
        """Wait until no REST request of the bot is in flight and the last was answered ``user_delay_s`` ago."""
        deadline = time.monotonic() + max_wait
        with self._cond:
            while time.monotonic() < deadline:
                quiet_for = time.perf_counter() - self._last_answer
                if self._inflight == 0 and quiet_for >= self.user_delay_s:
                    return
                self._cond.wait(0.02 if self._inflight else max(0.005, self.user_delay_s - quiet_for))

    def _send_interaction(self, payload: dict[str, Any], origin: Interaction | None = None) -> Interaction:
        self.wait_ready(10)
        self._settle()
        inter = Interaction(self, payload)
        inter._origin = origin
        with self._cond:
            self.interactions[inter.id] = inter
            inter.dispatched_at = time.perf_counter()
        inter.sequence = self._call_in_loop(self._dispatch_async("INTERACTION_CREATE", payload, inter.guild_id))
        if inter.sequence is None:
            raise RuntimeError("no connected session took the INTERACTION_CREATE")
        return inter

    def _normalise_options(self, options: list[dict[str, Any]], resolved: dict[str, Any],
                           guild_id: int | None) -> list[dict[str, Any]]:
        out = []
        for o in options:
            o = dict(o)
            if o.get("options") is not None:
                o["options"] = self._normalise_options(o["options"], resolved, guild_id)
            t = o.get("type")
            if t in _SNOWFLAKE_OPTION_TYPES and "value" in o:
                o["value"] = str(o["value"])
                vid = int(o["value"])
                if t == 11 and vid in self._files and o["value"] not in resolved.get("attachments", {}):
                    fn, data, ctype = self._files[vid]
                    url = f"{self.base_url}/attachments/{vid}/{fn}"
                    resolved.setdefault("attachments", {})[o["value"]] = {
                        "id": o["value"], "filename": fn, "size": len(data), "url": url, "proxy_url": url,
                        "content_type": ctype, "ephemeral": True}
                elif t in (6, 9) and vid in self.users and o["value"] not in resolved.get("users", {}):
                    resolved.setdefault("users", {})[o["value"]] = self.users[vid]
                    if guild_id is not None:
                        resolved.setdefault("members", {})[o["value"]] = self.member(
                            guild_id, self.users[vid], permissions=MEMBER_PERMISSIONS, with_user=False)
                elif t in (8, 9) and guild_id is not None:
                    role = next((r for r in self.guilds[guild_id]["roles"] if r["id"] == o["value"]), None)
                    if role is not None:
                        resolved.setdefault("roles", {})[o["value"]] = role
                elif t == 7 and guild_id is not None:
                    ch = next((c for c in self.guilds[guild_id]["channels"] if c["id"] == o["value"]), None)
                    if ch is not None:
                        resolved.setdefault("channels", {})[o["value"]] = {
                            k: ch[k] for k in ("id", "name", "type", "position", "nsfw", "flags", "parent_id",
                                               "rate_limit_per_user", "last_message_id", "topic")
                        } | {"permissions": str(MEMBER_PERMISSIONS)}
            out.append(o)
        return out

    def slash(self, name: str, user: dict[str, Any], *, options: list[dict[str, Any]] | None = None,
              guild_id: int | None = None, channel_id: int | None = None,
              resolved: dict[str, Any] | None = None) -> Interaction:
        """``user`` runs the chat-input command ``name`` (which the bot must have registered) in ``guild_id``'s
        channel (default: its "records" channel) or, without ``guild_id``, in their DM with the bot."""
        return self._command(2, name, user, options=options, guild_id=guild_id, channel_id=channel_id,
                             resolved=resolved)

    def autocomplete(self, name: str, user: dict[str, Any], *, options: list[dict[str, Any]],
                     guild_id: int | None = None, channel_id: int | None = None) -> Interaction:
        """Type 4 APPLICATION_COMMAND_AUTOCOMPLETE: mark the option being typed with ``"focused": True``."""
        return self._command(4, name, user, options=options, guild_id=guild_id, channel_id=channel_id, resolved=None)

    def _command(self, itype: int, name: str, user: dict[str, Any], *, options: list[dict[str, Any]] | None,
                 guild_id: int | None, channel_id: int | None, resolved: dict[str, Any] | None) -> Interaction:
        cmd, cmd_guild = self._find_command(name, 1, guild_id)
        res = {k: {str(i): v for i, v in d.items()} for k, d in (resolved or {}).items()}
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1}
        if options:
            data["options"] = self._normalise_options(options, res, guild_id)
        if res:
            data["resolved"] = res
        if cmd_guild is not None:
            data["guild_id"] = str(cmd_guild)
        return self._send_interaction(self._interaction_payload(itype, user, data, guild_id=guild_id,
                                                                channel_id=channel_id))

    def message_command(self, name: str, user: dict[str, Any], target: dict[str, Any], *,
                        guild_id: int | None = None, channel_id: int | None = None) -> Interaction:
        """``user`` runs the message context-menu command ``name`` on ``target`` (where ``target`` is, by default)."""
        gid = guild_id if guild_id is not None else (int(target["guild_id"]) if target.get("guild_id") else None)
        cmd, cmd_guild = self._find_command(name, 3, gid)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 3, "target_id": target["id"],
                                "resolved": {"messages": {target["id"]: target}}}
        if cmd_guild is not None:
            data["guild_id"] = str(cmd_guild)
        return self._send_interaction(self._interaction_payload(
            2, user, data, guild_id=gid, channel_id=channel_id or int(target["channel_id"])))

    def user_command(self, name: str, user: dict[str, Any], target_user: dict[str, Any], *,
                     guild_id: int | None = None, channel_id: int | None = None) -> Interaction:
        """``user`` runs the user context-menu command ``name`` on ``target_user``."""
        cmd, cmd_guild = self._find_command(name, 2, guild_id)
        tid = target_user["id"]
        resolved: dict[str, Any] = {"users": {tid: target_user}}
        if guild_id is not None:
            resolved["members"] = {tid: self.member(guild_id, target_user, permissions=MEMBER_PERMISSIONS,
                                                    with_user=False)}
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 2, "target_id": tid, "resolved": resolved}
        if cmd_guild is not None:
            data["guild_id"] = str(cmd_guild)
        return self._send_interaction(self._interaction_payload(2, user, data, guild_id=guild_id,
                                                                channel_id=channel_id))

    def click(self, user: dict[str, Any], message: dict[str, Any], custom_id: str, *, guild_id: int | None = None,
              channel_id: int | None = None, values: list[str] | None = None,
              component_type: int = 2) -> Interaction:
        """``user`` clicks the button (or picks ``values`` in the select menu) ``custom_id`` on ``message`` — its
        current version; the component must be on it and enabled."""
        current = self._find_message(int(message["id"])) or message
        comp = _find_component(current.get("components") or [], custom_id)
        if current.get("components") is not None and int(current["id"]) in self.messages:
            if comp is None:
                raise LookupError(f"no component {custom_id!r} on message {current['id']}: {current['components']}")
            if comp.get("disabled"):
                raise PermissionError(f"component {custom_id!r} on message {current['id']} is disabled")
        ctype = comp["type"] if comp is not None else component_type
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if comp is not None and "id" in comp:
            data["id"] = comp["id"]
        if values is not None or ctype in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        gid = guild_id if guild_id is not None else (int(current["guild_id"]) if current.get("guild_id") else None)
        return self._send_interaction(self._interaction_payload(
            3, user, data, guild_id=gid, channel_id=channel_id or int(current["channel_id"]),
            message=copy.deepcopy(current)))

    def submit_modal(self, user: dict[str, Any], custom_id: str, fields: dict[str, str], *,
                     guild_id: int | None = None, channel_id: int | None = None) -> Interaction:
        """``user`` submits the modal ``custom_id`` (which the bot opened, type 9) with text input values ``fields``
        (by the inputs' custom ids); components mirror the modal's (action rows, or labels)."""
        with self._cond:
            found = next(((m, i) for m, i in reversed(self.modals) if m.get("custom_id") == custom_id), None)
        if found is None:
            raise LookupError(f"the bot never opened a modal {custom_id!r}")
        modal, origin = found
        unknown = set(fields) - {c.get("custom_id") for c in _walk(modal.get("components") or [])}
        if unknown:
            raise LookupError(f"modal {custom_id!r} has no inputs {sorted(unknown)}")
        components = [_submitted(c, fields) for c in modal.get("components") or []]
        data = {"custom_id": custom_id, "components": [c for c in components if c is not None]}
        gid = guild_id if guild_id is not None else origin.guild_id
        payload = self._interaction_payload(5, user, data, guild_id=gid,
                                            channel_id=channel_id or origin.channel_id,
                                            message=copy.deepcopy(self._find_message(origin.message_id))
                                            if origin.message_id else None)
        return self._send_interaction(payload, origin=origin)

    def react(self, user: dict[str, Any], message: dict[str, Any], emoji: str, *,
              guild_id: int | None = None) -> int | None:
        """``user`` adds the reaction ``emoji`` (unicode, or "name:id" for a custom one) to ``message``; dispatches
        MESSAGE_REACTION_ADD if the bot's intents ask for reactions there. Returns its sequence number (or None)."""
        return self._reaction("MESSAGE_REACTION_ADD", user, message, emoji, guild_id)

    def unreact(self, user: dict[str, Any], message: dict[str, Any], emoji: str, *,
                guild_id: int | None = None) -> int | None:
        return self._reaction("MESSAGE_REACTION_REMOVE", user, message, emoji, guild_id)

    def _reaction(self, event: str, user: dict[str, Any], message: dict[str, Any], emoji: str,
                  guild_id: int | None) -> int | None:
        self.wait_ready(10)
        self._settle()
        gid = guild_id if guild_id is not None else (int(message["guild_id"]) if message.get("guild_id") else None)
        em = _emoji(emoji)
        data: dict[str, Any] = {"user_id": user["id"], "channel_id": str(message["channel_id"]),
                                "message_id": str(message["id"]), "emoji": em, "burst": False, "type": 0}
        if event == "MESSAGE_REACTION_ADD":
            data["burst_colors"] = []
            data["message_author_id"] = message["author"]["id"]
        if gid is not None:
            data["guild_id"] = str(gid)
            if event == "MESSAGE_REACTION_ADD":
                data["member"] = self.member(gid, user)
        with self._cond:
            self._count_reaction(int(message["id"]), em, +1 if event.endswith("ADD") else -1, me=False)
        intent = INTENT_GUILD_MESSAGE_REACTIONS if gid is not None else INTENT_DIRECT_MESSAGE_REACTIONS
        return self._call_in_loop(self._dispatch_async(event, data, gid, intent))

    def _count_reaction(self, mid: int, em: dict[str, Any], delta: int, *, me: bool) -> None:
        store = self.messages if mid in self.messages else self.user_messages if mid in self.user_messages else None
        if store is None:
            return
        msg = dict(store[mid])
        reactions = [dict(r) for r in msg.get("reactions", [])]
        r = next((r for r in reactions if r["emoji"].get("name") == em["name"] and r["emoji"].get("id") == em["id"]),
                 None)
        if r is None:
            if delta < 0:
                return
            r = {"emoji": em, "count": 0, "count_details": {"burst": 0, "normal": 0}, "burst_colors": [],
                 "me_burst": False, "burst_me": False, "burst_count": 0, "me": False}
            reactions.append(r)
        r["count"] += delta
        r["count_details"] = {"burst": 0, "normal": r["count"]}
        if me:
            r["me"] = delta > 0
        reactions = [x for x in reactions if x["count"] > 0]
        if reactions:
            msg["reactions"] = reactions
        else:
            msg.pop("reactions", None)
        store[mid] = msg

    # -- messages ------------------------------------------------------------------------------------------------
    def _find_message(self, mid: int | None) -> dict[str, Any] | None:
        if mid is None:
            return None
        return self.messages.get(mid) or self.user_messages.get(mid)

    def _channel(self, cid: int) -> tuple[dict[str, Any], int | None]:
        """(channel object, guild id or None); 404 Unknown Channel otherwise."""
        for gid, g in self.guilds.items():
            for c in g["channels"]:
                if int(c["id"]) == cid:
                    return c, gid
        for ch in self.dm_channels.values():
            if int(ch["id"]) == cid:
                return ch, None
        raise DiscordHTTPError(404, 10003, "Unknown Channel")

    def _base_message(self, cid: int, gid: int | None, *, author: dict[str, Any], mtype: int) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": mtype, "content": "", "mentions": [], "mention_roles": [], "attachments": [],
                               "embeds": [], "timestamp": _now_iso(), "edited_timestamp": None, "flags": 0,
                               "components": [], "id": str(self._ids()), "channel_id": str(cid), "author": author,
                               "pinned": False, "mention_everyone": False, "tts": False}
        if gid is not None:
            msg["guild_id"] = str(gid)
        return msg

    def _mentions(self, content: str, allowed: dict[str, Any] | None) -> list[dict[str, Any]]:
        out = []
        for uid in dict.fromkeys(re.findall(r"<@!?(\d+)>", content or "")):
            if allowed is not None and "users" not in allowed.get("parse", []) and uid not in \
                    [str(u) for u in allowed.get("users", [])]:
                continue
            u = self.users.get(int(uid))
            if u is not None:
                out.append(u)
        return out

    def _attachments(self, payload: dict[str, Any], files: list[tuple[str, str, bytes]],
                     existing: list[dict[str, Any]] | None, ephemeral: bool) -> list[dict[str, Any]]:
        uploads: dict[int, tuple[str, bytes]] = {}
        for pos, (fld, filename, data) in enumerate(files):
            m = re.fullmatch(r"files\[(\d+)\]", fld or "")
            uploads[int(m.group(1)) if m else pos] = (filename, data)
        for _, data in uploads.values():
            if len(data) > ATTACHMENT_SIZE_LIMIT:
                raise DiscordHTTPError(413, 40005, "Request entity too large")
        spec = payload.get("attachments")
        if spec is None:
            return list(existing or []) + [self._store_file(fn, data, ephemeral=ephemeral)
                                           for _, (fn, data) in sorted(uploads.items())]
        keep = {a["id"]: a for a in existing or []}
        out: list[dict[str, Any]] = []
        used: set[int] = set()
        for i, a in enumerate(spec):
            aid = str(a.get("id"))
            if aid in keep:
                out.append(keep[aid])
            elif aid.isdigit() and int(aid) in uploads:
                fn, data = uploads[int(aid)]
                used.add(int(aid))
                out.append(self._store_file(a.get("filename") or fn, data, description=a.get("description"),
                                            ephemeral=ephemeral))
            else:
                raise _form_error([(("attachments", str(i), "id"), "ATTACHMENT_NOT_FOUND",
                                    "Unknown attachment")])
        for idx in sorted(set(uploads) - used):
            out.append(self._store_file(uploads[idx][0], uploads[idx][1], ephemeral=ephemeral))
        return out

    def _create_message(self, cid: int, gid: int | None, payload: dict[str, Any],
                        files: list[tuple[str, str, bytes]], *, mtype: int = 0, flags: int | None = None,
                        prefix: tuple[str, ...] = (), allow_empty: bool = False,
                        inter: Interaction | None = None) -> dict[str, Any]:
        _validate_message(payload, prefix)
        if not allow_empty and not _payload_has_body(payload, files):
            raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
        msg = self._base_message(cid, gid, author=self.bot_user, mtype=mtype)
        msg["flags"] = flags if flags is not None else int(payload.get("flags") or 0) & _SENDABLE_FLAGS
        ephemeral = bool(msg["flags"] & FLAG_EPHEMERAL)
        msg.update({"content": payload.get("content") or "", "tts": bool(payload.get("tts")),
                    "embeds": [_embed(e) for e in payload.get("embeds") or []],
                    "components": _with_ids(payload.get("components") or []),
                    "attachments": self._attachments(payload, files, None, ephemeral),
                    "mentions": self._mentions(payload.get("content") or "", payload.get("allowed_mentions"))})
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        if payload.get("sticker_ids"):
            msg["sticker_items"] = []
        ref = payload.get("message_reference")
        if ref and ref.get("message_id"):
            target = self._find_message(int(ref["message_id"]))
            if target is None and ref.get("fail_if_not_exists", True):
                raise _form_error([(("message_reference",), "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                                    "Unknown message")])
            msg["type"] = 19
            msg["message_reference"] = {"type": ref.get("type", 0), "channel_id": str(cid),
                                        "message_id": str(ref["message_id"])} | ({"guild_id": str(gid)} if gid else {})
            if target is not None:
                msg["referenced_message"] = copy.deepcopy(target)
        if inter is not None:
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
            msg["interaction_metadata"] = self._interaction_metadata(inter)
            if inter.type == 2:
                msg["interaction"] = {"id": str(inter.id), "type": 2, "name": inter.payload["data"]["name"],
                                      "user": inter.user}
                if "member" in inter.payload:
                    msg["interaction"]["member"] = {k: v for k, v in inter.payload["member"].items()
                                                    if k not in ("user", "permissions")}
        self.messages[int(msg["id"])] = msg
        self._queue_message_event("MESSAGE_CREATE", msg)
        return msg

    def _edit_message(self, msg: dict[str, Any], payload: dict[str, Any], files: list[tuple[str, str, bytes]],
                      prefix: tuple[str, ...] = ()) -> dict[str, Any]:
        _validate_message(payload, prefix)
        new = dict(msg)
        loading = bool(msg.get("flags", 0) & FLAG_LOADING)
        if "content" in payload:
            new["content"] = payload["content"] or ""
            new["mentions"] = self._mentions(new["content"], payload.get("allowed_mentions"))
        if "embeds" in payload:
            new["embeds"] = [_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            new["components"] = _with_ids(payload["components"] or [])
        if "attachments" in payload or files:
            new["attachments"] = self._attachments(payload, files, msg.get("attachments"),
                                                   bool(msg.get("flags", 0) & FLAG_EPHEMERAL))
        flags = new.get("flags", 0) & ~FLAG_LOADING
        if payload.get("flags") is not None:
            flags = (flags & ~FLAG_SUPPRESS_EMBEDS) | (int(payload["flags"]) & FLAG_SUPPRESS_EMBEDS)
            flags |= int(payload["flags"]) & FLAG_COMPONENTS_V2
        new["flags"] = flags
        if not _has_body(new) and not new.get("poll"):
            raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
        if not loading:
            new["edited_timestamp"] = _now_iso()
        self.messages[int(new["id"])] = new
        self._queue_message_event("MESSAGE_UPDATE", new)
        return new

    def _delete_message(self, mid: int) -> None:
        msg = self.messages.pop(mid, None) or self.user_messages.pop(mid, None)
        if msg is None:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        self.deleted[mid] = msg
        data = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if msg.get("guild_id"):
            data["guild_id"] = msg["guild_id"]
        if not msg.get("flags", 0) & FLAG_EPHEMERAL:
            gid = int(msg["guild_id"]) if msg.get("guild_id") else None
            self._pending.append(("MESSAGE_DELETE", data, gid,
                                  INTENT_GUILD_MESSAGES if gid else INTENT_DIRECT_MESSAGES))

    def _queue_message_event(self, event: str, msg: dict[str, Any]) -> None:
        if not msg.get("flags", 0) & FLAG_EPHEMERAL:
            self._pending.append((event, msg, None, 0))

    async def _emit_message(self, event: str, msg: dict[str, Any]) -> None:
        """MESSAGE_CREATE / MESSAGE_UPDATE as each session would get it: guild_id and member added; content,
        embeds, attachments and components left out of other users' messages without the message content intent
        (except in DMs and when the bot is mentioned)."""
        gid = int(msg["guild_id"]) if msg.get("guild_id") else None
        for s in self._live_sessions():
            if not s.has_guild(gid) or not s.intents & (INTENT_GUILD_MESSAGES if gid else INTENT_DIRECT_MESSAGES):
                continue
            data = copy.deepcopy(msg)
            if gid is not None:
                data["member"] = self.member(gid, msg["author"], with_user=False) if not msg.get("webhook_id") \
                    else None
                if data["member"] is None:
                    del data["member"]
            mine = msg["author"]["id"] == str(self.bot_id)
            mentioned = any(u["id"] == str(self.bot_id) for u in msg.get("mentions", []))
            if not (mine or gid is None or mentioned or s.intents & INTENT_MESSAGE_CONTENT):
                data.update({"content": "", "embeds": [], "attachments": [], "components": []})
            await self._send_dispatch(s, event, data)

    async def _flush_events(self) -> None:
        pending, self._pending = self._pending, []
        for event, data, gid, intent in pending:
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
                await self._emit_message(event, data)
            else:
                await self._dispatch_async(event, data, gid, intent)

    def _interaction_metadata(self, inter: Interaction, *, followup_of: int | None = None) -> dict[str, Any]:
        md: dict[str, Any] = {"id": str(inter.id), "type": inter.type, "user": inter.user,
                              "authorizing_integration_owners": inter.payload["authorizing_integration_owners"]}
        data = inter.payload.get("data", {})
        if inter.type == 2:
            md["name"] = data.get("name")
            md["command_type"] = data.get("type", 1)
            if data.get("type") == 2:
                md["target_user"] = data["resolved"]["users"][data["target_id"]]
            elif data.get("type") == 3:
                md["target_message_id"] = data["target_id"]
        elif inter.type == 3 and inter.message_id is not None:
            md["interacted_message_id"] = str(inter.message_id)
        elif inter.type == 5:
            if inter._origin is not None:
                md["triggering_interaction_metadata"] = self._interaction_metadata(inter._origin)
        if followup_of is not None:
            md["original_response_message_id"] = str(followup_of)
        return md

    # -- REST ------------------------------------------------------------------------------------------------------
    async def _http(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        m = re.fullmatch(r"/attachments/(\d+)/(.+)", path)
        if m:
            f = self._files.get(int(m.group(1)))
            if f is None or f[0] != unquote(m.group(2)):
                return web.Response(status=404, text="Not Found")
            return web.Response(body=f[1], content_type=f[2].split(";")[0])
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return self._json(404, {"message": "404: Not Found", "code": 0}, None)
        with self._cond:
            self._inflight += 1
        try:
            return await self._api(request, path)
        finally:
            with self._cond:
                self._inflight -= 1
                self._last_answer = time.perf_counter()
                self._cond.notify_all()

    async def _api(self, request: web.Request, path: str) -> web.Response:
        route = path[len(API_PREFIX):] or "/"
        try:
            body, files = await self._read_body(request)
        except ValueError:
            return self._json(400, {"message": "400: Bad Request", "code": 50109}, None)
        rec = Request(request.method, path, route, dict(request.query), body, [(fn, b) for _, fn, b in files],
                      dict(request.headers), time.perf_counter(), [f for f, _, _ in files])
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()
        handler, groups, auth, template = None, (), True, route
        for method, rx, fn, needs_auth in _ROUTES:
            mm = rx.fullmatch(route)
            if mm and method == request.method:
                handler, groups, auth, template = fn, mm.groups(), needs_auth, rx.pattern
                break
        if handler is None:
            allowed = any(rx.fullmatch(route) for _, rx, _, _ in _ROUTES)
            status, out = (405, {"message": "405: Method Not Allowed", "code": 0}) if allowed else \
                (404, {"message": "404: Not Found", "code": 0})
            return self._finish(rec, status, out, None)
        if auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._finish(rec, 401, {"message": "401: Unauthorized", "code": 0}, template)
        with self._cond:
            failure = self._take_failure(request.method, route) or self._channel_limited(request.method, route)
        if failure is not None:
            out = {"message": failure.message, "code": failure.code}
            if failure.status == 429:
                out.update({"retry_after": failure.retry_after, "global": False})
            return self._finish(rec, failure.status, out, template, failure)
        try:
            with self._cond:
                status, out = handler(self, rec, *groups)
                self._cond.notify_all()
        except DiscordHTTPError as exc:
            with self._cond:
                self._pending.clear()
            status, out = exc.status, exc.body
        except Exception:   # noqa: BLE001 - a bug in the fake: answer 500 and keep the traceback for the test
            with self._cond:
                self._pending.clear()
                self.errors.append(traceback.format_exc())
            status, out = 500, {"message": "500: Internal Server Error (fake)", "code": 0}
        with self._cond:
            rec.status = status
            self._cond.notify_all()
        await self._flush_events()
        return self._finish(rec, status, out, template)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, str, bytes]]]:
        files: list[tuple[str, str, bytes]] = []
        if request.content_type == "multipart/form-data":
            body = None
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not hasattr(part, "read"):
                    continue
                data = await part.read()   # type: ignore[union-attr]
                if part.filename is not None:   # type: ignore[union-attr]
                    files.append((part.name or "", part.filename, bytes(data)))   # type: ignore[union-attr]
                elif part.name == "payload_json":   # type: ignore[union-attr]
                    body = json.loads(bytes(data).decode("utf-8"))
            return body, files
        raw = await request.read()
        if not raw:
            return None, files
        if request.content_type == "application/json" or raw[:1] in (b"{", b"["):
            return json.loads(raw), files
        return None, files

    def _finish(self, rec: Request, status: int, out: Any, template: str | None,
                failure: _Failure | None = None) -> web.Response:
        rec.status = status
        bucket = hashlib.md5(f"{rec.method} {template or rec.route}".encode()).hexdigest()
        reset_after = failure.retry_after if failure is not None and status == 429 else 1.0
        headers = {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0" if status == 429 else "49",
                   "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                   "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": bucket}
        if status == 429:
            headers.update({"Retry-After": str(max(1, round(reset_after))), "X-RateLimit-Scope": "user",
                            "Via": "1.1 google"})
        return self._json(status, out, headers)

    @staticmethod
    def _json(status: int, out: Any, headers: dict[str, str] | None) -> web.Response:
        if status == 204 or out is None:
            return web.Response(status=204, headers=headers)
        # exactly "application/json", no charset: discord.py's json_or_text compares the header verbatim
        return web.Response(status=status, body=_dumps(out).encode(),
                            headers={**(headers or {}), "Content-Type": "application/json"})

    # REST handlers: (self, request, *groups) -> (status, body); run under self._cond in the server's loop
    def _h_me(self, rec: Request) -> tuple[int, Any]:
        return 200, {**self.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US", "email": None,
                     "bio": "", "premium_type": 0}

    def _h_user(self, rec: Request, uid: str) -> tuple[int, Any]:
        u = self.users.get(int(uid))
        if u is None:
            raise DiscordHTTPError(404, 10013, "Unknown User")
        return 200, u

    def _h_my_guilds(self, rec: Request) -> tuple[int, Any]:
        return 200, [{"id": g["id"], "name": g["name"], "icon": None, "banner": None, "owner": False,
                      "permissions": str(BOT_PERMISSIONS), "features": []} for g in self.guilds.values()]

    def _h_app(self, rec: Request) -> tuple[int, Any]:
        install = {"scopes": ["applications.commands", "bot"], "permissions": str(BOT_PERMISSIONS)}
        return 200, {"id": str(self.app_id), "name": self.bot_name, "icon": None, "description": "",
                     "summary": "", "type": None, "hook": True, "bot_public": False, "bot_require_code_grant": False,
                     "verify_key": hashlib.sha256(str(self.app_id).encode()).hexdigest(),
                     "flags": self._app_flags(), "owner": self.owner, "team": None, "bot": self.bot_user,
                     "is_monetized": False, "is_verified": False, "is_discoverable": False,
                     "storefront_available": False, "redirect_uris": [], "interactions_endpoint_url": None,
                     "role_connections_verification_url": None, "tags": [], "install_params": install,
                     "integration_types_config": {"0": {"oauth2_install_params": install}, "1": {}},
                     "approximate_guild_count": len(self.guilds), "approximate_user_install_count": 0,
                     "explicit_content_filter": 1}

    def _h_gateway(self, rec: Request) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    def _h_gateway_bot(self, rec: Request) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url, "shards": 1,
                     "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000,
                                             "max_concurrency": 1}}

    def _check_app(self, app_id: str) -> None:
        if int(app_id) != self.app_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")

    def _command_list(self, guild_id: str | None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.commands
        if int(guild_id) not in self.guilds:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return self.guild_commands.setdefault(int(guild_id), [])

    def _normalise_command(self, c: dict[str, Any], existing: list[dict[str, Any]],
                           guild_id: str | None) -> dict[str, Any]:
        t = c.get("type", 1)
        prev = next((p for p in existing if p["name"] == c.get("name") and p.get("type", 1) == t), None)
        cmd: dict[str, Any] = {"id": prev["id"] if prev else str(self._ids()), "application_id": str(self.app_id),
                               "version": "", "default_member_permissions": c.get("default_member_permissions"),
                               "type": t, "name": c["name"], "name_localizations": c.get("name_localizations"),
                               "description": c.get("description") or "",
                               "description_localizations": c.get("description_localizations"),
                               "contexts": c.get("contexts"), "integration_types": c.get("integration_types") or [0],
                               "nsfw": bool(c.get("nsfw", False))}
        if guild_id is None:
            cmd["dm_permission"] = c.get("dm_permission", True)
        else:
            cmd["guild_id"] = str(guild_id)
        if c.get("options"):
            cmd["options"] = copy.deepcopy(c["options"])
        if c.get("handler") is not None:
            cmd["handler"] = c["handler"]
        same = prev is not None and {k: v for k, v in prev.items() if k != "version"} == \
            {k: v for k, v in cmd.items() if k != "version"}
        cmd["version"] = prev["version"] if same and prev else str(self._ids())
        return cmd

    def _h_commands_get(self, rec: Request, app_id: str, guild_id: str | None = None) -> tuple[int, Any]:
        self._check_app(app_id)
        return 200, self._command_list(guild_id)

    def _h_commands_put(self, rec: Request, app_id: str, guild_id: str | None = None) -> tuple[int, Any]:
        self._check_app(app_id)
        body = rec.json
        if not isinstance(body, list):
            raise _form_error([((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")])
        _validate_commands(body)
        existing = self._command_list(guild_id)
        out = [self._normalise_command(c, existing, guild_id) for c in body]
        if guild_id is None:
            self.commands = out
            self.commands_synced += 1
        else:
            self.guild_commands[int(guild_id)] = out
        return 200, out

    def _h_command_post(self, rec: Request, app_id: str, guild_id: str | None = None) -> tuple[int, Any]:
        self._check_app(app_id)
        _validate_commands([rec.json or {}])
        existing = self._command_list(guild_id)
        cmd = self._normalise_command(rec.json, existing, guild_id)
        new = [c for c in existing if c["id"] != cmd["id"]] + [cmd]
        if guild_id is None:
            self.commands = new
        else:
            self.guild_commands[int(guild_id)] = new
        return (200 if len(new) == len(existing) else 201), cmd

    def _h_command_one(self, rec: Request, app_id: str, *rest: str | None) -> tuple[int, Any]:
        self._check_app(app_id)
        guild_id, cmd_id = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
        existing = self._command_list(guild_id)
        cmd = next((c for c in existing if c["id"] == cmd_id), None)
        if cmd is None:
            raise DiscordHTTPError(404, 10063, "Unknown application command")
        if rec.method == "DELETE":
            existing.remove(cmd)
            return 204, None
        if rec.method == "PATCH":
            merged = {**cmd, **(rec.json or {})}
            _validate_commands([merged])
            new = self._normalise_command(merged, existing, guild_id)
            existing[existing.index(cmd)] = new
            return 200, new
        return 200, cmd

    def _interaction(self, iid: str, token: str) -> Interaction:
        inter = self.interactions.get(int(iid))
        if inter is None or inter.token != token:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        return inter

    def _h_callback(self, rec: Request, iid: str, token: str) -> tuple[int, Any]:
        inter = self._interaction(iid, token)
        now = time.perf_counter()
        if self.callback_deadline_s is not None and inter.dispatched_at is not None and \
                now - inter.dispatched_at > self.callback_deadline_s:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if inter.response is not None:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        body = rec.json or {}
        rtype = body.get("type")
        data = body.get("data") or {}
        files = list(zip(rec.file_fields, (f for f, _ in rec.files), (b for _, b in rec.files)))
        allowed = {1: {1}, 2: {4, 5, 9, 10, 12}, 3: {4, 5, 6, 7, 9, 10, 12}, 4: {8}, 5: {4, 5, 6, 7, 10, 12}}
        if rtype not in allowed.get(inter.type, set()) or (rtype in (6, 7) and inter.message_id is None):
            raise _form_error([(("type",), "INTERACTION_RESPONSE_TYPE_INVALID",
                                f"Interaction response type {rtype} is invalid for interaction type "
                                f"{inter.type}")])
        gid, cid = inter.guild_id, inter.channel_id
        msg: dict[str, Any] | None = None
        if rtype in (4, 5):
            mtype = {1: 20, 2: 23, 3: 23}.get(inter.payload["data"].get("type", 1), 20) if inter.type == 2 else 19
            flags = (int(data.get("flags") or 0) & (_SENDABLE_FLAGS | FLAG_EPHEMERAL)) | \
                (FLAG_LOADING if rtype == 5 else 0)
            payload = dict(data) if rtype == 4 else {}
            if mtype == 19 and inter.message_id is not None:
                payload["message_reference"] = {"type": 0, "message_id": str(inter.message_id),
                                                "fail_if_not_exists": False}
            msg = self._create_message(cid, gid, payload, files, mtype=mtype, flags=flags, prefix=("data",),
                                       allow_empty=rtype == 5, inter=inter)
            inter.original_id = int(msg["id"])
        elif rtype in (6, 7):
            inter.original_id = inter.message_id
            if rtype == 7:
                current = self.messages.get(inter.message_id)   # type: ignore[arg-type]
                if current is None:
                    current = copy.deepcopy(inter.payload["message"])
                self._edit_message(current, data, files, prefix=("data",))
        elif rtype == 8:
            choices = data.get("choices")
            if not isinstance(choices, list) or len(choices) > 25:
                raise _form_error([(("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")])
        elif rtype == 9:
            problems = []
            if not data.get("custom_id") or len(data["custom_id"]) > 100:
                problems.append((("data", "custom_id"), *_too_long(100)))
            if not data.get("title") or len(data["title"]) > 45:
                problems.append((("data", "title"), *_too_long(45)))
            if not data.get("components") or len(data["components"]) > 5:
                problems.append((("data", "components"), *_too_long(5)))
            if problems:
                raise _form_error(problems)
            self.modals.append((copy.deepcopy(data), inter))
        inter.response = body
        inter.response_files = list(rec.files)
        if inter.dispatched_at is not None:
            inter.response_ms = (now - inter.dispatched_at) * 1000
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        cb: dict[str, Any] = {"interaction": {"id": str(inter.id), "type": inter.type}, "resource": {"type": rtype}}
        if msg is not None:
            cb["interaction"].update({"response_message_id": msg["id"],
                                      "response_message_loading": rtype == 5,
                                      "response_message_ephemeral": bool(msg["flags"] & FLAG_EPHEMERAL)})
            cb["resource"]["message"] = msg
        return 200, cb

    def _webhook(self, app_id: str, token: str) -> Interaction:
        if int(app_id) != self.app_id:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        inter = next((i for i in self.interactions.values() if i.token == token), None)
        if inter is None or inter.response is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        return inter

    def _webhook_message(self, inter: Interaction, mid: str) -> dict[str, Any]:
        if mid == "@original":
            if inter.original_id is None or self._find_message(inter.original_id) is None:
                raise DiscordHTTPError(404, 10008, "Unknown Message")
            return self._find_message(inter.original_id)   # type: ignore[return-value]
        if int(mid) != inter.original_id and int(mid) not in inter._followup_ids or int(mid) not in self.messages:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return self.messages[int(mid)]

    def _h_webhook_message(self, rec: Request, app_id: str, token: str, mid: str) -> tuple[int, Any]:
        inter = self._webhook(app_id, token)
        msg = self._webhook_message(inter, mid)
        if rec.method == "GET":
            return 200, msg
        if rec.method == "DELETE":
            self._delete_message(int(msg["id"]))
            return 204, None
        files = list(zip(rec.file_fields, (f for f, _ in rec.files), (b for _, b in rec.files)))
        return 200, self._edit_message(msg, rec.json or {}, files)

    def _h_followup(self, rec: Request, app_id: str, token: str) -> tuple[int, Any]:
        inter = self._webhook(app_id, token)
        payload = rec.json or {}
        files = list(zip(rec.file_fields, (f for f, _ in rec.files), (b for _, b in rec.files)))
        original = self._find_message(inter.original_id)
        if original is not None and original.get("flags", 0) & FLAG_LOADING and int(original["id"]) in self.messages:
            # the first followup after a "thinking" defer replaces the loading message (keeping its ephemerality)
            if not _payload_has_body(payload, files):
                raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
            msg = self._edit_message(original, {k: v for k, v in payload.items() if k != "flags"}, files)
        else:
            flags = int(payload.get("flags") or 0) & (_SENDABLE_FLAGS | FLAG_EPHEMERAL)
            mtype = 20 if inter.type == 2 and inter.payload["data"].get("type", 1) == 1 else \
                23 if inter.type == 2 else 0
            msg = self._create_message(inter.channel_id, inter.guild_id, payload, files, mtype=mtype, flags=flags,
                                       inter=inter)
            msg["interaction_metadata"] = self._interaction_metadata(inter, followup_of=inter.original_id)
        inter._followup_ids.append(int(msg["id"]))
        if rec.query.get("wait") in ("0", "false", "False"):
            return 204, None
        return 200, msg

    def _h_channel(self, rec: Request, cid: str) -> tuple[int, Any]:
        ch, gid = self._channel(int(cid))
        return 200, ch

    def _h_channel_messages_post(self, rec: Request, cid: str) -> tuple[int, Any]:
        ch, gid = self._channel(int(cid))
        files = list(zip(rec.file_fields, (f for f, _ in rec.files), (b for _, b in rec.files)))
        msg = self._create_message(int(cid), gid, rec.json or {}, files)
        return 200, msg

    def _h_channel_messages_get(self, rec: Request, cid: str) -> tuple[int, Any]:
        self._channel(int(cid))
        limit = min(int(rec.query.get("limit", 50)), 100)
        msgs = [m for m in list(self.messages.values()) + list(self.user_messages.values())
                if int(m["channel_id"]) == int(cid) and not m.get("flags", 0) & FLAG_EPHEMERAL]
        msgs.sort(key=lambda m: int(m["id"]), reverse=True)
        if rec.query.get("before"):
            msgs = [m for m in msgs if int(m["id"]) < int(rec.query["before"])]
        if rec.query.get("after"):
            msgs = [m for m in msgs if int(m["id"]) > int(rec.query["after"])]
        return 200, msgs[:limit]

    def _channel_message(self, cid: str, mid: str) -> dict[str, Any]:
        self._channel(int(cid))
        msg = self._find_message(int(mid))
        if msg is None or int(msg["channel_id"]) != int(cid) or msg.get("flags", 0) & FLAG_EPHEMERAL:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return msg

    def _h_channel_message(self, rec: Request, cid: str, mid: str) -> tuple[int, Any]:
        msg = self._channel_message(cid, mid)
        if rec.method == "GET":
            return 200, msg
        if rec.method == "DELETE":
            self._delete_message(int(mid))
            return 204, None
        if msg["author"]["id"] != str(self.bot_id) or msg.get("webhook_id"):
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        files = list(zip(rec.file_fields, (f for f, _ in rec.files), (b for _, b in rec.files)))
        return 200, self._edit_message(msg, rec.json or {}, files)

    def _h_own_reaction(self, rec: Request, cid: str, mid: str, emoji: str) -> tuple[int, Any]:
        msg = self._channel_message(cid, mid)
        em = _emoji(unquote(emoji))
        add = rec.method == "PUT"
        self._count_reaction(int(mid), em, +1 if add else -1, me=True)
        gid = int(msg["guild_id"]) if msg.get("guild_id") else None
        data: dict[str, Any] = {"user_id": str(self.bot_id), "channel_id": cid, "message_id": mid, "emoji": em,
                                "burst": False, "type": 0}
        if add:
            data.update({"burst_colors": [], "message_author_id": msg["author"]["id"]})
        if gid is not None:
            data["guild_id"] = str(gid)
            if add:
                data["member"] = self.member(gid, self.bot_user)
        self._pending.append(("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", data, gid,
                              INTENT_GUILD_MESSAGE_REACTIONS if gid else INTENT_DIRECT_MESSAGE_REACTIONS))
        return 204, None

    def _h_typing(self, rec: Request, cid: str) -> tuple[int, Any]:
        self._channel(int(cid))
        return 204, None

    def _h_create_dm(self, rec: Request) -> tuple[int, Any]:
        rid = (rec.json or {}).get("recipient_id")
        if rid is None:
            raise _form_error([(("recipient_id",), "BASE_TYPE_REQUIRED", "This field is required")])
        return 200, self.dm_channel(int(rid))

    def _h_guild(self, rec: Request, gid: str) -> tuple[int, Any]:
        g = self.guilds.get(int(gid))
        if g is None:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        out = {k: v for k, v in g.items() if k != "channels"}
        if rec.query.get("with_counts") in ("1", "true"):
            out.update({"approximate_member_count": len(self.members.get(int(gid), {})),
                        "approximate_presence_count": 0})
        return 200, out

    def _h_guild_channels(self, rec: Request, gid: str) -> tuple[int, Any]:
        if int(gid) not in self.guilds:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        return 200, self.guilds[int(gid)]["channels"]

    def _h_guild_member(self, rec: Request, gid: str, uid: str) -> tuple[int, Any]:
        if int(gid) not in self.guilds:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")
        m = self.members.get(int(gid), {}).get(int(uid))
        if m is None:
            raise DiscordHTTPError(404, 10007, "Unknown Member")
        return 200, m

    def _h_empty_list(self, rec: Request, *_: str) -> tuple[int, Any]:
        return 200, []

    def _h_app_emojis(self, rec: Request, app_id: str) -> tuple[int, Any]:
        self._check_app(app_id)
        return 200, {"items": []}


# -- payload helpers -------------------------------------------------------------------------------------------------
def _emoji(emoji: str) -> dict[str, Any]:
    m = re.fullmatch(r"<?(a)?:?([\w~]+):(\d+)>?", emoji)
    if m:
        return {"id": m.group(3), "name": m.group(2), "animated": bool(m.group(1))}
    return {"id": None, "name": emoji}


def _walk(components: list[dict[str, Any]]) -> Any:
    for c in components:
        yield c
        for key in ("components",):
            if isinstance(c.get(key), list):
                yield from _walk(c[key])
        for key in ("component", "accessory"):
            if isinstance(c.get(key), dict):
                yield from _walk([c[key]])


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    return next((c for c in _walk(components) if c.get("custom_id") == custom_id), None)


def _with_ids(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Components as Discord echoes them: every one with a numeric ``id`` (assigned in order where missing)."""
    out = copy.deepcopy(components)
    taken = {c["id"] for c in _walk(out) if isinstance(c.get("id"), int)}
    counter = itertools.count(1)
    for c in _walk(out):
        if not isinstance(c.get("id"), int):
            n = next(counter)
            while n in taken:
                n = next(counter)
            c["id"] = n
    return out


def _submitted(c: dict[str, Any], fields: dict[str, str]) -> dict[str, Any] | None:
    """One modal component as a submission carries it."""
    t = c.get("type")
    if t == 1:
        inner = [x for x in (_submitted(i, fields) for i in c.get("components", [])) if x is not None]
        return {"type": 1, "id": c.get("id", 0), "components": inner}
    if t == 18:
        inner = _submitted(c["component"], fields)
        return None if inner is None else {"type": 18, "id": c.get("id", 0), "component": inner}
    if t == 10:
        return {"type": 10, "id": c.get("id", 0)}
    if t == 4:
        value = fields.get(c["custom_id"], c.get("value") or "")
        if c.get("required", True) and not value:
            raise ValueError(f"text input {c['custom_id']!r} is required")
        if len(value) > c.get("max_length", 4000) or len(value) < (c.get("min_length") or 0) and value:
            raise ValueError(f"text input {c['custom_id']!r}: {len(value)} characters is outside "
                             f"{c.get('min_length', 0)}..{c.get('max_length', 4000)}")
        return {"type": 4, "id": c.get("id", 0), "custom_id": c["custom_id"], "value": value}
    if t in (3, 5, 6, 7, 8, 19, 22):
        v = fields.get(c["custom_id"], [])
        return {"type": t, "id": c.get("id", 0), "custom_id": c["custom_id"],
                "values": [v] if isinstance(v, str) else list(v)}
    return None


def _embed(e: dict[str, Any]) -> dict[str, Any]:
    out = dict(e)
    out.setdefault("type", "rich")
    out.setdefault("content_scan_version", 0)
    return out


def _payload_has_body(payload: dict[str, Any], files: list[Any]) -> bool:
    return bool(payload.get("content") or payload.get("embeds") or payload.get("components") or files or
                payload.get("attachments") or payload.get("sticker_ids") or payload.get("poll"))


def _validate_message(payload: dict[str, Any], prefix: tuple[str, ...] = ()) -> None:
    """Discord's limits on a message body; raises 50035 with the paths of every problem."""
    problems: list[tuple[tuple[str, ...], str, str]] = []
    content = payload.get("content")
    if content is not None and len(str(content)) > 2000:
        problems.append((("content",), *_too_long(2000)))
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        problems.append((("embeds",), *_too_long(10)))
    total = 0
    for i, e in enumerate(embeds):
        p = ("embeds", str(i))
        for key, limit in (("title", 256), ("description", 4096)):
            if e.get(key) is not None and len(str(e[key])) > limit:
                problems.append((p + (key,), *_too_long(limit)))
            total += len(str(e.get(key) or ""))
        for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = str((e.get(key) or {}).get(sub) or "")
            total += len(text)
            if len(text) > limit:
                problems.append((p + (key, sub), *_too_long(limit)))
        fields = e.get("fields") or []
        if len(fields) > 25:
            problems.append((p + ("fields",), *_too_long(25)))
        for j, f in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = str(f.get(key) or "")
                total += len(text)
                if not text:
                    problems.append((p + ("fields", str(j), key), "BASE_TYPE_REQUIRED", "This field is required"))
                elif len(text) > limit:
                    problems.append((p + ("fields", str(j), key), *_too_long(limit)))
    if total > 6000:
        problems.append((("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"))
    components = payload.get("components") or []
    v2 = int(payload.get("flags") or 0) & FLAG_COMPONENTS_V2
    if not v2 and len(components) > 5:
        problems.append((("components",), *_too_long(5)))
    seen: set[str] = set()
    for i, row in enumerate(components if not v2 else []):
        p = ("components", str(i))
        if row.get("type") != 1:
            problems.append((p + ("type",), "COMPONENT_LAYOUT_INVALID", "The specified component type is invalid "
                             "in this context"))
            continue
        children = row.get("components") or []
        if not children or len(children) > 5:
            problems.append((p + ("components",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."))
        if any(c.get("type") != 2 for c in children) and len(children) > 1:
            problems.append((p + ("components",), "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                             "The specified component exceeds the maximum width"))
        for j, c in enumerate(children):
            cp = p + ("components", str(j))
            cid = c.get("custom_id")
            if c.get("type") == 2 and c.get("style") == 5:
                if not c.get("url"):
                    problems.append((cp + ("url",), "BASE_TYPE_REQUIRED", "This field is required"))
            elif c.get("type") == 2 and c.get("style") == 6:
                pass
            elif not cid:
                problems.append((cp + ("custom_id",), "BASE_TYPE_REQUIRED", "This field is required"))
            if cid is not None:
                if len(cid) > 100:
                    problems.append((cp + ("custom_id",), *_too_long(100)))
                if cid in seen:
                    problems.append((cp + ("custom_id",), "COMPONENT_CUSTOM_ID_DUPLICATED",
                                     "Component custom id cannot be duplicated"))
                seen.add(cid)
            if c.get("label") is not None and len(c["label"]) > 80:
                problems.append((cp + ("label",), *_too_long(80)))
            if c.get("type") == 3 and len(c.get("options") or []) > 25:
                problems.append((cp + ("options",), *_too_long(25)))
    if problems:
        raise _form_error(problems, prefix)


def _validate_commands(cmds: list[dict[str, Any]]) -> None:
    problems: list[tuple[tuple[str, ...], str, str]] = []
    seen: set[tuple[int, str]] = set()
    for i, c in enumerate(cmds):
        p = (str(i),)
        t = c.get("type", 1)
        name = c.get("name") or ""
        if t == 1:
            if not _COMMAND_NAME.fullmatch(name) or name != name.lower():
                problems.append((p + ("name",), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
            if not 1 <= len(c.get("description") or "") <= 100:
                problems.append((p + ("description",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."))
        elif not 1 <= len(name) <= 32:
            problems.append((p + ("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."))
        elif c.get("description"):
            problems.append((p + ("description",), "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID",
                             "Context menu commands cannot have description"))
        if (t, name) in seen:
            problems.append((p + ("name",), "APPLICATION_COMMANDS_DUPLICATE_NAME",
                             "Application command names must be unique"))
        seen.add((t, name))
        _validate_options(c.get("options") or [], p + ("options",), problems)
    for t, limit in ((1, 100), (2, 15), (3, 15)):
        if sum(1 for c in cmds if c.get("type", 1) == t) > limit:
            problems.append(((), "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."))
    if problems:
        raise _form_error(problems)


def _validate_options(options: list[dict[str, Any]], p: tuple[str, ...],
                      problems: list[tuple[tuple[str, ...], str, str]]) -> None:
    if len(options) > 25:
        problems.append((p, *_too_long(25)))
    optional_seen = False
    names: set[str] = set()
    for j, o in enumerate(options):
        op = p + (str(j),)
        name = o.get("name") or ""
        if not _COMMAND_NAME.fullmatch(name) or name != name.lower():
            problems.append((op + ("name",), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"))
        if name in names:
            problems.append((op + ("name",), "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME",
                             "Command option names must be unique"))
        names.add(name)
        if not 1 <= len(o.get("description") or "") <= 100:
            problems.append((op + ("description",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."))
        if len(o.get("choices") or []) > 25:
            problems.append((op + ("choices",), *_too_long(25)))
        if o.get("type") in (1, 2):
            _validate_options(o.get("options") or [], op + ("options",), problems)
            continue
        if o.get("required"):
            if optional_seen:
                problems.append((op + ("required",), "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                 "Required options must be placed before non-required options"))
        else:
            optional_seen = True


_A = r"(\d+)"
_T = r"([^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]], bool]] = [
    (m, re.compile(rx), fn, auth) for m, rx, fn, auth in [
        ("GET", r"/users/@me", FakeDiscord._h_me, True),
        ("GET", r"/users/@me/guilds", FakeDiscord._h_my_guilds, True),
        ("POST", r"/users/@me/channels", FakeDiscord._h_create_dm, True),
        ("GET", rf"/users/{_A}", FakeDiscord._h_user, True),
        ("GET", r"/oauth2/applications/@me", FakeDiscord._h_app, True),
        ("GET", r"/applications/@me", FakeDiscord._h_app, True),
        ("GET", r"/gateway", FakeDiscord._h_gateway, False),
        ("GET", r"/gateway/bot", FakeDiscord._h_gateway_bot, True),
        ("GET", rf"/applications/{_A}/commands", FakeDiscord._h_commands_get, True),
        ("PUT", rf"/applications/{_A}/commands", FakeDiscord._h_commands_put, True),
        ("POST", rf"/applications/{_A}/commands", FakeDiscord._h_command_post, True),
        ("GET", rf"/applications/{_A}/commands/{_A}", FakeDiscord._h_command_one, True),
        ("PATCH", rf"/applications/{_A}/commands/{_A}", FakeDiscord._h_command_one, True),
        ("DELETE", rf"/applications/{_A}/commands/{_A}", FakeDiscord._h_command_one, True),
        ("GET", rf"/applications/{_A}/guilds/{_A}/commands", FakeDiscord._h_commands_get, True),
        ("PUT", rf"/applications/{_A}/guilds/{_A}/commands", FakeDiscord._h_commands_put, True),
        ("POST", rf"/applications/{_A}/guilds/{_A}/commands", FakeDiscord._h_command_post, True),
        ("GET", rf"/applications/{_A}/guilds/{_A}/commands/{_A}", FakeDiscord._h_command_one, True),
        ("PATCH", rf"/applications/{_A}/guilds/{_A}/commands/{_A}", FakeDiscord._h_command_one, True),
        ("DELETE", rf"/applications/{_A}/guilds/{_A}/commands/{_A}", FakeDiscord._h_command_one, True),
        ("GET", rf"/applications/{_A}/entitlements", FakeDiscord._h_empty_list, True),
        ("GET", rf"/applications/{_A}/emojis", FakeDiscord._h_app_emojis, True),
        ("POST", rf"/interactions/{_A}/{_T}/callback", FakeDiscord._h_callback, False),
        ("POST", rf"/webhooks/{_A}/{_T}", FakeDiscord._h_followup, False),
        ("GET", rf"/webhooks/{_A}/{_T}/messages/(@original|\d+)", FakeDiscord._h_webhook_message, False),
        ("PATCH", rf"/webhooks/{_A}/{_T}/messages/(@original|\d+)", FakeDiscord._h_webhook_message, False),
        ("DELETE", rf"/webhooks/{_A}/{_T}/messages/(@original|\d+)", FakeDiscord._h_webhook_message, False),
        ("GET", rf"/channels/{_A}", FakeDiscord._h_channel, True),
        ("POST", rf"/channels/{_A}/typing", FakeDiscord._h_typing, True),
        ("GET", rf"/channels/{_A}/messages", FakeDiscord._h_channel_messages_get, True),
        ("POST", rf"/channels/{_A}/messages", FakeDiscord._h_channel_messages_post, True),
        ("GET", rf"/channels/{_A}/messages/{_A}", FakeDiscord._h_channel_message, True),
        ("PATCH", rf"/channels/{_A}/messages/{_A}", FakeDiscord._h_channel_message, True),
        ("DELETE", rf"/channels/{_A}/messages/{_A}", FakeDiscord._h_channel_message, True),
        ("PUT", rf"/channels/{_A}/messages/{_A}/reactions/{_T}/@me", FakeDiscord._h_own_reaction, True),
        ("DELETE", rf"/channels/{_A}/messages/{_A}/reactions/{_T}/@me", FakeDiscord._h_own_reaction, True),
        ("GET", rf"/guilds/{_A}", FakeDiscord._h_guild, True),
        ("GET", rf"/guilds/{_A}/channels", FakeDiscord._h_guild_channels, True),
        ("GET", rf"/guilds/{_A}/members/{_A}", FakeDiscord._h_guild_member, True),
    ]
]
