"""The learning scheduler: persisted jobs, feedback-triggered retrains, training off the event loop, the
digest job, and a retrain killed with SIGKILL mid-training.

Most tests use a real Store on a tmp SQLite file with a stand-in Recommender (``store`` + ``cfg``) and a fake
retrain function put in the registry; the SIGKILL test trains a real model and kills a real `crate retrain`.
"""
from __future__ import annotations

import asyncio
import copy
import json
import os
import pickle
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import shared_embedding_dir  # noqa: E402
from sqlalchemy import text

from backends import database_url
from core.config import get_config
from core.domain.release import CollectionItem, Release
from core.learning.scheduler import (
    JOB_DIGEST,
    JOB_NIGHTLY,
    LearningScheduler,
    is_training,
    run_digests,
    run_nightly,
    run_retrain,
)
from core.model.embeddings import EmbeddingCache
from core.recommender import Recommender
from core.storage import Store

ROOT = Path(__file__).resolve().parent.parent
LANEBECKER = ROOT / "data" / "collections" / "lanebecker" / "collection.json"


def make_cfg(threshold: int = 3, delay: float = 3600, nightly_at: str | None = None, iterations: int = 60) -> dict:
    cfg = copy.deepcopy(get_config())
    cfg["discogs"]["live"] = False
    cfg["model"]["catboost"]["iterations"] = iterations
    if nightly_at is None:   # two hours from now: never due while a test runs
        later = datetime.now(timezone.utc).astimezone() + timedelta(hours=2)
        nightly_at = f"{later.hour:02d}:{later.minute:02d}"
    cfg["learning"].update({"retrain_after_feedback": threshold, "retrain_delay_s": delay, "nightly_at": nightly_at,
                            "misfire_grace_s": 3600, "training_workers": 1})
    return cfg


def stand_in(url: str, cfg: dict) -> SimpleNamespace:
    """What the scheduler needs of a Recommender: its store and config."""
    return SimpleNamespace(store=Store(url), cfg=cfg)


