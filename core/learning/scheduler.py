"""Scheduled learning: retrain users nightly or after enough new feedback, and send the weekly digest.

An APScheduler 3 :class:`AsyncIOScheduler` runs in the bot's event loop. Its jobs are persisted by a
``SQLAlchemyJobStore`` in the SAME database as the :class:`core.storage.Store` (table ``apscheduler_jobs``), so
a restart keeps the schedule: a nightly run missed while the bot was down runs once on restart if it is
within ``learning.misfire_grace_s``.

Jobs (all ``coalesce=True``, ``max_instances=1``, ``misfire_grace_time=learning.misfire_grace_s``):

=====================  ==========================================  ================================================
id                     trigger                                     does
=====================  ==========================================  ================================================
``nightly-retrain``    cron at ``learning.nightly_at`` (HH:MM)      :func:`run_nightly`: every user with a
                                                                   collection, one at a time
``retrain:{user}``     one-off date, added by                      :func:`run_retrain`: that user, if the feedback
                       :meth:`LearningScheduler.on_feedback`       is still pending when it runs
``weekly-digest``      every ``learning.digest_every_days`` days   :func:`run_digests`: ``core.learning.digest``
=====================  ==========================================  ================================================

"Enough new feedback" is ``learning.retrain_after_feedback`` explicit events (👍/👎/bought) since the user's
last training — the newest registered model version, which is the active one unless a challenger was
rejected since (counting from the active one would then retrain on every later event).

Job callables are module-level coroutine functions referenced textually (``core.learning.scheduler:run_retrain``) with
picklable arguments, because the job store pickles them; they find the live Recommender and the callbacks in
the module-level :data:`REGISTRY`, filled by :meth:`LearningScheduler.start`. Training never runs on the event
loop: it goes to a small dedicated thread pool (``learning.training_workers``, default 1, so nightly and
feedback-triggered retrains queue up instead of competing for the cores). A user is trained by at most one
thread at a time in this process (:func:`claim`): a job for a user already training (or queued) is skipped.

A model is written atomically and registered only after it is complete (see ``Recommender._save``), so a
process killed mid-training leaves the active model, the feedback and these jobs as they were; a stale ``.tmp``
file it may leave is removed by :meth:`core.recommender.Recommender.sweep_temp_files` when the scheduler starts.
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.config import LearningConfig, WatchConfig, section
from core.learning import retrain as retraining
from core.learning.leader import Leadership
from core.learning.retrain import nothing_new, pending_feedback
from core.storage import JOBS_TABLE, USER_JOB_PREFIXES, make_engine

log = logging.getLogger(__name__)

JOB_NIGHTLY = "nightly-retrain"
JOB_DIGEST = "weekly-digest"
JOB_WATCH = "watch-poll"
FUNC_RETRAIN = "core.learning.scheduler:run_retrain"
FUNC_NIGHTLY = "core.learning.scheduler:run_nightly"
FUNC_DIGESTS = "core.learning.scheduler:run_digests"
FUNC_WATCH = "core.learning.scheduler:run_watch_polls"


def retrain_job_id(user: str) -> str:
    """The id of the user's feedback-triggered retrain job (the store deletes it with the user)."""
    return f"{USER_JOB_PREFIXES[0]}{user}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _log_digest(user: str, digest: Any) -> None:
    log.info("digest for %s (no sender registered):\n%s", user, getattr(digest, "text", digest))


