"""Where the heavy work of a chat runs: reading an uploaded file, training a model, reading a barcode photo.

In the bots (``workers.processes: true``) each runs in a worker process of its own (the standard library's
``ProcessPoolExecutor``, started with ``spawn``), so the chat process keeps its memory and its CPU for answering:
a 150k-row import, a training, or the OCR of a photo (its neural network alone peaks near 0.5 GB) never grows the
bot, and the bot answers pasted links meanwhile. Photos have their own worker, so a photo never waits behind a
training. Each worker builds its own :class:`Recommender` on the same database and folders; what it writes (the
collection, a new model version) the bot reads from there (``Recommender.model_for`` follows the active version).
A worker that dies (killed, out of memory) fails only its job, which is said as such, and is started again for the
next one. ``workers.processes: false`` (and every test but the worker's own) runs the same jobs in process.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from core.audio.enrich import EnrichReport
from core.barcode import decode_photo
from core.barcode.reader import DecodeResult
from core.domain.release import ImportResult
from core.learning.retrain import RetrainResult, retrain
from core.recommender import Recommender, TrainReport

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: said when a worker process died under a job (killed, or out of memory)
WORKER_DIED = ("The worker doing this stopped unexpectedly (it may have run out of memory). Nothing was changed — "
               "please try again, or with a smaller file.")


class WorkerDied(RuntimeError):
    """The worker process died under the job; ``str()`` is fit for a chat reply."""

    def __init__(self) -> None:
        super().__init__(WORKER_DIED)


class InProcessJobs:
    """The jobs, run in the calling thread (the CLI, the terminal chat, tests)."""

    def __init__(self, rec: Recommender) -> None:
        self.rec = rec

    def import_file(self, user: str, path: Path) -> ImportResult:
        return self.rec.import_file(user, path)

    def train(self, user: str, progress: Progress | None = None, *, first: bool = False) -> TrainReport:
        return self.rec.train(user, progress, first=first)

    def retrain(self, user: str, progress: Progress | None = None) -> RetrainResult:
        return retrain(self.rec, user, progress)

    def decode_photo(self, data: bytes) -> DecodeResult:
        return decode_photo(data)

    def audio_enrich(self, user: str, limit: int | None = None) -> EnrichReport:
        return enrich_audio(self.rec, user, limit)

    def close(self) -> None:
        return None


def enrich_audio(rec: Recommender, user: str, limit: int | None = None) -> EnrichReport:
    """Previews for the user's records (:mod:`core.audio.enrich`), heard and stored."""
    from core.audio import build_enricher

    return build_enricher(rec.store, rec.cfg).run_user(user, limit)


# -- the worker side ---------------------------------------------------------------------------------------------
_REC: Recommender | None = None
_PROGRESS: Any = None


def _start_worker(spec: dict[str, Any], progress: Any) -> None:
    """A worker's initializer: its own Recommender on the bot's database and folders."""
    global _REC, _PROGRESS
    from core.model.embeddings import EmbeddingCache
    from core.secrets import install_redaction
    from core.storage import Store

    install_redaction()
    _PROGRESS = progress
    # the bot's pid as it spawned this worker: if the bot was killed while the worker was still starting, the
    # parent now is init (1), and comparing with that would wait forever
    spawner = multiprocessing.parent_process()
    parent = spawner.pid if spawner is not None and spawner.pid else os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()
    if spec.get("db_url") is not None:
        _REC = Recommender(Store(spec["db_url"]), spec.get("catalogue"), spec["cfg"],
                           EmbeddingCache(Path(spec["cache_dir"])), Path(spec["models_dir"]))


def _watch_parent(parent: int) -> None:
    """A worker outlives nothing: when the bot is gone (killed, even with SIGKILL) the worker ends too."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _say(job: str) -> Progress:
    def say(msg: str) -> None:
        try:
            _PROGRESS.put((job, msg))
        except Exception:   # progress is never worth failing the job for
            pass
    return say


def _run_import(user: str, path: str) -> ImportResult:
    assert _REC is not None
    result = _REC.import_file(user, Path(path))
    # only what the chat says back travels to the bot, never the records themselves
    return ImportResult(items=[], skipped=result.skipped[:200], source=result.source,
                        count=len(result.items), skipped_count=len(result.skipped))


def _run_train(job: str, user: str, first: bool = False) -> TrainReport:
    assert _REC is not None
    return _REC.train(user, _say(job), first=first)


def _run_first_train(job: str, user: str) -> TrainReport:
    return _run_train(job, user, True)


def _warm_models() -> int:
    """Load the sentence model now (seconds), so a new collector's first training doesn't wait for it."""
    from core.model.embeddings import get_model

    get_model()
    return os.getpid()


def _run_retrain(job: str, user: str) -> RetrainResult:
    assert _REC is not None
    return retrain(_REC, user, _say(job))


def _run_audio(user: str, limit: int | None) -> EnrichReport:
    assert _REC is not None
    return enrich_audio(_REC, user, limit)


def _run_photo(data: bytes) -> DecodeResult:
    return decode_photo(data)


def _warm_photo() -> int:
    """Load the barcode reader's libraries and the OCR engine now, so the first photo meets its time budget."""
    from core.barcode import warm

    warm()
    return os.getpid()


