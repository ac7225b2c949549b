"""`crate run telegram --webhook URL --workers N`: N bot processes behind one port, fed real Update JSON."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import shared_embedding_dir

from core.secrets import SecretBox
from fakes.telegram_server import TOKEN, FakeTelegramServer, UpdateFactory
from fakes.world import clone

ROOT = Path(__file__).resolve().parents[1]
USER_ID = 1001
SECRET = "s3cret-webhook-token"


@pytest.fixture
def telegram_server():
    server = FakeTelegramServer(max_poll=0.5).start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, update: dict, secret: str = SECRET) -> int:
    req = urllib.request.Request(url, data=json.dumps(update).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "X-Telegram-Bot-Api-Secret-Token": secret})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_two_webhook_workers_share_one_port_and_a_killed_one_comes_back(tmp_path, tmp_path_factory,
                                                                         trained_template, telegram_server, catalogue):
    url, models_dir = clone(trained_template, tmp_path / "world", f"tg:{USER_ID}")
    port = _free_port()
    hook = f"http://127.0.0.1:{port}/tg-hook"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRATE_", "TELEGRAM_", "DISCOGS_"))}
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": telegram_server.base_url,
                "TELEGRAM_WEBHOOK_SECRET": SECRET, "CRATE_DISCOGS__LIVE": "false", "DATABASE_URL": url,
                "CRATE_PATHS__MODELS_DIR": str(models_dir),
                "CRATE_PATHS__CACHE_DIR": str(shared_embedding_dir(tmp_path_factory)),
                "CRATE_SECRET_KEY": SecretBox.generate_key(), "CRATE_WORKERS__PROCESSES": "false",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    log_path = tmp_path / "bot.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "telegram", "--webhook", hook,
                                 "--listen", "127.0.0.1", "--port", str(port), "--workers", "2"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    api = telegram_server.api
    try:
        deadline = time.monotonic() + 120
        while log_path.read_text(errors="replace").count("ready (pid") < 2:
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        hooks = api.calls_of("setWebhook")
        assert len(hooks) == 1 and hooks[0].params["url"] == hook and hooks[0].params["secret_token"] == SECRET
        f = UpdateFactory()
        alice = f.user(USER_ID, "Alice")
        assert _post(hook, f.text(alice, "hello"), secret="wrong") == 403     # only Telegram may post
        owned = {r["id"] for r in trained_template.records}
        releases = [rid for rid in sorted(catalogue) if rid not in owned][:200:20]  # ten cached, not owned
        for rid in releases:
            assert _post(hook, f.text(alice, f"https://www.discogs.com/release/{rid}")) == 200
        deadline = time.monotonic() + 60
        while len([c for c in api.calls_of("sendMessage", "sendPhoto")
                   if "chance you'd buy it" in (c.params.get("text") or c.params.get("caption") or "")]) < 10:
            assert time.monotonic() < deadline, [(c.method, c.params.get("text")) for c in api.calls][-8:]
            time.sleep(0.1)
        # a worker killed outright is started again by the parent, and the port keeps answering
        workers = [int(p) for p in re.findall(r"ready \(pid (\d+)\)", log_path.read_text(errors="replace"))]
        assert len(set(workers)) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while log_path.read_text(errors="replace").count("ready (pid") < 3:
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        before = len(api.calls_of("sendMessage", "sendPhoto"))
        for rid in releases[:4]:
            assert _post(hook, f.text(alice, f"https://www.discogs.com/release/{rid}")) == 200
        deadline = time.monotonic() + 60
        while len(api.calls_of("sendMessage", "sendPhoto")) < before + 4:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    out = log_path.read_text(errors="replace")
    assert proc.returncode == 0, out[-3000:]
    assert TOKEN not in out and SECRET not in out     # neither secret reaches a log line
    assert "stopped" in out
