"""Canonical Discogs genres and styles, and the normalisation of free-typed variants onto them.

Lookup goes exact name → case/accent-folded name → "loose key" (only letters and digits, with
``&``/``and``/``n`` connectors dropped), so "synth pop", "Synth-Pop", "Funk/Soul", "hip-hop",
"Folk, World & Country" and "Rock'n'Roll" all find their canonical spelling. Unknown names map to ``None``.
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from core.config import get_config, resolve_path
from core.domain.release import norm_text

log = logging.getLogger(__name__)

_word = re.compile(r"[^\W_]+")
_connectors = frozenset({"and", "n"})


def loose_key(name: str) -> str:
    """Letters and digits only, accent-folded and lower-cased, without '&'/'and'/'n' connectors."""
    words = _word.findall(norm_text(name).replace("&", " "))
    return "".join(w for w in words if w not in _connectors)


@dataclass
class Vocabulary:
    """One controlled vocabulary (genres or styles) with its lookup tables."""

    names: list[str]
    _by_norm: dict[str, str] = field(default_factory=dict, repr=False)
    _by_key: dict[str, str] = field(default_factory=dict, repr=False)
    _exact: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        for name in self.names:  # first spelling wins on a collision ("Bossa Nova" / "Bossanova")
            self._by_norm.setdefault(norm_text(name), name)
            self._by_key.setdefault(loose_key(name), name)
        self._exact.update(self.names)

    def lookup(self, name: object) -> str | None:
        """The canonical spelling of ``name``, or ``None`` when it is not in the vocabulary."""
        if not isinstance(name, str) or not name.strip():
            return None
        name = name.strip()
        if name in self._exact:
            return name
        return self._by_norm.get(norm_text(name)) or self._by_key.get(loose_key(name))

    def normalise_many(self, names: Iterable[object] | str | None) -> list[str]:
        """Canonical names for ``names``, unknown ones dropped, duplicates removed (order kept)."""
        if names is None:
            return []
        if isinstance(names, str):
            names = [names]
        out: list[str] = []
        for n in names:
            canon = self.lookup(n)
            if canon is None:
                if n not in (None, ""):
                    log.debug("unknown vocabulary term dropped: %r", n)
                continue
            if canon not in out:
                out.append(canon)
        return out


def _read_names(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return [r[0].strip() for r in rows[1:] if r and r[0].strip()]


def vocab_dir() -> Path:
    """The configured vocabulary folder (``paths.vocab_dir``)."""
    return resolve_path(get_config().paths.vocab_dir)


@lru_cache(maxsize=4)
def load_vocab(kind: str, directory: str | None = None) -> Vocabulary:
    """Load ``genres`` or ``styles`` from ``<vocab_dir>/<kind>.csv`` (cached)."""
    if kind not in ("genres", "styles"):
        raise ValueError(f"unknown vocabulary {kind!r}; expected 'genres' or 'styles'")
    base = Path(directory) if directory else vocab_dir()
    names = _read_names(base / f"{kind}.csv")
    log.debug("loaded %d %s from %s", len(names), kind, base)
    return Vocabulary(names)


def genres() -> list[str]:
    """The 15 canonical Discogs genres."""
    return list(load_vocab("genres").names)


def styles() -> list[str]:
    """The canonical Discogs styles."""
    return list(load_vocab("styles").names)


def normalise_genre(name: str) -> str | None:
    """Canonical genre for ``name`` ("Funk/Soul" → "Funk / Soul"), or ``None`` if unknown."""
    return load_vocab("genres").lookup(name)


def normalise_style(name: str) -> str | None:
    """Canonical style for ``name`` ("synth pop" → "Synth-pop"), or ``None`` if unknown."""
    return load_vocab("styles").lookup(name)


def normalise_genres(names: Iterable[str] | str | None) -> list[str]:
    """Canonical genres, unknown dropped, de-duplicated in order."""
    return load_vocab("genres").normalise_many(names)


def normalise_styles(names: Iterable[str] | str | None) -> list[str]:
    """Canonical styles, unknown dropped, de-duplicated in order."""
    return load_vocab("styles").normalise_many(names)
