"""Shared session fixtures on the real bundled data.

Embedding is the slow part (~25 ms a release on 2 cores): every fixture here draws from the same few hundred
releases so one session-wide cache embeds each of them once.
"""
from __future__ import annotations

import copy
import os
import random
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tests never touch the network: live Discogs look-ups are off unless a test builds a gateway to the local
# fake server itself, and the default API address points at a closed local port as a safety net.
os.environ["CRATE_DISCOGS__LIVE"] = "false"
# the bots' imports, trainings and photos run in process (fast, and monkeypatchable); tests/test_jobs.py runs them in
# worker processes
os.environ.setdefault("CRATE_WORKERS__PROCESSES", "false")
# barcode photos: the tests assert what is read, not how fast (benchmarks/bench_barcode.py measures that), so a
# busy test machine gets the time a quiet one would not need; tests of the budget set their own
os.environ.setdefault("CRATE_PHOTO__TIME_BUDGET_S", "5")
os.environ["DISCOGS_API_BASE_URL"] = "http://127.0.0.1:9"
# the candidate catalogue of a test that does not make its own: a throw-away folder, never the user's own
_scratch = __import__("tempfile").mkdtemp(prefix="crate-test-catalogue-")
os.environ.setdefault("CRATE_DISCOVER__CATALOGUE_DB", os.path.join(_scratch, "catalogue.db"))
os.environ.setdefault("CRATE_DISCOVER__INDEX_FILE", os.path.join(_scratch, "catalogue.faiss"))

import pytest  # noqa: E402

from core.config import get_config  # noqa: E402
from core.domain.release import Release, album_key  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CATALOGUE_DIR = DATA / "catalogue"
LANEBECKER = DATA / "collections" / "lanebecker" / "collection.json"

N_TRAIN_POS = 250
N_TRAIN_NEG = 500
N_HOLDOUT_POS = 100
N_HOLDOUT_NEG = 150


def model_config(iterations: int = 100) -> dict:
    """A private copy of ``model`` from the real config (never mutate get_config()'s cached dict)."""
    cfg = copy.deepcopy(get_config()["model"])
    cfg["catboost"]["iterations"] = iterations
    return cfg


@pytest.fixture(scope="session")
def catalogue() -> dict[int, Release]:
    from core.ingest.readers.catalogue import load_catalogue

    return load_catalogue(CATALOGUE_DIR / "releases.jsonl", CATALOGUE_DIR / "labels.jsonl",
                          CATALOGUE_DIR / "community.jsonl")


@pytest.fixture(scope="session")
def lanebecker_items():
    from core.ingest.readers import read_collection

    return read_collection(LANEBECKER).items


@pytest.fixture(scope="session")
def embedder(tmp_path_factory):
    """The real all-MiniLM-L6-v2 model (offline), cached in a session tmp dir; ``embed_releases``."""
    from core.model.embeddings import EmbeddingCache

    return EmbeddingCache(tmp_path_factory.mktemp("embeddings")).embed_releases


@pytest.fixture(scope="session")
def lanebecker_sample(catalogue, lanebecker_items) -> dict:
    """A time-ordered sample of lanebecker's records (described by their catalogue records) and catalogue
    negatives: ``train_pos``/``train_dates`` (the 250 records added before the held-out ones), ``holdout_pos``
    (the 100 latest records, none another pressing of a train album), ``train_neg`` (500) and ``holdout_neg`` (150),
    negatives neither owned by lanebecker nor another pressing of an album lanebecker owns."""
    owned_ids = {it.release.id for it in lanebecker_items}
    owned_albums = {album_key(it.release) for it in lanebecker_items}
    dated: dict[int, object] = {}
    for it in lanebecker_items:
        if it.release.id in catalogue and it.date_added is not None:
            dated.setdefault(it.release.id, it.date_added)
    order = sorted(dated, key=lambda rid: (dated[rid], rid))
    earlier, latest = order[:-N_HOLDOUT_POS * 2], order[-N_HOLDOUT_POS * 2:]
    train_ids = earlier[-N_TRAIN_POS:]
    train_albums = {album_key(catalogue[i]) for i in train_ids}
    hold_ids = [i for i in latest if album_key(catalogue[i]) not in train_albums][-N_HOLDOUT_POS:]
    pool = [r for rid, r in sorted(catalogue.items()) if rid not in owned_ids and album_key(r) not in owned_albums]
    neg = random.Random(0).sample(pool, N_TRAIN_NEG + N_HOLDOUT_NEG)
    return {
        "train_pos": [catalogue[i] for i in train_ids],
        "train_dates": [dated[i] for i in train_ids],
        "holdout_pos": [catalogue[i] for i in hold_ids],
        "train_neg": neg[:N_TRAIN_NEG],
        "holdout_neg": neg[N_TRAIN_NEG:],
    }


@pytest.fixture(scope="session")
def small_training_set(lanebecker_sample, embedder):
    """~250 lanebecker records (with their date_added) vs ~500 catalogue records others bought."""
    from core.model.scorers.base import TrainingSet

    s = lanebecker_sample
    return TrainingSet(list(s["train_pos"]), list(s["train_neg"]), embedder, model_config(100),
                       positive_dates=list(s["train_dates"]))


@pytest.fixture(scope="session")
def small_catboost(small_training_set):
    """A CatBoostScorer fitted once on ``small_training_set``."""
    from core.model.scorers.catboost_model import CatBoostScorer

    return CatBoostScorer().fit(small_training_set)


# -- helpers shared by the conversation, CLI, digest, learning and scheduler tests -----------------------------
def shared_embedding_dir(tmp_path_factory) -> Path:
    """One embedding-cache folder for the whole session.

    Keys are hashes of the embedded text, so a copy of the configured cache (when this machine has one) is a
    valid warm start; without it the releases are embedded here (slower, same results).
    """
    import shutil

    from core.config import resolve_path

    d = tmp_path_factory.getbasetemp() / "crate-embedding-cache"
    if not d.exists():
        d.mkdir()
        src = resolve_path(get_config()["paths"]["cache_dir"]) / "embeddings.npz"
        if src.is_file() and not os.environ.get("CRATE_TEST_COLD_CACHE"):
            shutil.copy(src, d / "embeddings.npz")
    return d


def release_url(rid: int) -> str:
    return f"https://www.discogs.com/release/{rid}-Some-Artist-Some-Title"


def bullets(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("• ")]



@pytest.fixture(scope="session")
def trained_template(tmp_path_factory, catalogue):
    """The shared world (tests/fakes/world.py): 300 of lanebecker's records imported and trained once per session;
    modules take their own copy with ``fakes.world.clone``."""
    from fakes.world import build_template

    return build_template(tmp_path_factory.mktemp("trained-template"), catalogue,
                          shared_embedding_dir(tmp_path_factory))