def add_feedback(store: Store, user: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        store.record_feedback(user, "like" if i % 2 else "dislike", release_id=1_000_000 + i, source="cli")


def give_collection(store: Store, user: str, n: int = 3, list_name: str = "collection") -> None:
    items = [CollectionItem(release=Release(id=2_000_000 + i, title=f"Record {i}", artists=["Someone"]),
                            list_name=list_name) for i in range(n)]
    store.add_items(user, items, list_name=list_name, source="test")


def fake_result(user: str) -> SimpleNamespace:
    return SimpleNamespace(user=user, accepted=True, version=f"fake-{user}", seconds=0.0, reason="fake")


async def wait_until(cond, timeout: float = 10.0, step: float = 0.01) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(step)


def snapshot(s: LearningScheduler) -> dict:
    return {j.id: (j.next_run_time, j.trigger, j.func) for j in s.jobs()}


# ---------------------------------------------------------------------------------------- persistence


def test_the_schedule_survives_a_restart(tmp_path):
    url = database_url(tmp_path)
    cfg = make_cfg(threshold=2)
    rec = stand_in(url, cfg)
    add_feedback(rec.store, "ann", 2)

    async def run(r, c) -> dict:
        s = LearningScheduler(r, cfg=c, digest=True)
        s.start()
        s.on_feedback("ann")
        jobs = snapshot(s)
        await s.aclose()
        return jobs

    before = asyncio.run(run(rec, cfg))
    assert set(before) == {JOB_NIGHTLY, JOB_DIGEST, "retrain:ann"}
    assert before[JOB_NIGHTLY][2] == "core.learning.scheduler:run_nightly"
    assert before["retrain:ann"][2] == "core.learning.scheduler:run_retrain"
    with rec.store.engine.connect() as conn:   # in the Store's own database
        stored = {row[0] for row in conn.execute(text("SELECT id FROM apscheduler_jobs"))}
    assert stored == set(before)

    # a new process: fresh Store and scheduler on the same URL, a new event loop
    after = asyncio.run(run(stand_in(url, cfg), cfg))
    assert after == before                     # same ids, same next run times (nothing re-added from scratch)

    moved = make_cfg(threshold=2, nightly_at="04:45")
    again = asyncio.run(run(stand_in(url, moved), moved))
    assert again[JOB_DIGEST] == before[JOB_DIGEST] and again["retrain:ann"] == before["retrain:ann"]
    nightly = again[JOB_NIGHTLY][0]
    assert (nightly.hour, nightly.minute) == (4, 45) and again[JOB_NIGHTLY] != before[JOB_NIGHTLY]


def test_on_feedback_schedules_one_retrain_once_enough_feedback_arrived(tmp_path):
    url = database_url(tmp_path)
    rec = stand_in(url, make_cfg(threshold=3, delay=600))
    now = {"t": datetime.now(timezone.utc)}
    calls, said = [], []

    def fake(r, user, progress):
        calls.append(user)
        return fake_result(user)

    async def scenario() -> None:
        s = LearningScheduler(rec, clock=lambda: now["t"], retrain_fn=fake, announce=said.append, digest=False)
        s.start()
        add_feedback(rec.store, "ann", 2)
        assert s.on_feedback("ann") is None                 # 2 < 3: nothing scheduled
        assert [j.id for j in s.jobs()] == [JOB_NIGHTLY]
        add_feedback(rec.store, "ann", 1, start=2)
        assert s.on_feedback("ann") == "retrain:ann"
        first = s.scheduler.get_job("retrain:ann").next_run_time
        assert first == now["t"] + timedelta(seconds=600)
        now["t"] += timedelta(seconds=60)
        add_feedback(rec.store, "ann", 1, start=3)
        assert s.on_feedback("ann") == "retrain:ann"        # coalesced: still one job, not postponed
        assert [j.id for j in s.jobs()].count("retrain:ann") == 1
        assert s.scheduler.get_job("retrain:ann").next_run_time == first
        add_feedback(rec.store, "bob", 2, start=10)
        assert s.on_feedback("bob") is None

        # ann's model is retrained meanwhile (e.g. by the nightly run): her feedback is no longer pending …
        rec.store.register_model("ann", "v-nightly", str(tmp_path / "x.pkl"), {}, 1, 1)
        assert s.pending_feedback("ann") == 0 and s.on_feedback("ann") is None
        # … so the queued job, when it runs, re-checks and skips
        s.scheduler.modify_job("retrain:ann", next_run_time=datetime.now(timezone.utc))
        await wait_until(lambda: any("retrain ann:" in m and "skipped" in m for m in said))
        assert s.scheduler.get_job("retrain:ann") is None
        await s.aclose()

    asyncio.run(scenario())
    assert calls == []


# --------------------------------------------------------------------------------- off the event loop


def test_a_retrain_job_runs_off_the_event_loop_and_once_per_user(tmp_path):
    url = database_url(tmp_path)
    rec = stand_in(url, make_cfg(threshold=2, delay=0))
    add_feedback(rec.store, "ann", 2)
    started, finished = threading.Event(), threading.Event()
    calls = []

    def slow(r, user, progress):
        calls.append((user, threading.get_ident()))
        started.set()
        time.sleep(1.0)          # a CPU-bound fit would block the same way
        finished.set()
        return fake_result(user)

    async def scenario():
        s = LearningScheduler(rec, retrain_fn=slow, digest=False)
        s.start()
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.05)

        tick_task = asyncio.create_task(ticker())
        assert s.on_feedback("ann") == "retrain:ann"        # due now
        await wait_until(started.is_set)
        t_start = time.monotonic()
        assert is_training("ann")
        assert await run_retrain("ann") is None             # the same user again: skipped, not queued
        await wait_until(finished.is_set)
        t_end = time.monotonic()
        await asyncio.sleep(0.1)
        tick_task.cancel()
        left = [j.id for j in s.jobs()]
        await s.aclose()
        return threading.get_ident(), ticks, t_start, t_end, left

    loop_thread, ticks, t_start, t_end, left = asyncio.run(scenario())
    assert [u for u, _ in calls] == ["ann"]
    assert calls[0][1] != loop_thread                       # trained on another thread
    during = [t for t in ticks if t_start <= t <= t_end]
    assert t_end - t_start > 0.8 and len(during) >= 10      # the loop kept ticking every 50 ms meanwhile
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.4
    assert "retrain:ann" not in left                        # a one-off job is gone once run
    assert not is_training("ann")