def _ping() -> int:
    return os.getpid()


# -- the bot side --------------------------------------------------------------------------------------------------
class WorkerJobs:
    """The jobs in worker processes: one for files and trainings, one for photos (started on first use)."""

    def __init__(self, rec: Recommender, *, max_tasks_per_child: int = 20) -> None:
        self.rec = rec
        self.max_tasks = max_tasks_per_child
        self._ctx = multiprocessing.get_context("spawn")
        self._pools: dict[str, ProcessPoolExecutor] = {}
        self._lock = threading.Lock()
        self._progress: Any = None
        self._listeners: dict[str, Progress] = {}
        self._drain: threading.Thread | None = None
        self._closed = False

    def _spec(self) -> dict[str, Any]:
        rec = self.rec
        return {"db_url": rec.store.engine.url.render_as_string(hide_password=False), "cfg": rec.cfg,
                "catalogue": rec.loaded_catalogue, "cache_dir": str(rec.embeddings.dir),
                "models_dir": str(rec.models_dir)}

    def _pool(self, kind: str) -> ProcessPoolExecutor:
        with self._lock:
            pool = self._pools.get(kind)
            if pool is None:
                if self._progress is None:
                    self._progress = self._ctx.Queue()
                    self._drain = threading.Thread(target=self._drain_progress, name="worker-progress", daemon=True)
                    self._drain.start()
                spec = self._spec() if kind in ("data", "audio") else {"db_url": None}
                pool = ProcessPoolExecutor(1, mp_context=self._ctx, initializer=_start_worker,
                                           initargs=(spec, self._progress), max_tasks_per_child=self.max_tasks)
                self._pools[kind] = pool
            return pool

    def _drain_progress(self) -> None:
        while not self._closed:
            try:
                job, msg = self._progress.get(timeout=0.5)
            except queue.Empty:
                continue
            except (EOFError, OSError, ValueError):   # the queue was closed
                return
            say = self._listeners.get(job)
            if say is not None:
                try:
                    say(msg)
                except Exception:
                    log.debug("progress listener failed", exc_info=True)

    def _run(self, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        for attempt in (1, 2):
            try:
                fut: Future[Any] = self._pool(kind).submit(fn, *args)
                return fut.result()
            except BrokenProcessPool:
                with self._lock:   # the worker died: a fresh pool for the next job
                    broken = self._pools.pop(kind, None)
                if broken is not None:
                    broken.shutdown(wait=False, cancel_futures=True)
                if attempt == 2 or kind != "photo":   # a file or a training is not retried behind the user's back
                    log.warning("a %s worker died under its job", kind)
                    raise WorkerDied() from None
        raise WorkerDied()

    def import_file(self, user: str, path: Path) -> ImportResult:
        return self._run("data", _run_import, user, str(path))

    def train(self, user: str, progress: Progress | None = None, *, first: bool = False) -> TrainReport:
        return self._with_progress(_run_first_train if first else _run_train, user, progress)

    def retrain(self, user: str, progress: Progress | None = None) -> RetrainResult:
        return self._with_progress(_run_retrain, user, progress)

    def _with_progress(self, fn: Callable[[str, str], Any], user: str, progress: Progress | None) -> Any:
        job = uuid.uuid4().hex
        if progress is not None:
            self._listeners[job] = progress
        try:
            return self._run("data", fn, job, user)
        finally:
            self._listeners.pop(job, None)

    def decode_photo(self, data: bytes) -> DecodeResult:
        return self._run("photo", _run_photo, data)

    def warm(self, kind: str) -> None:
        """Start a worker now (its imports take seconds) rather than under the first job; the data worker loads
        the sentence model too."""
        try:
            self._run(kind, {"data": _warm_models, "photo": _warm_photo}.get(kind, _ping))
        except Exception as exc:   # a failed start is met again, and said, by the first real job (or: stopping)
            if not self._closed:
                log.warning("could not start the %s worker: %s", kind, exc)

    def audio_enrich(self, user: str, limit: int | None = None) -> EnrichReport:
        """In a worker of its own: librosa's compilation and the analysis never take the bot's CPU or memory,
        and never wait behind (or hold up) a training."""
        return self._run("audio", _run_audio, user, limit)

    def pids(self) -> dict[str, int]:
        """The workers' process ids (started if need be): to see that the work happens elsewhere."""
        return {kind: self._run(kind, _ping) for kind in ("data", "photo")}

    def close(self) -> None:
        """Stop the workers now: a job or a warm-up still running in one (a model loading, a training) is ended
        rather than waited for, so a bot stops within seconds; what it had not written is simply not there."""
        self._closed = True
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            procs = list(getattr(pool, "_processes", None) or {})   # the standard library keeps them by pid
            pool.shutdown(wait=False, cancel_futures=True)
            for pid in procs:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:   # already gone
                    pass


Jobs = InProcessJobs | WorkerJobs


def jobs_for(rec: Recommender) -> Jobs:
    """The bots' jobs as configured (``workers.processes``)."""
    return WorkerJobs(rec) if rec.cfg.workers.processes else InProcessJobs(rec)
