"""Secrets at rest (Discogs personal tokens, OAuth token + secret) and keeping them out of logs.

:class:`SecretBox` encrypts short secrets with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``). The key
comes from, in order: an explicit ``key`` argument, the environment variable ``CRATE_SECRET_KEY`` (a urlsafe-base64
Fernet key, see :meth:`SecretBox.generate_key`), or a key file (``secrets.key_file`` in the config, default
``~/.local/share/cratedigger/secret.key``; ``CRATE_SECRETS__KEY_FILE`` overrides it like any config key). A missing
key file is created on first use, mode 0600, with ``O_CREAT | O_EXCL`` (never overwriting a key someone else just
wrote); an existing key file that group or others can access is refused. Losing the key makes every stored secret
unreadable (users re-link), so back it up like a password.

Encrypted values are text: ``"fernet:v1:" + token``. :meth:`SecretBox.decrypt` raises :class:`SecretError` for a
wrong key or a corrupt value, never returning garbage.

Logging: :func:`redact` masks given secrets, ``token=...``-style parameters and ``Authorization`` header values in
a string; :class:`RedactSecrets` is a :class:`logging.Filter` doing that to log records (message, args, exception
text). Every plaintext that passes through a :class:`SecretBox` is registered with a process-wide registry that
the filter consults, so a token that was ever decrypted is masked wherever it is logged. Note that a filter on a
*logger* only sees records created on that very logger (not ones propagated from child loggers); use
:func:`install_redaction`, which also filters the root logger's handlers and every record as it is created.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from cryptography.fernet import Fernet, InvalidToken

from core.config import SecretsConfig, get_config, private_dir, resolve_path, section

log = logging.getLogger(__name__)

ENV_KEY = "CRATE_SECRET_KEY"
PREFIX = "fernet:v1:"
DEFAULT_KEY_FILE = "~/.local/share/cratedigger/secret.key"
MASK = "***"
MIN_SECRET_LEN = 4  # shorter "secrets" are not registered for masking (they would mask ordinary text)


class SecretError(Exception):
    """A secret cannot be encrypted/decrypted: missing, unsafe or wrong key, or a corrupt value."""


# ------------------------------------------------------------------------------------------------- keys


def _as_fernet(key: str | bytes, where: str) -> Fernet:
    """A Fernet for ``key``; a clear :class:`SecretError` (never showing the key) if it is malformed."""
    raw = key.strip().encode("ascii", "replace") if isinstance(key, str) else key.strip()
    try:
        return Fernet(raw)
    except (ValueError, TypeError):
        raise SecretError(f"the secret key from {where} is not a valid Fernet key "
                          "(32 bytes, urlsafe base64; make one with SecretBox.generate_key())") from None


def _key_file_from_config(cfg: Mapping[str, Any] | None) -> Path:
    cfg = get_config() if cfg is None else cfg
    configured = section(SecretsConfig, cfg["secrets"]).key_file or DEFAULT_KEY_FILE
    return resolve_path(configured)


def _read_key_file(path: Path) -> bytes:
    """The key in ``path``; refuses files group/others can access and non-regular files."""
    for attempt in range(20):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise SecretError(f"cannot open secret key file {path}: {e.strerror}") from None
        st = os.fstat(fd)  # the file actually opened (no check-then-open race)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise SecretError(f"secret key file {path} is not a regular file: restore the key file from your backup")
        with os.fdopen(fd, "rb") as fh:
            if os.name == "posix" and st.st_mode & 0o077:
                raise SecretError(
                    f"refusing to use secret key file {path}: it is accessible by group/others "
                    f"(mode {stat.S_IMODE(st.st_mode):04o}); restrict it with `chmod 600 {path}`")
            data = fh.read().strip()
        if data:
            return data
        time.sleep(0.05)  # another process created it an instant ago and is still writing the key
    raise SecretError(f"secret key file {path} is empty")


def _create_key_file(path: Path) -> bytes | None:
    """Write a fresh key to ``path`` (mode 0600, ``O_EXCL``); ``None`` if the file already exists."""
    private_dir(path.parent)
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return None
    key = Fernet.generate_key()
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.warning("created a new secret key file %s; back it up: stored Discogs credentials cannot be "
                "decrypted without it", path)
    return key


def load_or_create_key(path: str | Path, create: bool = True) -> bytes:
    """The Fernet key stored in ``path``, generating the file (0600) if it does not exist yet — unless
    ``create`` is False (tokens encrypted with the lost key are stored): then a :class:`SecretError` says so."""
    p = Path(os.path.expanduser(str(path)))
    if not p.exists() and not p.is_symlink():
        if not create:
            raise SecretError(f"the secret key file {p} is gone, but Discogs tokens encrypted with it are stored: "
                              "restore the file from your backup (a new key could not read them), or unlink "
                              "those accounts (`crate unlink --user NAME`) and link them again")
        created = _create_key_file(p)
        if created is not None:
            return created
    return _read_key_file(p)


# ------------------------------------------------------------------------------------------------- box


class SecretBox:
    """Encrypts/decrypts short text secrets with one Fernet key.

    ``SecretBox()`` resolves the key from ``CRATE_SECRET_KEY`` or the configured key file (created if missing);
    ``SecretBox(key=...)`` or ``SecretBox(key_file=...)`` pin it. ``env``/``cfg`` replace ``os.environ`` and the
    loaded config (for tests). The key itself is never exposed by the object (``repr`` shows only its source).
    """

    def __init__(self, key: str | bytes | None = None, *, key_file: str | Path | None = None,
                 env: Mapping[str, str] | None = None, cfg: Mapping[str, Any] | None = None,
                 create: bool = True) -> None:
        env = os.environ if env is None else env
        if key is not None:
            self.source = "argument"
            self._fernet = _as_fernet(key, "the key argument")
        elif key_file is None and env.get(ENV_KEY):
            self.source = f"${ENV_KEY}"
            self._fernet = _as_fernet(env[ENV_KEY], f"${ENV_KEY}")
        else:
            path = Path(os.path.expanduser(str(key_file))) if key_file is not None else _key_file_from_config(cfg)
            self.source = f"file {path}"
            self._fernet = _as_fernet(load_or_create_key(path, create), f"key file {path}")

    def __repr__(self) -> str:
        return f"SecretBox(source={self.source!r})"

    @staticmethod
    def generate_key() -> str:
        """A new random key, in the form ``CRATE_SECRET_KEY`` expects."""
        return Fernet.generate_key().decode("ascii")

    @staticmethod
    def is_encrypted(value: str | None) -> bool:
        """Whether ``value`` looks like something :meth:`encrypt` produced."""
        return isinstance(value, str) and value.startswith(PREFIX)

    def encrypt(self, plaintext: str) -> str:
        """``"fernet:v1:<token>"`` for ``plaintext`` (which is also registered for log masking)."""
        if not isinstance(plaintext, str):
            raise TypeError(f"SecretBox.encrypt expects str, got {type(plaintext).__name__}")
        register_secret(plaintext)
        return PREFIX + self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, value: str) -> str:
        """The plaintext of an :meth:`encrypt` result; :class:`SecretError` for a wrong key or corrupt value."""
        if not isinstance(value, str) or not value.startswith(PREFIX):
            raise SecretError("not an encrypted secret (missing the 'fernet:v1:' prefix)")
        try:
            plaintext = self._fernet.decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretError("cannot decrypt the stored secret: wrong key (CRATE_SECRET_KEY / key file changed?) "
                              "or corrupted value; re-link the Discogs account") from None
        register_secret(plaintext)
        return plaintext


# ------------------------------------------------------------------------------------------- redaction

_registry: set[str] = set()
_registry_lock = threading.Lock()
_registry_version = 0

_SENSITIVE = r"[\w.-]*(?:token|secret|signature|password|passwd|api[_-]?key)[\w.-]*"
# key=value parameters (query strings, form bodies, "k=v" log fields), value optionally quoted
_PARAM_RE = re.compile(rf"(?i)(?<![\w.-])({_SENSITIVE})(\s*=\s*)(\"|')?([^&\s#\"'<>,;)]+)")
# "token": "value" / 'token': 'value' (JSON, dict reprs)
_KEYVAL_RE = re.compile(rf"(?i)([\"'])({_SENSITIVE})\1(\s*:\s*)([\"'])(.*?)(?<!\\)\4")
# Authorization / Proxy-Authorization header values, quoted (dict repr) or to the end of the line
_AUTH_RE = re.compile(r"(?i)\b((?:proxy-)?authorization)([\"']?\s*[:=]\s*)(?:([\"'])(.*?)(?<!\\)\3|([^\r\n]*))")
_SCHEME_RE = re.compile(r"^\s*([A-Za-z][\w-]*)\s+\S")


def register_secret(*secrets: str | None) -> None:
    """Mask these values in every :class:`RedactSecrets` that uses the registry (values under 4 chars are ignored)."""
    global _registry_version
    new = {s for s in secrets if isinstance(s, str) and len(s.strip()) >= MIN_SECRET_LEN} - _registry
    if new:
        with _registry_lock:
            _registry.update(new)
            _registry_version += 1


def unregister_secret(*secrets: str) -> None:
    """Stop masking these values (they are no longer in use)."""
    global _registry_version
    with _registry_lock:
        _registry.difference_update(secrets)
        _registry_version += 1


def _variants(secrets: Iterable[str]) -> list[str]:
    out: set[str] = set()
    for s in secrets:
        if isinstance(s, str) and len(s.strip()) >= MIN_SECRET_LEN:
            out.update({s, s.strip(), quote(s, safe=""), quote_plus(s)})
    return sorted(out, key=len, reverse=True)  # longest first: no partial masks


def _secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    variants = _variants(secrets)
    return re.compile("|".join(re.escape(v) for v in variants)) if variants else None


def _mask_auth(m: re.Match[str]) -> str:
    quote_char, quoted, bare = m.group(3), m.group(4), m.group(5)
    value = quoted if quote_char else bare
    if not value or not value.strip():
        return m.group(0)
    scheme = _SCHEME_RE.match(value)
    masked = f"{scheme.group(1)} {MASK}" if scheme else MASK
    q = quote_char or ""
    return f"{m.group(1)}{m.group(2)}{q}{masked}{q}"


def _redact_patterns(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _AUTH_RE.sub(_mask_auth, text)
    text = _KEYVAL_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}",
                          text)
    return _PARAM_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}", text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` (and its URL-encoded forms), ``token=...``/``secret=...``-style parameter
    values, ``"token": "..."`` pairs and ``Authorization`` header values replaced by ``***``."""
    return _redact_patterns(text, _secret_pattern(secrets))