@dataclass
class Registry:
    """What the persisted jobs need at run time and cannot carry in their pickled arguments."""

    rec: Any = None                                             # the live Recommender
    retrain: Callable[..., Any] | None = None                   # (rec, user, progress) -> RetrainResult
    send_digest: Callable[[str, Any], Any] = _log_digest        # the bot adapter's sender (sync or async)
    announce: Callable[[str], None] | None = None               # say what happens (``crate schedule`` prints it)
    clock: Callable[[], datetime] = utcnow
    executor: ThreadPoolExecutor | None = None
    digest_every_days: float = 7.0
    after_nightly: Callable[[str], Any] | None = None           # what follows a user's nightly retrain (hearing)
    make_rec: Callable[[str, str], Any] | None = None           # a Dask worker's Recommender (nightly on a cluster)
    owner: Any = None                                           # the LearningScheduler that filled it
    watchers: Callable[[], list[str]] | None = None             # the users watching records (core.app.watching)
    watch_pass: Callable[[str, datetime], list[Any]] | None = None   # one polling pass: the alerts to send
    send_alert: Callable[[str, Any], Any] | None = None         # the bot adapter's sender of an alert


REGISTRY = Registry()


def register_send_digest(fn: Callable[[str, Any], Any]) -> None:
    """Let the bot adapter deliver digests: ``fn(user, digest)``, a function or a coroutine function."""
    REGISTRY.send_digest = fn


def _say(msg: str) -> None:
    log.info("%s", msg)
    if REGISTRY.announce is not None:
        try:
            REGISTRY.announce(msg)
        except Exception:  # an announcer must never break a job
            log.exception("announce failed")


def _rec() -> Any:
    if REGISTRY.rec is None:
        raise RuntimeError("no Recommender registered: start a LearningScheduler "
                           "(or set core.learning.scheduler.REGISTRY.rec)")
    return REGISTRY.rec


# ------------------------------------------------------------------------------------ per-user claims

_claims: set[str] = set()
_claims_lock = threading.Lock()


def claim(user: str) -> bool:
    """Mark ``user`` as training in this process; False if they already are (or are queued)."""
    with _claims_lock:
        if user in _claims:
            return False
        _claims.add(user)
        return True


def release(user: str) -> None:
    with _claims_lock:
        _claims.discard(user)


def is_training(user: str) -> bool:
    with _claims_lock:
        return user in _claims


def _retrain_fn() -> Callable[..., Any]:
    """The running scheduler's retrain function (a test's stand-in), else the real one."""
    owner = REGISTRY.owner
    if REGISTRY.retrain is not None and owner is not None and getattr(owner, "running", False):
        return REGISTRY.retrain

    return retraining.retrain


def retrain_now(rec: Any, user: str, progress: Callable[[str], None] | None = None,
                retrain_fn: Callable[..., Any] | None = None) -> Any:
    """Retrain ``user`` in the calling thread (the CLI's path); None if the user is already training here."""
    if not claim(user):
        return None
    try:
        return (retrain_fn or _retrain_fn())(rec, user, progress)
    finally:
        release(user)


def _executor() -> ThreadPoolExecutor:
    if REGISTRY.executor is None:
        REGISTRY.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crate-train")
    return REGISTRY.executor


async def train_off_loop(user: str, why: str = "") -> Any:
    """Retrain ``user`` on the training thread pool and await the result without blocking the loop.

    Returns the RetrainResult, or None when the user is already training (or queued) in this process.
    """
    if not claim(user):
        _say(f"retrain {user}: already training, skipped")
        return None
    fn, rec = _retrain_fn(), _rec()

    def progress(msg: str) -> None:
        log.info("retrain %s: %s", user, msg)

    try:
        fut = _executor().submit(fn, rec, user, progress)
    except BaseException:
        release(user)
        raise
    # released when the thread is done, or when the queued work is cancelled: never while it still trains
    fut.add_done_callback(lambda _f: release(user))
    _say(f"retrain {user}{f' ({why})' if why else ''}: started")
    result = await asyncio.wrap_future(fut)
    _say(describe_result(user, result))
    return result


def describe_result(user: str, result: Any) -> str:
    if result is None:
        return f"retrain {user}: nothing done"
    verdict = "accepted" if getattr(result, "accepted", False) else "rejected"
    version = getattr(result, "version", None)
    seconds = getattr(result, "seconds", None)
    took = f" in {seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
    return f"retrain {user}: {verdict} {version or '(no model)'}{took} — {getattr(result, 'reason', '')}"


# ----------------------------------------------------------------------------------- store look-ups


