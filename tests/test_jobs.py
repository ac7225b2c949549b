"""Issue 22: the bots' heavy work (an uploaded file, a training, a barcode photo) runs in worker processes with
memory of their own (core/app/jobs.py): the bot's process never holds the records or the OCR network, a worker that
dies fails only its job (said in a sentence), and the next job gets a fresh worker."""
from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest
from conftest import shared_embedding_dir
from PIL import Image

from backends import database_url
from core.app import CrateApp, Refusal
from core.app.jobs import WORKER_DIED, WorkerDied, WorkerJobs
from core.barcode import PhotoError
from core.model.embeddings import EmbeddingCache
from core.recommender import Recommender
from core.storage import Store
from fakes.world import world_config

ROOT = Path(__file__).resolve().parent.parent
MOUSE_CSV = ROOT / "data" / "collections" / "mouse-reeve" / "collection.csv"
PHOTOS = ROOT.parent / "shared" / "data" / "barcode-photos"


@pytest.fixture
def app(tmp_path, tmp_path_factory, catalogue):
    rec = Recommender(Store(database_url(tmp_path)), catalogue, world_config(),
                      EmbeddingCache(shared_embedding_dir(tmp_path_factory)), tmp_path / "models")
    jobs = WorkerJobs(rec)
    yield CrateApp(rec, jobs=jobs)
    jobs.close()


def test_an_upload_and_its_training_run_in_a_worker_and_the_bot_sees_the_result(app):
    pids = app.jobs.pids()
    assert os.getpid() not in pids.values() and pids["data"] != pids["photo"]
    result = app.accounts.import_upload("ann", "collection.csv", MOUSE_CSV.read_bytes())
    assert result.n_items == 68 and result.items == []              # the records stay in the worker
    assert len(app.rec.store.collection("ann")) == 68                # …and in the database, for the bot to read
    said: list[str] = []
    line = app.accounts.train("ann", said.append, "head")
    assert line.startswith("🧠 Your model is ready: trained on 68 records"), line
    assert any("learning your taste" in s for s in said)             # the worker's progress reaches the chat
    version, _ = app.rec.model_for("ann")
    assert version is not None and version == app.rec.store.active_model("ann").version
    with pytest.raises(Refusal) as bad:
        app.accounts.import_upload("bob", "x.json", b'{"releases":[' + b"{}," * 400_000 + b"{}]}")
    assert "300,000" in bad.value.message                            # a refusal crosses back as its sentence


def test_a_photo_is_read_in_its_own_worker_and_refusals_keep_their_words(app):
    real = sorted((PHOTOS / "upca-1").glob("*.webp"))
    if not real:
        pytest.skip("../shared/data/barcode-photos is absent")
    assert app.jobs.decode_photo(real[0].read_bytes()).codes
    strip = io.BytesIO()
    Image.new("L", (1_000_000, 1), 255).save(strip, "PNG")
    with pytest.raises(PhotoError) as exc:
        app.jobs.decode_photo(strip.getvalue())
    assert "a strip, not a photo" in exc.value.user_message


def test_a_worker_that_dies_fails_only_its_job_and_the_next_job_gets_a_new_one(app):
    first = app.jobs.pids()["data"]
    os.kill(first, signal.SIGKILL)                                   # e.g. the kernel's OOM killer
    with pytest.raises(WorkerDied):
        app.jobs.import_file("ann", MOUSE_CSV)
    assert app.accounts.import_upload("ann", "collection.csv", MOUSE_CSV.read_bytes()).n_items == 68
    assert app.jobs.pids()["data"] != first
    os.kill(app.jobs.pids()["data"], signal.SIGKILL)
    with pytest.raises(Refusal) as said:
        app.accounts.import_upload("ann", "c.csv", MOUSE_CSV.read_bytes())
    assert said.value.message == f"I couldn't finish reading c.csv. {WORKER_DIED}"


ORPHAN = """
import sys, time
sys.path.insert(0, {root!r})
if __name__ == "__main__":
    from core.app.jobs import WorkerJobs
    from core.recommender import Recommender
    from core.storage import Store
    jobs = WorkerJobs(Recommender(Store({url!r}), {{}}))
    print(" ".join(str(p) for p in jobs.pids().values()), flush=True)
    time.sleep(120)
"""


def test_workers_end_when_the_bot_is_killed(tmp_path):
    """A SIGKILLed bot leaves no worker behind (the workers watch their parent)."""
    import subprocess
    import sys
    import time

    script = tmp_path / "bot.py"
    script.write_text(ORPHAN.format(root=str(ROOT), url=database_url(tmp_path, 'c')), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
    finally:
        proc.kill()
        proc.wait(10)
    assert len(pids) == 2

    def alive(pid: int) -> bool:   # a zombie (ended, not yet reaped by whoever adopted it) counts as ended
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)


def test_a_worker_ends_when_the_bot_is_killed_while_the_worker_is_still_starting():
    """The bot killed (SIGKILL) a moment after it started a worker, before the worker's own code ran: the worker
    ends all the same (it knows the bot by the pid that spawned it, not by whoever is its parent by then)."""
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import multiprocessing, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from core.app.jobs import _ping, _start_worker\n"
        "if __name__ == '__main__':\n"
        "    ctx = multiprocessing.get_context('spawn')\n"
        "    pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_start_worker,\n"
        "                               initargs=({'db_url': None}, ctx.Queue()))\n"
        "    pool.submit(_ping)\n"
        "    print('started', flush=True)\n"
        "    time.sleep(120)\n")
    root = Path(__file__).resolve().parent.parent
    bot = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert bot.stdout is not None and bot.stdout.readline().strip() == "started"
        time.sleep(0.2)                                   # the worker is spawned and still importing
        kids = children(bot.pid)
        assert kids
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait()
    deadline = time.monotonic() + 90
    while any(Path(f"/proc/{k}").exists() for k in kids):
        assert time.monotonic() < deadline, f"workers {kids} outlived the bot"
        time.sleep(0.5)


def children(pid: int) -> list[str]:
    """The pids whose parent is ``pid`` (read from /proc: no procps needed)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:   # gone meanwhile
            continue
        if int(fields[1]) == pid:
            out.append(stat.parent.name)
    return out
