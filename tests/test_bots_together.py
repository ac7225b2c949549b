"""``crate run telegram discord``: the real process runs both bots over one database — Telegram long-polling a
local fake Bot API, Discord connected to a local fake Discord — and stops cleanly on SIGTERM."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_conversation import shared_embedding_dir
from test_telegram_e2e import START_S, _bot_env, stop, telegram_server  # noqa: F401

from backends import database_url
from fakes.discord_server import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent


def test_one_process_runs_both_bots(tmp_path, tmp_path_factory, telegram_server):  # noqa: F811
    discord_fake = FakeDiscord().start()
    discord_fake.add_guild(700000000000000009)
    env = _bot_env(telegram_server, database_url(tmp_path), tmp_path,
                   shared_embedding_dir(tmp_path_factory))
    env.update({"DISCORD_BOT_TOKEN": discord_fake.token, "DISCORD_API_BASE_URL": discord_fake.api_url,
                "DISCORD_GATEWAY_URL": discord_fake.gateway_url})
    log_path = tmp_path / "bots.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "-v", "run", "telegram", "discord"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        telegram_server.api.wait_for("getUpdates", timeout=START_S)
        discord_fake.wait_ready(START_S)
        names = {c["name"] for c in discord_fake.wait_commands(START_S)}
        assert {"score", "whowants", "link"} <= names
        alice = discord_fake.user(601, "Alice")
        ix = discord_fake.slash("help", alice)
        assert "Crate Digger" in ix.wait_response(timeout=30)["data"]["content"]
    finally:
        stop(proc)
        discord_fake.stop()
    out = log_path.read_text(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    assert discord_fake.token not in out and "Traceback" not in out


def test_a_missing_discord_token_is_said_plainly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_BOT_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "bot.cli", "run", "discord"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "DISCORD_BOT_TOKEN" in r.stderr and "Traceback" not in r.stderr