class RedactSecrets(logging.Filter):
    """A logging filter that masks secrets in records (message, args, exception and stack text); never drops one.

    Masks ``secrets`` given here or via :meth:`add`, plus (``use_registry=True``) every secret registered with
    :func:`register_secret` (which every :class:`SecretBox` does), plus the patterns :func:`redact` knows.
    A record whose text changes is rewritten to its formatted, masked message with no args.
    """

    def __init__(self, secrets: Iterable[str] = (), *, use_registry: bool = True, name: str = "") -> None:
        super().__init__(name)
        self._own: set[str] = {s for s in secrets if isinstance(s, str)}
        self.use_registry = use_registry
        self._lock = threading.Lock()
        self._cache_key: tuple[int, int] | None = None
        self._pattern: re.Pattern[str] | None = None
        self._own_version = 0

    def add(self, *secrets: str) -> None:
        """Also mask these values."""
        with self._lock:
            self._own.update(s for s in secrets if isinstance(s, str))
            self._own_version += 1

    def _current_pattern(self) -> re.Pattern[str] | None:
        key = (self._own_version, _registry_version if self.use_registry else -1)
        if key != self._cache_key:
            with self._lock, _registry_lock:
                values = set(self._own) | (set(_registry) if self.use_registry else set())
            self._pattern, self._cache_key = _secret_pattern(values), key
        return self._pattern

    def redact(self, text: str) -> str:
        """``text`` masked as this filter masks log records."""
        return _redact_patterns(text, self._current_pattern())

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask ``record`` in place; always keeps it."""
        try:
            message: str | None = record.getMessage()
        except Exception:  # a broken format: mask the pieces, logging reports the error with them
            message = None
        if message is not None:
            clean = self.redact(message)
            if clean != message:
                record.msg, record.args = clean, None
        else:
            record.msg = self.redact(str(record.msg))
            if isinstance(record.args, Mapping):
                record.args = {k: self.redact(str(v)) for k, v in record.args.items()}
            elif record.args:
                record.args = tuple(self.redact(str(a)) for a in record.args)
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            clean = self.redact(text)
            if clean != text or record.exc_text:
                record.exc_text = clean  # formatters reuse exc_text instead of re-formatting the exception
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_installed: dict[int, tuple[RedactSecrets, logging.Logger, list[logging.Handler],
                            Callable[..., logging.LogRecord] | None]] = {}


def install_redaction(logger: logging.Logger | None = None, *, handlers: bool = True,
                      record_factory: bool = True,
                      redactor: RedactSecrets | None = None) -> RedactSecrets:
    """Install a :class:`RedactSecrets` on ``logger`` (default: root) and return it.

    ``handlers``: also on that logger's current handlers (a logger's own filters do not see records propagated
    from child loggers; handler filters do). ``record_factory``: also mask every record as it is created, which
    covers handlers added later (and third-party loggers). :func:`uninstall_redaction` undoes it.
    """
    f = redactor or RedactSecrets()
    target = logger or logging.getLogger()
    target.addFilter(f)
    hs = list(target.handlers) if handlers else []
    for h in hs:
        h.addFilter(f)
    previous: Callable[..., logging.LogRecord] | None = None
    if record_factory:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            f.filter(record)
            return record

        factory._crate_redactor = f  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
    _installed[id(f)] = (f, target, hs, previous)
    return f


def uninstall_redaction(redactor: RedactSecrets) -> None:
    """Remove a filter installed by :func:`install_redaction`."""
    entry = _installed.pop(id(redactor), None)
    if entry is None:
        return
    f, target, hs, previous = entry
    target.removeFilter(f)
    for h in hs:
        h.removeFilter(f)
    if previous is not None and getattr(logging.getLogRecordFactory(), "_crate_redactor", None) is f:
        logging.setLogRecordFactory(previous)