def users_with_collection(store: Any) -> list[str]:
    """Names of users with at least one record in their collection, sorted."""
    return list(store.users_with_collection())


# -------------------------------------------------------------------------------------- job callables


async def run_retrain(user: str, trigger: str = "manual") -> Any:
    """Job ``retrain:{user}``. A feedback-triggered run re-checks that the feedback is still pending (a nightly
    run may have used it meanwhile)."""
    rec = _rec()
    if trigger == "feedback":
        threshold = int(rec.cfg.learning.retrain_after_feedback)
        n = pending_feedback(rec.store, user)
        if n < threshold:
            _say(f"retrain {user}: {n} new feedback since the last training (< {threshold}), skipped")
            return None
    return await train_off_loop(user, trigger)


async def run_nightly() -> dict[str, Any]:
    """Job ``nightly-retrain``: every user with a collection — those with nothing new skipped
    (``learning.skip_unchanged``) — one at a time here, or one task a user on the Dask cluster at
    ``learning.dask_scheduler``. A user's failure is logged and the run goes on; the result maps user →
    RetrainResult (a :class:`core.learning.cluster.UserRun` on a cluster), None (skipped) or the exception."""
    rec = _rec()
    users = users_with_collection(rec.store)
    lcfg = section(LearningConfig, rec.cfg["learning"])
    results: dict[str, Any] = {}
    if lcfg.dask_scheduler and REGISTRY.make_rec is not None:
        return await _nightly_on_cluster(rec, users, lcfg, REGISTRY.make_rec)
    _say(f"nightly retrain: {len(users)} users")
    for user in users:
        if lcfg.skip_unchanged:
            why = await asyncio.to_thread(nothing_new, rec.store, user)
            if why:
                _say(f"retrain {user}: unchanged — {why}")
                results[user] = None
                continue
        try:
            results[user] = await train_off_loop(user, "nightly")
        except Exception as exc:
            log.exception("nightly retrain of %s failed", user)
            _say(f"retrain {user}: failed ({type(exc).__name__}: {exc})")
            results[user] = exc
        _after_nightly(user)
    return results


def _after_nightly(user: str) -> None:
    if REGISTRY.after_nightly is not None:   # the records scored today are heard for tomorrow's cards
        try:
            REGISTRY.after_nightly(user)
        except Exception:   # an extra never stops the nightly run
            log.exception("after the nightly retrain of %s", user)


async def _nightly_on_cluster(rec: Any, users: list[str], lcfg: LearningConfig,
                              make_rec: Callable[[str, str], Any]) -> dict[str, Any]:
    """The nightly run as one Dask task a user (:func:`core.learning.cluster.fan_out`), off the event loop."""
    from core.learning.cluster import fan_out, task_database

    database = task_database(rec.store.engine.url)
    _say(f"nightly retrain: {len(users)} users on the Dask cluster at {lcfg.dask_scheduler}")
    try:
        report = await asyncio.to_thread(fan_out, users, database, rec.models_dir, make_rec,
                                         scheduler=lcfg.dask_scheduler,
                                         skip_unchanged=lcfg.skip_unchanged, on_result=lambda r: _say(r.line()))
    except Exception as exc:   # the cluster is down: said, and tomorrow's run tries again
        log.exception("nightly retrain on the cluster failed")
        _say(f"nightly retrain: the cluster failed ({type(exc).__name__}: {exc})")
        return {"": exc}
    _say(report.summary())
    for run in report.runs:   # a promoted model is picked up by the bots' next score (they check the version)
        _after_nightly(run.user)
    return {run.user: run for run in report.runs}


async def _maybe_await(x: Any) -> Any:
    return await x if inspect.isawaitable(x) else x


