"""Opening a source file: the one error every reader raises, the limits every file is read within (size,
decompressed size and ratio, records), gzip sniffing, JSON that cannot blow the stack."""
from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import get_config


class ReaderError(Exception):
    """A source file that cannot be read at all (missing, empty, binary, unknown shape, ...)."""


_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ImportLimits:
    """What one file may be (``imports`` in configs/default.yaml); every refusal names the limit and what to do."""

    max_file_bytes: int
    max_decompressed_bytes: int
    max_ratio: float
    max_items: int
    max_values: int = 5_000_000
    max_depth: int = 64
    max_cell_bytes: int = 100_000
    max_row_bytes: int = 1_000_000

    @classmethod
    def configured(cls) -> "ImportLimits":
        c = get_config().imports
        return cls(c.max_file_bytes, c.max_decompressed_bytes, c.max_ratio, c.max_items, c.max_values,
                   c.max_depth, c.max_cell_bytes, c.max_row_bytes)

    def check_size(self, path: Path) -> None:
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise ReaderError(f"{path}: the file is {size / 1e6:.0f} MB, more than the "
                              f"{self.max_file_bytes / 1e6:.0f} MB I read (imports.max_file_bytes). The Discogs "
                              "CSV export of even a very large "
                              "collection is far smaller: export it again, or split the file")

    def check_items(self, path: Path | str, n: int) -> None:
        if n > self.max_items:
            raise ReaderError(f"{path}: more than {self.max_items:,} records in one file (imports.max_items): "
                              "split it into smaller files and import them one by one")


class LimitedReader(io.RawIOBase):
    """A decompressing stream that stops with a :class:`ReaderError` once it has produced more than the limits
    allow (a small .gz of whitespace can expand to gigabytes)."""

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        self.path, self.limits = path, limits
        self.inner = gzip.open(path, "rb")
        self.cap = int(min(limits.max_decompressed_bytes, max(path.stat().st_size, 1) * limits.max_ratio))
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.inner.readinto(b)
        self.produced += n
        if self.produced > self.cap:
            raise ReaderError(f"{self.path}: the compressed file expands to more than {self.cap / 1e6:.0f} MB "
                              "(imports.max_decompressed_bytes / imports.max_ratio): that is no collection export")
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


class TagGuard(io.RawIOBase):
    """An XML byte stream that stops with a :class:`ReaderError` at a stretch of more than ``max_run`` bytes
    without a ``<``: one start tag that long would carry millions of attributes, which the parser builds into
    one dictionary before any check could run (``<`` cannot occur inside a tag; a text that long is no export)."""

    def __init__(self, inner: Any, path: Path, max_run: int) -> None:
        self.inner, self.path, self.max_run = inner, path, max_run
        self.run = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.inner.readinto(b)
        if n:
            chunk = bytes(memoryview(b)[:n])
            first, last = chunk.find(b"<"), chunk.rfind(b"<")
            if first < 0:
                self.run += n
            else:
                longest = self.run + first
                if last - first > self.max_run:   # only then can a stretch inside the chunk be too long
                    longest = max(longest, _longest_gap(chunk, first, last))
                if longest > self.max_run:
                    self._refuse()
                self.run = n - 1 - last
            if self.run > self.max_run:
                self._refuse()
        return n

    def _refuse(self) -> None:
        raise ReaderError(f"{self.path}: over {self.max_run // 1000:,} kB inside one XML tag or text "
                          "(imports.max_row_bytes): that is no Discogs data dump")

    def close(self) -> None:
        self.inner.close()
        super().close()


def _longest_gap(chunk: bytes, first: int, last: int) -> int:
    """The longest stretch between two ``<`` of ``chunk`` (only searched when the chunk could hold one)."""
    if last - first <= 0:
        return 0
    longest, pos = 0, first
    while pos < last:
        nxt = chunk.find(b"<", pos + 1)
        longest = max(longest, nxt - pos - 1)
        pos = nxt
    return longest


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == _GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as gz:
                return _GZIP_MAGIC + gz.read(n)
        except (OSError, EOFError) as exc:
            raise ReaderError(f"{path}: corrupt gzip file ({exc})") from exc
    return head


def check_json(raw: bytes, path: Path | str, limits: ImportLimits) -> None:
    """Walk the JSON's structure in constant memory (ijson's C parser) before it is built as Python objects,
    refusing what no export holds and what would take gigabytes to build: more than ``max_items`` values in one
    list, more than ``max_values`` in all, nesting past ``max_depth``, a string over ``max_cell_bytes``."""
    import ijson

    stack: list[int] = []   # per open container: the values so far of a list, -1 for an object
    total = 0
    try:
        for event, value in ijson.basic_parse(io.BytesIO(raw), use_float=True):
            if event in ("end_array", "end_map"):
                stack.pop()
                continue
            if event == "map_key":
                continue
            total += 1
            if stack and stack[-1] >= 0:
                stack[-1] += 1
                if stack[-1] > limits.max_items:
                    raise ReaderError(f"{path}: a list of more than {limits.max_items:,} entries "
                                      "(imports.max_items): split it into smaller files and import them one by one")
            if total > limits.max_values:
                raise ReaderError(f"{path}: more than {limits.max_values:,} values in one file (imports.max_values):"
                                  " far more than a collection export holds; split it into smaller files")
            if event in ("start_array", "start_map"):
                stack.append(0 if event == "start_array" else -1)
                if len(stack) > limits.max_depth:
                    raise ReaderError(f"{path}: {TOO_DEEP} (imports.max_depth)")
            elif event == "string" and len(value) > limits.max_cell_bytes:
                raise ReaderError(f"{path}: a text of over {limits.max_cell_bytes // 1000:,} kB in one field "
                                  "(imports.max_cell_bytes): that is no Discogs export")
    except ijson.common.IncompleteJSONError as exc:
        raise ReaderError(f"{path}: invalid JSON ({str(exc)[:120]})") from exc
    except ijson.common.JSONError as exc:
        raise ReaderError(f"{path}: invalid JSON ({str(exc)[:120]})") from exc


def load_json(path: Path) -> Any:
    """A JSON file, or a ReaderError naming what is wrong with it (missing, empty, not UTF-8, not JSON, or past
    one of the limits of :func:`check_json`, checked before any of it is built in memory)."""
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    limits = ImportLimits.configured()
    limits.check_size(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise ReaderError(f"{path}: file is empty")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReaderError(f"{path}: not UTF-8 text ({exc})") from exc
    check_json(raw, path, limits)
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ReaderError(f"{path}: not UTF-8 text ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ReaderError(f"{path}: invalid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ReaderError(f"{path}: {TOO_DEEP}") from exc


#: what a file nested past the interpreter's recursion limit is told (no export is nested like that)
TOO_DEEP = "nested far too deeply to be a Discogs export or collection file"
