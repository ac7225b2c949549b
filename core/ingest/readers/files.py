"""Opening a source file: the one error every reader raises, gzip sniffing, JSON that cannot blow the stack."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


class ReaderError(Exception):
    """A source file that cannot be read at all (missing, empty, binary, unknown shape, ...)."""


_GZIP_MAGIC = b"\x1f\x8b"


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