async def run_watch_polls() -> dict[str, int]:
    """Job ``watch-poll``: a polling pass over each watching user's records (``REGISTRY.watch_pass``, in a thread:
    it waits on Discogs), then the registered sender for each alert. A user whose pass fails is logged and the
    others go on."""
    if REGISTRY.watchers is None or REGISTRY.watch_pass is None or REGISTRY.send_alert is None:
        return {}
    out: dict[str, int] = {}
    for user in await asyncio.to_thread(REGISTRY.watchers):
        try:
            alerts = await asyncio.to_thread(REGISTRY.watch_pass, user, REGISTRY.clock())
            for alert in alerts:
                await _maybe_await(REGISTRY.send_alert(user, alert))
            out[user] = len(alerts)
        except Exception:  # one user's failure never stops the others'
            log.exception("watch poll for %s failed", user)
    if out:
        _say(f"watch poll: {sum(out.values())} alert(s) for {len(out)} user(s)")
    return out


async def run_digests() -> dict[str, str]:
    """Job ``weekly-digest``: for each user with a collection whose last digest is older than
    ``learning.digest_every_days``: ``core.learning.digest.build_digest(rec, user, now=…)`` (in a thread: it renders a
    chart), the registered sender (:func:`register_send_digest`; default: log it), then
    ``core.learning.digest.mark_sent(rec, user, digest.until)``. A quiet digest (nothing happened) is neither sent nor
    marked. Imported lazily; does nothing (and says so) when ``core.learning.digest`` does not exist."""
    try:
        digest_mod = importlib.import_module("core.learning.digest")
    except ModuleNotFoundError as exc:
        if exc.name != "core.learning.digest":
            raise
        _say("weekly digest: core.learning.digest is not available, skipped")
        return {}
    rec = _rec()
    now = REGISTRY.clock()
    every = timedelta(days=REGISTRY.digest_every_days) - timedelta(hours=1)  # slack: the job's own jitter
    out: dict[str, str] = {}
    for user in users_with_collection(rec.store):
        last = rec.store.last_digest_at(user)
        if last is not None and now - last < every:
            out[user] = "not due"
            continue
        try:
            digest = await asyncio.to_thread(digest_mod.build_digest, rec, user, now=now)
            if digest is not None and hasattr(digest_mod, "add_price_drops"):   # a quiet week can still hold one
                digest = await asyncio.to_thread(digest_mod.add_price_drops, rec, user, digest)
            if digest is None or getattr(digest, "quiet", False):
                out[user] = "quiet"   # nothing happened: not sent, and the next digest covers this period too
                continue
            if hasattr(digest_mod, "add_picks"):
                digest = await asyncio.to_thread(digest_mod.add_picks, rec, user, digest, now)
            await _maybe_await(REGISTRY.send_digest(user, digest))
            await asyncio.to_thread(digest_mod.mark_sent, rec, user, getattr(digest, "until", None) or now)
            out[user] = "sent"
        except Exception as exc:
            log.exception("digest for %s failed", user)
            out[user] = f"failed: {type(exc).__name__}"
    _say(f"weekly digest: {sum(v == 'sent' for v in out.values())} sent")
    return out


# ---------------------------------------------------------------------------------------- scheduler


class _JobStore(SQLAlchemyJobStore):
    """SQLAlchemyJobStore that leaves a borrowed engine (an in-memory Store's) alone on shutdown."""

    def __init__(self, engine: Any, owned: bool) -> None:
        super().__init__(engine=engine, tablename=JOBS_TABLE)
        self._owned = owned

    def shutdown(self) -> None:
        if self._owned:
            self.engine.dispose()


@dataclass
class JobInfo:
    id: str
    name: str
    next_run_time: datetime | None
    trigger: str
    func: str


def _digest_available() -> bool:
    try:
        return importlib.util.find_spec("core.learning.digest") is not None
    except (ImportError, ValueError):   # e.g. a stand-in module without a spec
        return sys.modules.get("core.learning.digest") is not None


def _parse_hhmm(value: Any) -> tuple[int, int]:
    text = str(value).strip()
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError as exc:
        raise ValueError(f"learning.nightly_at must be HH:MM, got {value!r}") from exc
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"learning.nightly_at must be HH:MM, got {value!r}")
    return h, m


