"""Issue 22, end to end: the real Discord bot process (`python -m bot.cli run discord`) connected to the local fake
Discord, killed with SIGKILL at 20 random moments around a 👍 reaction on one of its cards. Discord does not deliver
a gateway event again to a new process, so the promise is about what reached the bot: every 👍 that got into its
inbox (or was already stored) is stored exactly once after the next start, and the inbox ends empty.

Time-bounded: every wait has a deadline, and the subprocess is always stopped (SIGTERM, then kill).
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from test_conversation import shared_embedding_dir
from test_telegram_e2e import START_S, stop

from backends import database_url
from core.app import CardRegistry
from core.secrets import SecretBox
from core.storage import Store
from fakes.discord_server import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent
USER_ID = 4343
#: the seed of the kill moments (any seed must pass)
KILL_SEED = int(os.environ.get("CRATE_KILL_SEED", "22"))


def _count(db_url: str, sql: str) -> int:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(sql).scalar() or 0)
    finally:
        engine.dispose()


def test_no_thumbs_up_that_reached_the_discord_bot_is_lost_when_it_is_killed_at_20_random_moments(
        tmp_path, tmp_path_factory, catalogue):
    rng = random.Random(KILL_SEED)
    db_url = database_url(tmp_path)
    user = f"dc:{USER_ID}"
    fake = FakeDiscord().start()
    alice = fake.user(USER_ID, "Alice")
    dm = int(fake.dm_channel(alice)["id"])
    store = Store(db_url)
    cards = CardRegistry(store)
    messages = []
    for n, rid in enumerate(sorted(catalogue)[5:25]):   # 20 cards the bot sent earlier, in Alice's DMs
        sid = store.record_score(user, rid, 0.4, "maybe", "test", ["a reason"], None)
        msg = {"id": str(900_000 + n), "channel_id": str(dm), "author": fake.bot_user}
        cards.remember("discord", dm, msg["id"], user, sid)
        messages.append((msg, sid))
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRATE_", "DISCORD_", "TELEGRAM_"))}
    env.update({
        "DISCORD_BOT_TOKEN": fake.token, "DISCORD_API_BASE_URL": fake.api_url, "DISCORD_GATEWAY_URL": fake.gateway_url,
        "CRATE_DISCOGS__LIVE": "false", "DATABASE_URL": db_url, "CRATE_PATHS__MODELS_DIR": str(tmp_path / "models"),
        "CRATE_PATHS__CACHE_DIR": str(shared_embedding_dir(tmp_path_factory)),
        "CRATE_SECRET_KEY": SecretBox.generate_key(), "CRATE_LEARNING__SCHEDULE_IN_BOT": "false",
        "CRATE_WORKERS__PROCESSES": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    })

    def start(n: int) -> subprocess.Popen:
        with open(tmp_path / f"run{n}.log", "wb") as log:
            return subprocess.Popen([sys.executable, "-m", "bot.cli", "-v", "run", "discord"], cwd=ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)

    inbox_sql = "SELECT count(*) FROM inbox_events WHERE platform = 'discord'"
    moments: list[str] = []
    ready = fake.ready_count
    proc = start(0)
    try:
        for n, (msg, sid) in enumerate(messages):
            deadline = time.monotonic() + START_S   # this process is up (it replayed its inbox before connecting)
            while fake.ready_count <= ready:
                assert time.monotonic() < deadline and proc.poll() is None, \
                    (tmp_path / f"run{n}.log").read_text(errors="replace")[-3000:]
                time.sleep(0.05)
            liked = f"SELECT count(*) FROM feedback WHERE score_id = {sid}"
            fake.react(alice, msg, "👍")
            deadline = time.monotonic() + 30
            while not (_count(db_url, inbox_sql) or _count(db_url, liked)):   # it reached the bot
                assert time.monotonic() < deadline, (tmp_path / f"run{n}.log").read_text(errors="replace")[-3000:]
                time.sleep(0.002)
            delay = rng.uniform(0.0, 0.15)
            time.sleep(delay)
            moments.append(f"{delay * 1000:.0f} ms")
            proc.kill()
            proc.wait(10)
            ready = fake.ready_count
            proc = start(n + 1)
        deadline = time.monotonic() + START_S
        while fake.ready_count <= ready:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        deadline = time.monotonic() + START_S
        while True:
            likes = _count(db_url, "SELECT count(*) FROM feedback WHERE kind = 'like'")
            pending = _count(db_url, inbox_sql)
            if likes >= len(messages) and not pending:
                break
            assert time.monotonic() < deadline, (moments, likes, pending,
                                                 (tmp_path / f"run{len(messages)}.log").read_text(errors="replace"))
            time.sleep(0.2)
    finally:
        stop(proc)
        fake.stop()
    store = Store(db_url)
    try:
        rows = sorted((fb.kind, fb.score_id) for fb in store.feedback(user))
    finally:
        store.close()
    assert rows == sorted(("like", sid) for _, sid in messages), moments
