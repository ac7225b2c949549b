"""One leader among the bot processes sharing a database (core.learning.leader), on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from apscheduler.jobstores.memory import MemoryJobStore

from backends import database_url
from core.config import get_config
from core.learning.leader import LEASE, Leadership
from core.learning.scheduler import LearningScheduler
from core.storage import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_one_holder_at_a_time_and_a_silent_one_is_taken_over(tmp_path: Path) -> None:
    store = Store(database_url(tmp_path))
    clock = Clock()
    a = Leadership(store, 30, holder="a", clock=clock)
    b = Leadership(store, 30, holder="b", clock=clock)
    try:
        assert a.beat() and not b.beat()
        assert store.lease_holder(LEASE, clock.now) == "a"
        clock.now += timedelta(seconds=20)
        assert a.beat() and not b.beat()          # renewed: good for 30 s from now
        clock.now += timedelta(seconds=29)
        assert not b.beat()
        clock.now += timedelta(seconds=2)         # a said nothing for 31 s: a dead leader
        assert b.beat() and b.current() == "b"
        assert not a.beat() and not a.leading     # a comes back: it follows now
        b.resign()
        assert store.lease_holder(LEASE, clock.now) is None
        assert a.beat()                            # a resigned lease is taken at once
    finally:
        store.close()


def test_a_lost_database_means_not_leading() -> None:
    class Broken:
        def take_lease(self, *args: object) -> bool:
            raise ConnectionError("server closed the connection")

    lead = Leadership(Broken(), 30, holder="a")
    lead.leading = True
    assert not lead.beat() and not lead.leading


def test_a_follower_s_scheduler_runs_no_job_until_the_leader_s_lease_runs_out(tmp_path: Path) -> None:
    store = Store(database_url(tmp_path))
    clock = Clock()
    assert Leadership(store, 30, holder="other", clock=clock).beat()
    said: list[str] = []
    rec = SimpleNamespace(store=store, cfg=get_config())
    sched = LearningScheduler(rec, clock=clock, announce=said.append, digest=False,
                              leadership=Leadership(store, 30, holder="me", clock=clock))

    async def scenario() -> tuple[bool, bool, bool]:
        sched.start()
        try:
            ran: list[int] = []
            sched.scheduler.add_jobstore(MemoryJobStore(), "probe")   # a job that is due now, held in memory
            job = sched.scheduler.add_job(ran.append, "date", run_date=datetime.now(timezone.utc), args=(1,),
                                          id="probe", jobstore="probe")
            await asyncio.sleep(0.3)
            following = not sched.leading and not ran
            clock.now += timedelta(seconds=31)      # the other process died 31 s ago
            assert sched.beat()
            for _ in range(50):
                if ran:
                    break
                await asyncio.sleep(0.05)
            del job
            return following, sched.leading, ran == [1]
        finally:
            await sched.aclose()

    try:
        following, leading, ran = asyncio.run(scenario())
    finally:
        store.close()
    assert following and leading and ran
    assert any(line.startswith("following: other") for line in said)
    assert any(line.startswith("leading: this process (me)") for line in said)


def test_two_bot_processes_one_leader_and_a_killed_leader_is_replaced(tmp_path: Path) -> None:
    """Two `crate schedule` processes on one database: one leads; SIGKILL it, the other leads within the TTL."""
    url = database_url(tmp_path)
    Store(url).close()
    env = {**os.environ, "DATABASE_URL": url, "CRATE_LEARNING__LEADER_TTL_S": "1.5", "HF_HUB_OFFLINE": "1",
           "CRATE_PATHS__MODELS_DIR": str(tmp_path / "models"), "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "bot.cli", "schedule", "--run-for", "60"]
    procs = []
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    try:
        for log_path in logs:
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_path.open("w"),
                                          stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 90
        leader = None
        while time.monotonic() < deadline and leader is None:
            texts = [p.read_text() for p in logs]
            if all("running; Ctrl-C" in t for t in texts):
                leading = [i for i, t in enumerate(texts) if "leading: this process" in t]
                assert len(leading) <= 1, texts
                if leading:
                    leader = leading[0]
            time.sleep(0.2)
        assert leader is not None, [p.read_text() for p in logs]
        follower = 1 - leader
        assert "following:" in logs[follower].read_text()
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(10)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 20 and "leading: this process" not in logs[follower].read_text():
            time.sleep(0.1)
        took = time.monotonic() - killed_at
        assert "leading: this process" in logs[follower].read_text(), logs[follower].read_text()
        assert took < 1.5 + 1.0 + 2.0   # the TTL, one beat interval, slack for a loaded machine
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