def test_the_nightly_job_trains_every_user_with_a_collection_one_at_a_time(tmp_path):
    url = database_url(tmp_path)
    rec = stand_in(url, make_cfg())
    for user in ("bob", "ann", "cy", "zed"):
        give_collection(rec.store, user)
    give_collection(rec.store, "dan", list_name="wantlist")   # no collection: not trained
    add_feedback(rec.store, "eve", 1)                         # known user, nothing imported
    lock, state, order = threading.Lock(), {"now": 0, "max": 0}, []

    def fake(r, user, progress):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
            order.append(user)
        if user == "cy":
            raise RuntimeError("cy's model exploded")
        return fake_result(user)

    heard: list[str] = []

    async def scenario():
        s = LearningScheduler(rec, retrain_fn=fake, digest=False, after_nightly=heard.append)
        s.start()
        s.scheduler.modify_job(JOB_NIGHTLY, next_run_time=datetime.now(timezone.utc))   # due now
        # a feedback-triggered retrain of zed at the same time queues behind, never alongside
        direct = asyncio.create_task(run_retrain("zed"))
        await wait_until(lambda: len(order) >= 5 and len(heard) >= 4)
        await direct
        job = s.scheduler.get_job(JOB_NIGHTLY)
        await s.aclose()
        return job

    job = asyncio.run(scenario())
    assert sorted(order) == ["ann", "bob", "cy", "zed", "zed"]
    assert [u for u in order if u != "zed"] == ["ann", "bob", "cy"]   # alphabetical, one at a time
    assert state["max"] == 1
    assert heard == ["ann", "bob", "cy", "zed"]    # each heard after their nightly retrain, cy's failure too
    assert job is not None and job.next_run_time > datetime.now(timezone.utc)   # the cron job stays


def test_the_nightly_job_survives_one_users_failure(tmp_path):
    url = database_url(tmp_path)
    rec = stand_in(url, make_cfg())
    for user in ("ann", "bob"):
        give_collection(rec.store, user)

    def fake(r, user, progress):
        if user == "ann":
            raise RuntimeError("boom")
        return fake_result(user)

    async def scenario():
        s = LearningScheduler(rec, retrain_fn=fake, digest=False)
        s.start()
        out = await run_nightly()
        await s.aclose()
        return out

    out = asyncio.run(scenario())
    assert isinstance(out["ann"], RuntimeError) and out["bob"].version == "fake-bob"


# ---------------------------------------------------------------------------------------------- digest


def test_the_digest_job_builds_sends_and_marks(tmp_path, monkeypatch):
    url = database_url(tmp_path)
    rec = stand_in(url, make_cfg())
    for user in ("ann", "bob"):
        give_collection(rec.store, user)
    built, sent = [], []
    when = datetime.now(timezone.utc)

    def build_digest(r, user, now=None, since=None):
        built.append((user, now))
        return SimpleNamespace(user=user, until=now, text=f"digest for {user}", quiet=user == "bob")

    def mark_sent(r, user, now=None):
        r.store.set_last_digest_at(user, now)

    fake_module = types.ModuleType("core.learning.digest")
    fake_module.build_digest, fake_module.mark_sent = build_digest, mark_sent
    monkeypatch.setitem(sys.modules, "core.learning.digest", fake_module)

    async def send(user, digest):
        sent.append((user, digest.text))

    async def scenario():
        s = LearningScheduler(rec, clock=lambda: when, send_digest=send)   # digest job: core.learning.digest exists
        s.start()
        ids = [j.id for j in s.jobs()]
        first, second = await run_digests(), await run_digests()
        await s.aclose()
        return ids, first, second

    ids, first, second = asyncio.run(scenario())
    assert JOB_DIGEST in ids
    assert first == {"ann": "sent", "bob": "quiet"}
    assert sent == [("ann", "digest for ann")] and ("ann", when) in built
    assert rec.store.last_digest_at("ann") == when and rec.store.last_digest_at("bob") is None
    assert second == {"ann": "not due", "bob": "quiet"}

    monkeypatch.setitem(sys.modules, "core.learning.digest", None)                # the module is not there
    s = LearningScheduler(rec)
    assert s.digest is False
    assert asyncio.run(run_digests()) == {}


