"""The shared test world: one collector trained once per session, cloned for each module that needs one.

Training is the slow part of a fixture (an import, 60 CatBoost iterations, calibration). The template — 300 of
lanebecker's records (every sixth), imported and trained with the product's configuration at 60 iterations — is
built once; :func:`clone` gives each module its own copy (database file and model artefacts in the module's
folder, the user renamed as the module wants), so no test can see another module's writes.
"""
from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends import copy_database, database_url, on_postgres
from core.config import get_config
from core.domain.release import ImportResult
from core.model.embeddings import EmbeddingCache
from core.recommender import Recommender, TrainReport
from core.storage import Store

ROOT = Path(__file__).resolve().parent.parent.parent
LANEBECKER = ROOT / "data" / "collections" / "lanebecker" / "collection.json"
TEMPLATE_USER = "lane300"
ITERATIONS = 60


def world_config() -> dict[str, Any]:
    """The product's configuration with the shared world's training budget (a private copy)."""
    cfg = copy.deepcopy(get_config())
    cfg["model"]["catboost"]["iterations"] = ITERATIONS
    return cfg


def lane_records() -> list[dict[str, Any]]:
    return json.loads(LANEBECKER.read_text(encoding="utf-8"))


@dataclass
class TrainedTemplate:
    """The trained collector, stored at ``db_file`` with its model files under ``models_dir``."""

    db_file: Path
    models_dir: Path
    records: list[dict[str, Any]]      # the whole lanebecker collection
    subset: list[dict[str, Any]]       # the 300 imported
    imported: ImportResult
    report: TrainReport


def build_template(where: Path, catalogue: dict, cache_dir: Path) -> TrainedTemplate:
    records = lane_records()
    subset = records[::6][:300]
    path = where / "lane300.json"
    path.write_text(json.dumps(subset), encoding="utf-8")
    db_file, models_dir = where / "crate.db", where / "models"
    rec = Recommender(Store(f"sqlite:///{db_file}"), catalogue, world_config(), EmbeddingCache(cache_dir),
                      models_dir)
    imported = rec.import_file(TEMPLATE_USER, path)
    report = rec.train(TEMPLATE_USER)
    rec.store.close()    # checkpoints the WAL: the file alone is the database
    return TrainedTemplate(db_file, models_dir, records, subset, imported, report)


def clone(template: TrainedTemplate, where: Path, user: str = TEMPLATE_USER) -> tuple[str, Path]:
    """Copy the template's database and model files into ``where`` (the user renamed ``user``); returns the
    database URL and the models folder, for the module to open its own :class:`Recommender` on. On a PostgreSQL
    run (``tests/backends.py``) the rows go into a fresh PostgreSQL database of the module's own."""
    where.mkdir(parents=True, exist_ok=True)
    db_file, models_dir = where / "crate.db", where / "models"
    shutil.copy(template.db_file, db_file)
    shutil.copytree(template.models_dir, models_dir)
    con = sqlite3.connect(db_file)
    try:
        with con:
            con.execute("UPDATE model_versions SET path = replace(path, ?, ?)",
                        (str(template.models_dir), str(models_dir)))
            con.execute("UPDATE users SET name = ? WHERE name = ?", (user, TEMPLATE_USER))
    finally:
        con.close()
    url = database_url(where)
    if on_postgres():
        copy_database(f"sqlite:///{db_file}", url)
    return url, models_dir


def cloned_recommender(template: TrainedTemplate, where: Path, user: str, catalogue: dict,
                       cache_dir: Path) -> Recommender:
    """A :class:`Recommender` over the module's own copy of the template (see :func:`clone`)."""
    url, models_dir = clone(template, where, user)
    return Recommender(Store(url), catalogue, world_config(), EmbeddingCache(cache_dir), models_dir)
