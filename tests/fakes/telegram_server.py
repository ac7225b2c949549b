"""A local fake of the Telegram Bot API, two ways:

* :class:`FakeBotRequest` — a ``telegram.request.BaseRequest`` that python-telegram-bot uses instead of HTTP, for
  in-process tests (``ApplicationBuilder().request(...)``);
* :class:`FakeTelegramServer` — a real HTTP server on 127.0.0.1 serving ``/bot<token>/<method>`` and
  ``/file/bot<token>/<path>`` (with long-polling ``getUpdates``), for a bot running in another process
  (``TELEGRAM_API_BASE_URL``).

Both answer through one :class:`FakeBotApi`, which records every call as ``(method, params)`` and answers with the
Bot API's JSON (``{"ok": true, "result": ...}``; errors as ``{"ok": false, "error_code": 400, "description": ...}``
with the HTTP status), Message objects shaped like Telegram's. :class:`UpdateFactory` builds incoming updates (text
with entities in UTF-16 offsets, photos, documents, callback queries, message reactions) as Telegram sends them.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from telegram.request import BaseRequest, RequestData

TOKEN = "123456789:AAFakeTokenForTestsOnly-abcdefghijklmno"
BOT_ID = 123456789
BOT_USERNAME = "CrateDiggerTestBot"
_JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "reply_parameters", "entities", "caption_entities",
                "link_preview_options", "scope"}
_INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "from_chat_id"}


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    at: float                      # time.perf_counter() when the call arrived
    result: Any = None


@dataclass
class _Failure:
    code: int
    description: str
    times: int | None
    predicate: Callable[[dict[str, Any]], bool] | None = None


def normalise_params(raw: dict[str, Any]) -> dict[str, Any]:
    """Parameters as the Bot API reads them: JSON-encoded fields decoded, ids as ints (form posts are strings)."""
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, str) and k in _JSON_FIELDS:
            try:
                v = json.loads(v)
            except ValueError:
                pass
        elif isinstance(v, str) and k in _INT_FIELDS and re.fullmatch(r"-?\d+", v):
            v = int(v)
        elif isinstance(v, str) and v in ("true", "false") and k not in ("text", "caption"):
            v = v == "true"
        out[k] = v
    return out


class FakeBotApi:
    """Bot API semantics shared by the in-process request and the HTTP server. Thread-safe."""

    def __init__(self, token: str = TOKEN, bot_id: int = BOT_ID, username: str = BOT_USERNAME) -> None:
        self.token, self.bot_id, self.username = token, bot_id, username
        self.calls: list[ApiCall] = []
        self.uploads: dict[str, bytes] = {}        # "<method>:<field>" → the last uploaded bytes
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}   # what the bot sent, as Telegram returns it
        self._files: dict[str, tuple[str, bytes]] = {}              # file_id → (file_path, bytes)
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(5000)
        self._cond = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self.delivered: set[int] = set()       # update ids a getUpdates answer has carried to the bot
        self.closed = False

    # -- set-up ------------------------------------------------------------------------------------------
    @property
    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Crate Digger", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def add_file(self, data: bytes, file_path: str, file_id: str | None = None) -> str:
        file_id = file_id or f"FILE{next(self._ids)}"
        with self._cond:
            self._files[file_id] = (file_path, data)
        return file_id

    def fail(self, method: str, code: int = 400, description: str = "Bad Request: failed", times: int | None = 1,
             when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """The next ``times`` calls of ``method`` (matching ``when``) answer an error."""
        with self._cond:
            self._failures.setdefault(method, []).append(_Failure(code, description, times, when))

    def push_update(self, update: dict[str, Any]) -> None:
        with self._cond:
            self._updates.append(update)
            self._cond.notify_all()

    # -- inspection --------------------------------------------------------------------------------------
    def calls_of(self, *methods: str) -> list[ApiCall]:
        with self._cond:
            return [c for c in self.calls if c.method in methods]

    def methods(self) -> list[str]:
        with self._cond:
            return [c.method for c in self.calls]

    def clear(self) -> None:
        with self._cond:
            self.calls.clear()

    def wait_delivered(self, update_id: int, timeout: float = 10.0) -> None:
        """Until a getUpdates answer has carried ``update_id`` to the bot (not yet confirmed: that is the next
        getUpdates with a higher offset)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while update_id not in self.delivered:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"update {update_id} was not delivered within {timeout} s")
                self._cond.wait(min(left, 0.05))

    def wait_for(self, method: str, predicate: Callable[[ApiCall], bool] | None = None,
                 timeout: float = 10.0) -> ApiCall:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for c in self.calls:
                    if c.method == method and (predicate is None or predicate(c)):
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {method} call within {timeout} s; calls: {[c.method for c in self.calls]}")
                self._cond.wait(min(left, 0.2))

    # -- answering ---------------------------------------------------------------------------------------
    def _failure(self, method: str, params: dict[str, Any]) -> _Failure | None:
        for f in self._failures.get(method, []):
            if f.times is not None and f.times <= 0:
                continue
            if f.predicate is not None and not f.predicate(params):
                continue
            if f.times is not None:
                f.times -= 1
            return f
        return None

    def _message(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        chat = {"id": chat_id, "type": "private", "first_name": "User"} if chat_id > 0 else \
            {"id": chat_id, "type": "supergroup", "title": "Record Club"}
        sender = {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")}
        msg = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat, "from": sender}
        msg.update({k: v for k, v in fields.items() if v is not None})
        self.messages[(chat_id, msg["message_id"])] = msg
        return msg

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, Bot API JSON) for one call."""
        params = normalise_params(params)
        with self._cond:
            call = ApiCall(method, params, time.perf_counter())
            self.calls.append(call)
            fail = self._failure(method, params) or _too_long(method, params)
            if fail is not None:
                body = {"ok": False, "error_code": fail.code, "description": fail.description}
                self._cond.notify_all()
                return fail.code, body
            try:
                result = self._result(method, params)
            except KeyError as exc:
                self._cond.notify_all()
                return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc.args[0]}"}
            call.result = result
            self._cond.notify_all()
        return 200, {"ok": True, "result": result}

    def _result(self, method: str, p: dict[str, Any]) -> Any:
        markup = p.get("reply_markup")
        reply_to = (p.get("reply_parameters") or {}).get("message_id")
        if method == "getMe":
            return self.me
        if method in ("setMyCommands", "deleteWebhook", "setWebhook", "answerCallbackQuery", "sendChatAction",
                      "deleteMessage", "close", "logOut"):
            if method == "deleteMessage" and (int(p["chat_id"]), int(p["message_id"])) in self.messages:
                self.messages.pop((int(p["chat_id"]), int(p["message_id"])))
            return True
        if method == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if method == "sendMessage":
            return self._message(int(p["chat_id"]), text=p["text"], reply_markup=markup,
                                 reply_to_message=self._stub(p["chat_id"], reply_to))
        if method == "sendPhoto":
            return self._message(int(p["chat_id"]), caption=p.get("caption"), reply_markup=markup,
                                 photo=[{"file_id": f"PHOTO{next(self._ids)}", "file_unique_id": "u", "width": 320,
                                         "height": 320, "file_size": 1000}],
                                 reply_to_message=self._stub(p["chat_id"], reply_to))
        if method in ("editMessageText", "editMessageCaption", "editMessageReplyMarkup"):
            key = (int(p["chat_id"]), int(p["message_id"]))
            msg = dict(self.messages.get(key) or self._message(*key))
            if method == "editMessageText":
                msg["text"] = p["text"]
            elif method == "editMessageCaption":
                msg["caption"] = p.get("caption")
            msg.pop("reply_markup", None)
            if markup is not None:
                msg["reply_markup"] = markup
            msg["edit_date"] = int(time.time())
            self.messages[key] = msg
            return msg
        if method == "getFile":
            if p["file_id"] not in self._files:   # what the real Bot API answers
                raise KeyError("invalid file_id")
            path, data = self._files[p["file_id"]]
            return {"file_id": p["file_id"], "file_unique_id": f"U{p['file_id']}", "file_size": len(data),
                    "file_path": path}
        if method == "getUpdates":
            offset = int(p.get("offset") or 0)
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            return list(self._updates[: int(p.get("limit") or 100)])
        raise KeyError(f"method {method} not found")

    def _stub(self, chat_id: Any, message_id: Any) -> dict[str, Any] | None:
        if not message_id:
            return None
        return {"message_id": int(message_id), "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "supergroup"}}

    def file_bytes(self, file_path: str) -> bytes | None:
        with self._cond:
            for path, data in self._files.values():
                if path == file_path:
                    return data
        return None

    def take_updates(self, offset: int, timeout: float, limit: int = 100) -> list[dict[str, Any]]:
        """getUpdates with long polling: waits up to ``timeout`` for an update at or after ``offset``."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while True:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self.closed:
                    out = list(self._updates[:limit])
                    self.delivered.update(u["update_id"] for u in out)
                    self._cond.notify_all()
                    return out
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(min(left, 0.1))


