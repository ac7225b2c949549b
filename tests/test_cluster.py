"""Retrains fanned out on a real Dask distributed cluster (`dask scheduler` / `dask worker` from this venv),
with a worker killed mid-task; and the in-process run that skips users with nothing new."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import shared_embedding_dir

from bot.cli import main
from core.config import get_config
from core.model.embeddings import EmbeddingCache
from core.recommender import Recommender
from core.storage import Store
from fakes.world import ITERATIONS, clone, world_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path, cache_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRATE_", "DATABASE_URL"))}
    env.update({"CRATE_MODEL__CATBOOST__ITERATIONS": str(ITERATIONS), "CRATE_PATHS__CACHE_DIR": str(cache_dir),
                "CRATE_DISCOGS__LIVE": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1", "HOME": str(tmp), "DASK_DISTRIBUTED__WORKER__DAEMON": "false"})
    return env


@pytest.fixture()
def three_users(tmp_path, tmp_path_factory, catalogue, trained_template):
    """ana: the trained collector (an active model); ben and cy: 120 records each, never trained."""
    cache_dir = shared_embedding_dir(tmp_path_factory)
    url, models_dir = clone(trained_template, tmp_path / "world", "ana")
    rec = Recommender(Store(url), catalogue, world_config(), EmbeddingCache(cache_dir), models_dir)
    for user, part in (("ben", trained_template.subset[:120]), ("cy", trained_template.subset[120:240])):
        f = tmp_path / f"{user}.json"
        f.write_text(json.dumps(part), encoding="utf-8")
        rec.import_file(user, f)
    before = rec.store.active_model("ana").version
    rec.store.close()
    return url, models_dir, cache_dir, before


def test_retrain_all_on_dask_survives_a_worker_killed_mid_task(tmp_path, three_users) -> None:
    from distributed import Client

    url, models_dir, cache_dir, ana_before = three_users
    env = _env(tmp_path, cache_dir)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: dict[str, subprocess.Popen] = {}
    logs = tmp_path / "logs"
    logs.mkdir()

    def spawn(name: str, args: list[str]) -> None:
        procs[name] = subprocess.Popen([str(BIN / "dask"), *args], cwd=ROOT, env=env, start_new_session=True,
                                       stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT)

    try:
        spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
        for name in ("w1", "w2"):
            spawn(name, ["worker", address, "--name", name, "--nthreads", "1", "--nworkers", "1",
                         "--no-dashboard", "--memory-limit", "0"])
        client = Client(address, timeout=60)
        client.wait_for_workers(2, timeout=90)
        cli = subprocess.Popen([sys.executable, "-m", "bot.cli", "--database", url, "retrain", "--all",
                                "--scheduler", address], cwd=ROOT, env={**env, "CRATE_PATHS__MODELS_DIR":
                                                                          str(models_dir)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # kill the worker that has been on a user's retrain for 3 s: mid-training (the first task also loads
        # the models, so give it time to be well inside)
        killed, seen = None, {}
        deadline = time.monotonic() + 240
        while killed is None and time.monotonic() < deadline and cli.poll() is None:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            for w in busy:
                seen.setdefault(w, time.monotonic())
            for w, t in seen.items():
                if w in busy and time.monotonic() - t > 8:
                    name = client.scheduler_info()["workers"][w]["name"]
                    os.killpg(procs[name].pid, signal.SIGKILL)    # the worker and its nanny: gone for good
                    killed = name
                    break
            time.sleep(0.2)
        assert killed, "no worker was ever busy long enough to be killed"
        out, _ = cli.communicate(timeout=400)
        client.close()
    finally:
        for p in procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(20)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
    assert cli.returncode == 0, out
    lines = [ln for ln in out.splitlines() if re.match(r"^(ana|ben|cy): ", ln)]
    assert sorted(ln.split(":")[0] for ln in lines) == ["ana", "ben", "cy"], out   # one line a user
    assert all(re.match(r"^\w+: (accepted|rejected) ", ln) for ln in lines), out
    assert re.search(r"^retrained 3 users in [\d.]+ s on 2 workers$", out, re.M), out
    store = Store(url)
    try:
        for user in ("ana", "ben", "cy"):
            runs = [m for m in store.models(user) if m.metrics_dict.get("run")]
            assert len(runs) == 1, (user, [m.version for m in store.models(user)])   # retrained once, not twice
            assert store.active_model(user) is not None
            assert Path(store.active_model(user).path).exists()
        assert any(m.version == ana_before for m in store.models("ana"))   # the old model is kept, not lost
    finally:
        store.close()


def test_retrain_all_in_process_skips_users_with_nothing_new(tmp_path, three_users, monkeypatch, capsys) -> None:
    url, models_dir, cache_dir, ana_before = three_users
    monkeypatch.setenv("CRATE_PATHS__MODELS_DIR", str(models_dir))
    monkeypatch.setenv("CRATE_PATHS__CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("CRATE_MODEL__CATBOOST__ITERATIONS", str(ITERATIONS))
    get_config.cache_clear()
    try:
        assert main(["--database", url, "retrain", "--all", "--changed-only"]) == 0
    finally:
        get_config.cache_clear()
    out = capsys.readouterr().out
    assert re.search(rf"^ana: unchanged — nothing new since .* {ana_before} stays active$", out, re.M), out
    assert "ben: ACCEPTED — first model" in out and "cy: ACCEPTED — first model" in out
    assert re.search(r"^retrained 2 users in [\d.]+ s on 1 worker \(in process\)$", out, re.M), out


def test_an_unreachable_scheduler_is_a_sentence(tmp_path, capsys) -> None:
    from core.domain.release import CollectionItem, Release

    url = f"sqlite:///{tmp_path / 'c.db'}"
    s = Store(url)
    s.replace_collection("ana", [CollectionItem(release=Release(id=1, title="T", artists=["A"]), source="csv")])
    s.close()
    rc = main(["--database", url, "retrain", "--all", "--scheduler", f"tcp://127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err
    assert rc == 3 and "Cannot reach the Dask scheduler" in err and "dask worker" in err