def test_the_watch_poll_job_polls_every_watching_user_and_sends_their_alerts(tmp_path):
    """With a sender of alerts, the scheduler keeps a ``watch-poll`` job every ``watch.poll_every_min``; a run
    polls each user watching something (one user's failure leaves the others) and sends what the pass found."""
    from core.learning.scheduler import JOB_WATCH, run_watch_polls

    url = database_url(tmp_path)
    cfg = make_cfg()
    cfg["watch"]["poll_every_min"] = 20
    rec = stand_in(url, cfg)
    for user, rid in (("ann", 1), ("bob", 2), ("cy", 3)):
        rec.store.watch(user, rid)
    when = datetime.now(timezone.utc)
    polled, sent = [], []

    def watch_pass(user, now):
        polled.append((user, now))
        if user == "bob":
            raise RuntimeError("Discogs fell over")
        return [f"alert for {user}"] if user == "ann" else []

    async def send(user, alert):
        sent.append((user, alert))

    async def scenario():
        s = LearningScheduler(rec, clock=lambda: when, digest=False, watchers=rec.store.users_watching,
                              watch_pass=watch_pass, send_alert=send)
        s.start()
        job = s.scheduler.get_job(JOB_WATCH)
        out = await run_watch_polls()
        await s.aclose()
        return job, out

    job, out = asyncio.run(scenario())
    assert job is not None and job.trigger.interval == timedelta(minutes=20)
    assert polled == [("ann", when), ("bob", when), ("cy", when)]
    assert out == {"ann": 1, "cy": 0} and sent == [("ann", "alert for ann")]

    other = stand_in(database_url(tmp_path, "other"), cfg)

    async def without_sender():   # the shell's `crate schedule`: nobody to send alerts to, no job
        s = LearningScheduler(other, clock=lambda: when, digest=False)
        s.start()
        ids = [j.id for j in s.jobs()]
        await s.aclose()
        return ids

    assert asyncio.run(without_sender()) == [JOB_NIGHTLY]