class LearningScheduler:
    """The bot's learning schedule. ``start()`` inside the running event loop; ``await aclose()`` to stop.

    ``rec``: the live Recommender (its ``store`` decides the database; ``url`` overrides it). ``clock``: "now"
    for feedback run dates and digest due-ness (APScheduler itself keeps real time). ``retrain_fn``:
    ``(rec, user, progress) -> RetrainResult`` instead of :func:`core.learning.retrain`. ``announce``: called
    with a line for each thing scheduled or run. ``digest``: add the digest job (None: if ``core.learning.digest``
    exists).
    """

    def __init__(self, rec: Any, *, url: str | None = None, cfg: Mapping[str, Any] | None = None,
                 clock: Callable[[], datetime] | None = None, send_digest: Callable[[str, Any], Any] | None = None,
                 retrain_fn: Callable[..., Any] | None = None, announce: Callable[[str], None] | None = None,
                 digest: bool | None = None, after_nightly: Callable[[str], Any] | None = None,
                 leadership: Leadership | None = None, make_rec: Callable[[str, str], Any] | None = None,
                 watchers: Callable[[], list[str]] | None = None,
                 watch_pass: Callable[[str, datetime], list[Any]] | None = None,
                 send_alert: Callable[[str, Any], Any] | None = None) -> None:

        self.rec = rec
        self.cfg = cfg or rec.cfg
        lcfg = section(LearningConfig, self.cfg["learning"])
        self.threshold = lcfg.retrain_after_feedback
        self.nightly_at = _parse_hhmm(lcfg.nightly_at)
        self.grace = int(lcfg.misfire_grace_s)
        self.delay = lcfg.retrain_delay_s
        self.digest_days = lcfg.digest_every_days
        self.workers = max(1, lcfg.training_workers)
        self.clock = clock or utcnow
        self.send_digest = send_digest
        self.retrain_fn = retrain_fn
        self.announce = announce
        self.after_nightly = after_nightly
        self.make_rec = make_rec
        self.watchers, self.watch_pass, self.send_alert = watchers, watch_pass, send_alert
        self.watch_every_min = float(section(WatchConfig, self.cfg["watch"]).poll_every_min) if "watch" in self.cfg \
            else 0.0
        self.digest = _digest_available() if digest is None else digest
        store_engine = rec.store.engine
        self.url = url or store_engine.url.render_as_string(hide_password=False)
        in_memory = store_engine.dialect.name == "sqlite" and store_engine.url.database in (None, "", ":memory:")
        if in_memory and url is None:
            self._engine, owned = store_engine, False   # one shared in-memory database: borrow the Store's
        else:
            self._engine, owned = make_engine(self.url), True
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": _JobStore(self._engine, owned)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.grace})
        self.scheduler.add_listener(self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
                                    | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._executor: ThreadPoolExecutor | None = None
        # one leader among the processes on this database runs the jobs (core.learning.leader)
        ttl = float(getattr(lcfg, "leader_ttl_s", 30) or 30)
        self.leadership = leadership or (Leadership(rec.store, ttl, clock=self.clock)
                                         if hasattr(rec.store, "take_lease") else None)
        self._leading_task: asyncio.Task[None] | None = None

    # -- life cycle
    @property
    def running(self) -> bool:
        return self.scheduler.running

    def start(self) -> None:
        """Start in the running event loop (raises RuntimeError without one): fill the registry, remove stale
        temp files, load the persisted jobs and (re)add the nightly and digest jobs if their settings changed."""
        asyncio.get_running_loop()
        if REGISTRY.owner is not None and REGISTRY.owner is not self and REGISTRY.owner.running:
            raise RuntimeError("another LearningScheduler is running in this process")
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="crate-train")
        REGISTRY.rec, REGISTRY.retrain, REGISTRY.announce = self.rec, self.retrain_fn, self.announce
        REGISTRY.send_digest = self.send_digest or REGISTRY.send_digest
        REGISTRY.clock, REGISTRY.executor, REGISTRY.owner = self.clock, self._executor, self
        REGISTRY.digest_every_days = self.digest_days
        REGISTRY.after_nightly = self.after_nightly
        REGISTRY.make_rec = self.make_rec
        REGISTRY.watchers, REGISTRY.watch_pass, REGISTRY.send_alert = self.watchers, self.watch_pass, self.send_alert
        sweep = getattr(self.rec, "sweep_temp_files", None)
        if callable(sweep):
            gone = sweep()
            if gone:
                self._say(f"removed {len(gone)} stale temporary model file(s)")
        self.scheduler.start(paused=self.leadership is not None)   # runs jobs only while it leads
        self.ensure_nightly()
        if self.digest:
            self.ensure_digest()
        if self.watch_pass is not None and self.send_alert is not None and self.watch_every_min > 0:
            self.ensure_watch()
        if self.leadership is not None:
            self.beat()
            self._leading_task = asyncio.get_running_loop().create_task(self._keep_leading())

    @property
    def leading(self) -> bool:
        """Whether this process runs the scheduled jobs (always, without a leadership)."""
        return self.leadership is None or self.leadership.leading

    def beat(self) -> bool:
        """Take or renew the lease now and act on it (see :meth:`_apply`); returns whether this process leads."""
        if self.leadership is None:
            return True
        was = self.leadership.leading
        self.leadership.beat()
        self._apply(was)
        return self.leadership.leading

    def _apply(self, was: bool) -> None:
        """Resume the scheduler when leading (and wake it, so jobs other processes added to the shared job store
        are seen within one beat), pause it when not."""
        if self.leadership is None or not self.scheduler.running:
            return
        if self.leadership.leading:
            if self.scheduler.state == STATE_PAUSED:
                self.scheduler.resume()
            else:
                self.scheduler.wakeup()
            if not was:
                self._say(f"leading: this process ({self.leadership.holder}) runs the scheduled jobs")
        else:
            if self.scheduler.state != STATE_PAUSED:
                self.scheduler.pause()
            if was or self._leading_task is None:
                self._say(f"following: {self.leadership.current() or 'another process'} runs the scheduled jobs")

    async def _keep_leading(self) -> None:
        assert self.leadership is not None
        while True:
            await asyncio.sleep(self.leadership.interval_s)
            try:
                was = self.leadership.leading
                await asyncio.to_thread(self.leadership.beat)   # the database call off the loop…
                self._apply(was)                                 # …the scheduler touched on it
            except Exception:   # never let the heartbeat die: the next beat tries again
                log.exception("leader heartbeat")

    def shutdown(self) -> None:
        """Stop scheduling (takes effect on the loop's next iteration; see :meth:`aclose`)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def aclose(self, wait_for_training: bool = True) -> None:
        """Stop scheduling, then (by default) wait for a retrain in progress to finish; give the lease up."""
        if self._leading_task is not None:
            self._leading_task.cancel()
            self._leading_task = None
        self.shutdown()
        for _ in range(100):
            if not self.scheduler.running:
                break
            await asyncio.sleep(0)
        if self._executor is not None:
            ex = self._executor
            await asyncio.to_thread(ex.shutdown, wait=wait_for_training, cancel_futures=True)
        if self.leadership is not None:
            await asyncio.to_thread(self.leadership.resign)
        if REGISTRY.owner is self:   # leave nothing of this scheduler behind (a later one, or the CLI, starts clean)
            fresh = Registry()
            REGISTRY.owner, REGISTRY.executor = None, None
            REGISTRY.rec, REGISTRY.retrain, REGISTRY.announce = fresh.rec, fresh.retrain, fresh.announce
            REGISTRY.clock, REGISTRY.digest_every_days = fresh.clock, fresh.digest_every_days

    # -- jobs
    def _say(self, msg: str) -> None:
        log.info("%s", msg)
        if self.announce is not None:
            self.announce(msg)

    def _ensure(self, job_id: str, func: str, trigger: Any, name: str) -> Any:
        """Keep a persisted job whose settings still match (its next run time, missed runs included), else
        (re)add it."""
        job = self.scheduler.get_job(job_id)
        if (job is not None and job.func_ref == func and str(job.trigger) == str(trigger)
                and str(getattr(job.trigger, "timezone", "")) == str(getattr(trigger, "timezone", ""))
                and job.misfire_grace_time == self.grace):
            self._say(f"{name}: kept, next run {job.next_run_time}")
            return job
        job = self.scheduler.add_job(func, trigger, id=job_id, name=name, replace_existing=True,
                                     coalesce=True, max_instances=1, misfire_grace_time=self.grace)
        self._say(f"{name}: scheduled, next run {job.next_run_time}")
        return job

    def ensure_nightly(self) -> Any:
        h, m = self.nightly_at
        return self._ensure(JOB_NIGHTLY, FUNC_NIGHTLY, CronTrigger(hour=h, minute=m, timezone=self.scheduler.timezone),
                            "nightly retrain")

    def ensure_watch(self) -> Any:
        return self._ensure(JOB_WATCH, FUNC_WATCH,
                            IntervalTrigger(minutes=self.watch_every_min, timezone=self.scheduler.timezone),
                            "watch poll")

    def ensure_digest(self) -> Any:
        return self._ensure(JOB_DIGEST, FUNC_DIGESTS,
                            IntervalTrigger(days=self.digest_days, timezone=self.scheduler.timezone),
                            "weekly digest")

    def pending_feedback(self, user: str) -> int:
        return pending_feedback(self.rec.store, user)

    def on_feedback(self, user: str) -> str | None:
        """Call after storing a user's feedback: once ``learning.retrain_after_feedback`` events arrived since
        the last training, schedule ``retrain:{user}`` (``learning.retrain_delay_s`` from now, or earlier if one
        is already due sooner; replace_existing, so there is only ever one). Returns the job id, or None (also
        when the scheduler is not running: the nightly run catches up)."""
        if not self.scheduler.running:
            log.warning("on_feedback(%r) before the scheduler started: ignored", user)
            return None
        n = self.pending_feedback(user)
        if n < self.threshold:
            return None
        job_id = retrain_job_id(user)
        run_at = self.clock() + timedelta(seconds=self.delay)
        existing = self.scheduler.get_job(job_id)
        if existing is not None and existing.next_run_time is not None and existing.next_run_time <= run_at:
            return job_id   # one is already due sooner: coalesced into it
        job = self.scheduler.add_job(FUNC_RETRAIN, DateTrigger(run_date=run_at), args=(user,),
                                     kwargs={"trigger": "feedback"}, id=job_id, name=f"retrain {user}",
                                     replace_existing=True, coalesce=True, max_instances=1,
                                     misfire_grace_time=self.grace)
        self._say(f"retrain {user}: {n} new feedback (>= {self.threshold}), scheduled for {job.next_run_time}")
        return job_id

    def jobs(self) -> list[JobInfo]:
        return [JobInfo(j.id, j.name, getattr(j, "next_run_time", None), str(j.trigger), j.func_ref)
                for j in self.scheduler.get_jobs()]

    def _on_event(self, event: Any) -> None:
        code = event.code
        if code == EVENT_JOB_SUBMITTED:
            self._say(f"job {event.job_id}: running")
        elif code == EVENT_JOB_EXECUTED:
            self._say(f"job {event.job_id}: done")
        elif code == EVENT_JOB_ERROR:
            log.error("job %s failed: %r", event.job_id, event.exception)
            if self.announce is not None:
                self.announce(f"job {event.job_id}: failed ({type(event.exception).__name__}: {event.exception})")
        elif code == EVENT_JOB_MISSED:
            self._say(f"job {event.job_id}: missed its run at {event.scheduled_run_time} (beyond the grace time)")
        elif code == EVENT_JOB_MAX_INSTANCES:
            self._say(f"job {event.job_id}: still running, this run skipped")
