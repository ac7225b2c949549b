"""Shared set-up for the benchmarks: a throw-away database and models folder, the real catalogue and the
configured (persistent) embedding cache, so a second run measures the service, not the first embedding."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the in-process benchmarks measure the service on cached data: no live Discogs look-ups (no network here)
os.environ.setdefault("CRATE_DISCOGS__LIVE", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LANEBECKER = ROOT / "data" / "collections" / "lanebecker" / "collection.json"


def fresh_recommender(prefix: str):
    """(Recommender on a temp SQLite DB + temp models dir, the temp dir)."""
    from core.recommender import Recommender
    from core.storage import Store

    tmp = Path(tempfile.mkdtemp(prefix=f"crate-{prefix}-"))
    rec = Recommender(Store(f"sqlite:///{tmp / 'bench.db'}"), models_dir=tmp / "models")
    return rec, tmp


def warm_embeddings(rec, releases) -> float:
    """Embed (and persist) anything not cached yet; returns the seconds it took (0-ish when warm)."""
    t0 = time.perf_counter()
    rec.embed(list(releases))
    rec.embeddings.save()
    return time.perf_counter() - t0


def machine() -> str:
    import platform

    return f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs visible"


def grow_collection(rec, user: str, size: int, seed: int = 1) -> int:
    """Import lanebecker as ``user`` and add undated catalogue records they don't have up to ``size``."""
    import random

    from core.domain.release import CollectionItem, others_pool

    rec.import_file(user, LANEBECKER)
    owned = [it.release for it in rec.owned(user)]
    n_owned = len({r.id for r in owned})
    extra = random.Random(seed).sample(others_pool(rec.catalogue, owned), max(0, size - n_owned))
    rec.store.add_items(user, [CollectionItem(release=r, list_name="collection", source="bench") for r in extra])
    return len({it.release.id for it in rec.owned(user)})



def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_postgres() -> tuple[str, Path]:
    """A throw-away PostgreSQL server (scripts/pg) with an empty database ``crate``: (its URL, the server's
    folder for :func:`stop_postgres`). The folder is made in /tmp, where the server's user can reach it."""
    import subprocess

    from sqlalchemy import create_engine

    pgdir = Path(tempfile.mkdtemp(prefix="crate-pg-"))
    server = subprocess.run([str(ROOT / "scripts" / "pg"), "start", str(pgdir), str(free_port())],
                            check=True, capture_output=True, text=True).stdout.strip()
    eng = create_engine(server, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql('CREATE DATABASE "crate"')
    eng.dispose()
    return server.rsplit("/", 1)[0] + "/crate", pgdir


def stop_postgres(pgdir: Path) -> None:
    import shutil
    import subprocess

    subprocess.run([str(ROOT / "scripts" / "pg"), "stop", str(pgdir)], check=False)
    shutil.rmtree(pgdir, ignore_errors=True)