# --------------------------------------------------------------------------------- killed mid-training


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def test_a_retrain_killed_mid_training_leaves_everything_as_it_was(tmp_path, tmp_path_factory, catalogue):
    user = "killme"
    cfg = make_cfg(threshold=5, delay=3600)
    url = database_url(tmp_path)
    models_dir = tmp_path / "models"
    cache_dir = shared_embedding_dir(tmp_path_factory)
    records = sorted(json.loads(LANEBECKER.read_text(encoding="utf-8")), key=lambda r: (r["added"], r["id"]))
    (tmp_path / "c.json").write_text(json.dumps(records[::5][:150]), encoding="utf-8")
    rec = Recommender(Store(url), catalogue, cfg, EmbeddingCache(cache_dir), models_dir)
    rec.import_file(user, tmp_path / "c.json")
    v1 = rec.train(user).version
    owned = {r["id"] for r in records}
    targets = [rid for rid in sorted(catalogue) if rid not in owned][::53][:13]
    p_before = float(rec.model_for(user)[1].score([catalogue[targets[0]]])[0])
    for i, rid in enumerate(targets[1:]):
        card = rec.score(user, rid)
        rec.feedback(user, ["like", "dislike", "bought"][i % 3], card.score_id, source="telegram")
    rec.embeddings.save()
    feedback_before = sorted(fb.id for fb in rec.store.feedback(user))
    assert len(feedback_before) == 12

    async def schedule(r) -> tuple[dict, list[str]]:
        said: list[str] = []
        s = LearningScheduler(r, cfg=cfg, digest=True, announce=said.append)
        s.start()
        s.on_feedback(user)
        jobs = snapshot(s)
        await s.aclose()
        return jobs, said

    jobs_before, _ = asyncio.run(schedule(rec))
    assert set(jobs_before) == {JOB_NIGHTLY, JOB_DIGEST, f"retrain:{user}"}

    # `crate retrain` in its own process, on a copy of the embedding cache, slow enough to be caught mid-fit
    private_cache = tmp_path / "cache"
    private_cache.mkdir()
    shutil.copy(cache_dir / "embeddings.npz", private_cache / "embeddings.npz")
    env = {**os.environ, "CRATE_PATHS__MODELS_DIR": str(models_dir), "CRATE_PATHS__CACHE_DIR": str(private_cache),
           "CRATE_MODEL__CATBOOST__ITERATIONS": "1500", "CRATE_DISCOGS__LIVE": "false", "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("CRATE_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "--database", url, "retrain", "--user", user],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while True:   # the final fit starts right after this line; the artefact is written after it
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "crate retrain ended early:\n" + "".join(seen)
            seen.append(line)
            if "learning your taste" in line:
                break
        time.sleep(0.5)
        assert proc.poll() is None, "crate retrain finished before it could be killed:\n" + "".join(seen)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert any("checking how well I read your newest records" in line for line in seen)

    # a restarted bot: fresh store and recommender on the same database and models folder
    store2 = Store(url)
    if store2.engine.dialect.name == "sqlite":
        with store2.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    rec2 = Recommender(store2, catalogue, cfg, EmbeddingCache(cache_dir), models_dir)
    assert store2.active_model(user).version == v1
    version, scorer = rec2.model_for(user)
    assert version == v1
    assert float(scorer.score([catalogue[targets[0]]])[0]) == pytest.approx(p_before, abs=1e-9)
    assert set(feedback_before) <= {fb.id for fb in store2.feedback(user)}
    registered = store2.models(user)
    assert [mv.version for mv in registered] == [v1]          # nothing half-done was registered
    for mv in registered:
        assert mv.path.endswith(".pkl") and Path(mv.path).is_file()
        with open(mv.path, "rb") as fh:
            pickle.load(fh)
    strays = list((models_dir / user).glob("*.tmp"))
    assert not {str(p) for p in strays} & {mv.path for mv in registered}

    # the scheduler starts again with the very same jobs, and sweeps a stale temp file (never a fresh one)
    stale, fresh = models_dir / user / "tmpstale.tmp", models_dir / user / "tmpfresh.tmp"
    stale.write_bytes(b"half a pickle")
    fresh.write_bytes(b"being written right now")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    jobs_after, said = asyncio.run(schedule(rec2))
    assert jobs_after == jobs_before
    assert not stale.exists() and fresh.exists() and Path(store2.active_model(user).path).is_file()
    assert any("removed 1 stale temporary model file" in m for m in said)
    store2.close()
    rec.store.close()


def test_the_nightly_job_skips_users_with_nothing_new_since_their_model(tmp_path):
    """A cheaper night: a user whose model saw everything they have (no new records, no new feedback) is not
    retrained; one record or one 👍 more and they are."""
    url = database_url(tmp_path)
    rec = stand_in(url, make_cfg())
    for user in ("ann", "bob", "cy"):
        give_collection(rec.store, user)
        rec.store.register_model(user, f"v-{user}", str(tmp_path / f"{user}.cbm"), {}, 3, 9)
    give_collection(rec.store, "bob", n=4)   # a record more since bob's model
    add_feedback(rec.store, "cy", 1)
    trained: list[str] = []

    def fake(r, user, progress):
        trained.append(user)
        return fake_result(user)

    async def scenario():
        s = LearningScheduler(rec, retrain_fn=fake, digest=False)
        s.start()
        out = await run_nightly()
        await s.aclose()
        return out

    out = asyncio.run(scenario())
    assert out["ann"] is None and sorted(trained) == ["bob", "cy"]