class FakeBotRequest(BaseRequest):
    """python-telegram-bot's HTTP layer replaced: every Bot API call goes to a :class:`FakeBotApi`."""

    def __init__(self, api: FakeBotApi, delay: float = 0.0) -> None:
        self.api, self.delay = api, delay
        self.initialized = self.shut_down = False

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        self.initialized = True

    async def shutdown(self) -> None:
        self.shut_down = True

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None, connect_timeout: Any = None,
                         pool_timeout: Any = None) -> tuple[int, bytes]:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        if "/file/bot" in url:   # a file download: /file/bot<token>/<file_path>
            path = unquote(url.split("/file/bot", 1)[1].split("/", 1)[1])
            data = self.api.file_bytes(path)
            return ((200, data) if data is not None
                    else (404, b'{"ok":false,"error_code":404,"description":"Not Found"}'))
        api_method = url.rsplit("/", 1)[1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data is not None else {}
        if request_data is not None and request_data.contains_files:
            for name, (file_name, content, mime) in request_data.multipart_data.items():
                data = content if isinstance(content, bytes) else content.read()
                self.api.uploads[f"{api_method}:{name}"] = data
                params[name] = {"upload": file_name, "bytes": len(data), "mime": mime}
        status, body = self.api.handle(api_method, params)
        return status, json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, fmt: str, *args: Any) -> None:   # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _params(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        params: dict[str, Any] = dict(parse_qsl(self.path.split("?", 1)[1])) if "?" in self.path else {}
        if not raw:
            return params
        if ctype.startswith("application/json"):
            params.update(json.loads(raw))
        elif ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                if part.get_filename():
                    self.server.api.uploads[f"{self.path.rsplit('/', 1)[1]}:{name}"] = payload
                    params[name] = {"upload": part.get_filename(), "bytes": len(payload)}
                else:
                    params[name] = payload.decode("utf-8")
        else:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return params

    def _route(self) -> None:
        api = self.server.api
        path = self.path.split("?", 1)[0]
        m = re.fullmatch(r"/file/bot([^/]+)/(.+)", path)
        if m:
            data = api.file_bytes(unquote(m.group(2))) if m.group(1) == api.token else None
            self._send(200, data, "application/octet-stream") if data is not None else \
                self._send(404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
            return
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", path)
        if not m:
            self._send(404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
            return
        if m.group(1) != api.token:
            self._send(401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}')
            return
        method, params = m.group(2), self._params()
        if method == "getUpdates":
            p = normalise_params(params)
            timeout = min(float(p.get("timeout") or 0), self.server.max_poll)
            api.handle(method, params)   # recorded like every call
            updates = api.take_updates(int(p.get("offset") or 0), timeout, int(p.get("limit") or 100))
            self._send(200, json.dumps({"ok": True, "result": updates}).encode())
            return
        status, body = api.handle(method, params)
        self._send(status, json.dumps(body).encode())

    do_GET = do_POST = _route


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeBotApi
    max_poll: float

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return   # the bot hung up on a long poll (it is stopping): normal
        super().handle_error(request, client_address)


class FakeTelegramServer:
    """The Bot API over HTTP on 127.0.0.1 (a free port). ``base_url`` is what ``TELEGRAM_API_BASE_URL`` takes."""

    def __init__(self, api: FakeBotApi | None = None, max_poll: float = 1.0) -> None:
        self.api = api or FakeBotApi()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api, self._server.max_poll = self.api, max_poll
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-telegram", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeTelegramServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.api._cond:
            self.api.closed = True
            self.api._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeTelegramServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- incoming updates -----------------------------------------------------------------------------------------
#: the Bot API's length limits, counted in UTF-16 code units, and what it answers past them
_LIMITS = {("sendMessage", "text"): (4096, "message is too long"),
           ("editMessageText", "text"): (4096, "MESSAGE_TOO_LONG"),
           ("sendPhoto", "caption"): (1024, "message caption is too long"),
           ("editMessageCaption", "caption"): (1024, "MESSAGE_CAPTION_TOO_LONG"),
           ("answerCallbackQuery", "text"): (200, "MESSAGE_TOO_LONG")}


def _too_long(method: str, params: dict[str, Any]) -> "_Failure | None":
    for (m, field), (limit, said) in _LIMITS.items():
        value = params.get(field)
        if m == method and isinstance(value, str) and _utf16_len(value) > limit:
            return _Failure(400, f"Bad Request: {said}", 1)
    return None


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


_URL = re.compile(r"(?:https?://)?(?:[\w-]+\.)+[a-z]{2,}(?:/[^\s]*)?", re.I)
_MENTION = re.compile(r"(?<![\w@])@\w{5,32}")
_COMMAND = re.compile(r"^/\w+(?:@\w+)?")


def entities_for(text: str) -> list[dict[str, Any]]:
    """The entities Telegram attaches: a leading bot_command, @mentions and URLs (offsets in UTF-16 units)."""
    found: list[tuple[int, int, str]] = []
    m = _COMMAND.match(text)
    if m:
        found.append((m.start(), m.end(), "bot_command"))
    for m in _MENTION.finditer(text):
        found.append((m.start(), m.end(), "mention"))
    for m in _URL.finditer(text):
        if any(s <= m.start() < e for s, e, _ in found):
            continue
        found.append((m.start(), m.end(), "url"))
    return [{"type": t, "offset": _utf16_len(text[:s]), "length": _utf16_len(text[s:e])}
            for s, e, t in sorted(found)]


class UpdateFactory:
    """Updates shaped exactly like the ones Telegram delivers (update ids and message ids increase)."""

    def __init__(self, start_update_id: int = 700000) -> None:
        self._update_ids = itertools.count(start_update_id)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(4242000000000000000)

    @staticmethod
    def user(uid: int, first_name: str = "Alice", username: str | None = None) -> dict[str, Any]:
        return {"id": uid, "is_bot": False, "first_name": first_name, "username": username or first_name.lower(),
                "language_code": "en"}

    @staticmethod
    def private_chat(user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id"], "type": "private", "first_name": user["first_name"],
                "username": user.get("username")}

    @staticmethod
    def group_chat(chat_id: int = -1001234567890, title: str = "Record Club") -> dict[str, Any]:
        return {"id": chat_id, "type": "supergroup", "title": title}

    def _update(self, **payload: Any) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), **payload}

    def _message(self, user: dict[str, Any], chat: dict[str, Any] | None, reply_to: dict[str, Any] | None,
                 **fields: Any) -> dict[str, Any]:
        msg = {"message_id": next(self._message_ids), "from": user, "chat": chat or self.private_chat(user),
               "date": int(time.time())}
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        msg.update(fields)
        return msg

    def text(self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None,
             reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        ents = entities_for(text)
        extra = {"entities": ents} if ents else {}
        return self._update(message=self._message(user, chat, reply_to, text=text, **extra))

    def photo(self, user: dict[str, Any], file_id: str, chat: dict[str, Any] | None = None,
              caption: str | None = None, size: int = 54321) -> dict[str, Any]:
        sizes = [{"file_id": f"{file_id}-s", "file_unique_id": f"{file_id}s", "width": 90, "height": 67,
                  "file_size": 1200},
                 {"file_id": file_id, "file_unique_id": f"{file_id}u", "width": 1280, "height": 960,
                  "file_size": size}]
        extra: dict[str, Any] = {}
        if caption:
            extra = {"caption": caption}
            ents = entities_for(caption)
            if ents:
                extra["caption_entities"] = ents
        return self._update(message=self._message(user, chat, None, photo=sizes, **extra))

    def document(self, user: dict[str, Any], file_id: str, file_name: str, mime_type: str = "text/csv",
                 size: int = 1000, chat: dict[str, Any] | None = None, caption: str | None = None) -> dict[str, Any]:
        doc = {"file_id": file_id, "file_unique_id": f"{file_id}u", "file_name": file_name, "mime_type": mime_type,
               "file_size": size}
        extra: dict[str, Any] = {}
        if caption:
            extra = {"caption": caption}
            ents = entities_for(caption)
            if ents:
                extra["caption_entities"] = ents
        return self._update(message=self._message(user, chat, None, document=doc, **extra))

    def callback(self, user: dict[str, Any], message: dict[str, Any], data: str) -> dict[str, Any]:
        return self._update(callback_query={"id": str(next(self._callback_ids)), "from": user, "message": message,
                                            "chat_instance": "-8817772727", "data": data})

    def reaction(self, user: dict[str, Any] | None, chat: dict[str, Any], message_id: int, new: list[str],
                 old: list[str] = ()) -> dict[str, Any]:
        body: dict[str, Any] = {"chat": chat, "message_id": message_id, "date": int(time.time()),
                                "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
                                "new_reaction": [{"type": "emoji", "emoji": e} for e in new]}
        if user is not None:
            body["user"] = user
        else:
            body["actor_chat"] = chat
        return self._update(message_reaction=body)
