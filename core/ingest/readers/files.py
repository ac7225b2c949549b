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

    @classmethod
    def configured(cls) -> "ImportLimits":
        c = get_config().imports
        return cls(c.max_file_bytes, c.max_decompressed_bytes, c.max_ratio, c.max_items)

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


def load_json(path: Path) -> Any:
    """A JSON file, or a ReaderError naming what is wrong with it (missing, empty, not UTF-8, not JSON)."""
    if not path.is_file():
        raise ReaderError(f"{path}: file not found")
    ImportLimits.configured().check_size(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise ReaderError(f"{path}: file is empty")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ReaderError(f"{path}: not UTF-8 text ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ReaderError(f"{path}: invalid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ReaderError(f"{path}: {TOO_DEEP}") from exc


#: what a file nested past the interpreter's recursion limit is told (no export is nested like that)
TOO_DEEP = "nested far too deeply to be a Discogs export or collection file"
