"""Back up and restore everything a running Crate Digger keeps: the database (collections, feedback, served
scores, model versions, encrypted tokens), the per-user model files, the secret key that decrypts the tokens and,
optionally, the candidate catalogue (database and index; it can be rebuilt from a dump, in hours).

One ``.tar.gz`` holds them with a ``MANIFEST.json`` naming where each came from. The SQLite database is copied
with SQLite's online backup API, so a backup taken while a bot runs is consistent. PostgreSQL is backed up with
its own tool (``pg_dump``), not here. Restore puts each file back where the configuration says it lives now (a
different models folder is fine: the model paths in the database are rewritten) and refuses to overwrite a
database that holds collectors unless told to.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from core.config import database_url, get_config, private_dir, resolve_path
from core.secrets import _key_file_from_config

FORMAT = 1


class BackupError(Exception):
    """What went wrong, in a sentence for the operator."""


@dataclass
class BackupReport:
    path: Path
    parts: dict[str, int] = field(default_factory=dict)    # part → bytes

    @property
    def text(self) -> str:
        parts = ", ".join(f"{k} ({v / 1e6:.1f} MB)" for k, v in self.parts.items())
        return f"backed up {parts} into {self.path}"


def _sqlite_file(db_url: str) -> Path:
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError(f"only a SQLite database is backed up here; for {url.get_backend_name()} use its own "
                          "tool (pg_dump / pg_restore)")
    return resolve_path(url.database)


def _paths(cfg: Mapping[str, Any], db_url: str) -> dict[str, Path]:
    return {"database": _sqlite_file(db_url), "models": resolve_path(cfg["paths"]["models_dir"]),
            "secret.key": _key_file_from_config(cfg),
            "catalogue.db": resolve_path(cfg["discover"]["catalogue_db"]),
            "catalogue.faiss": resolve_path(cfg["discover"]["index_file"])}


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size if p.exists() else 0


def backup(out: Path, *, catalogue: bool = True, database: str | None = None,
           cfg: Mapping[str, Any] | None = None) -> BackupReport:
    """Write the archive ``out`` (``.tar.gz``) of the configured (or ``database``'s) data; returns what went in."""
    cfg = cfg if cfg is not None else get_config()
    paths = _paths(cfg, database or database_url())
    if not paths["database"].is_file():
        raise BackupError(f"there is no database at {paths['database']} to back up")
    report = BackupReport(Path(out))
    with tempfile.TemporaryDirectory(prefix="crate-backup-") as tmp:
        stage = Path(tmp)
        src = sqlite3.connect(paths["database"])
        dst = sqlite3.connect(stage / "crate.db")
        try:
            src.backup(dst)   # consistent even while a bot writes
        finally:
            dst.close()
            src.close()
        report.parts["database"] = _size(stage / "crate.db")
        manifest: dict[str, Any] = {"format": FORMAT, "created_at": datetime.now(timezone.utc).isoformat(),
                                    "paths": {k: str(v) for k, v in paths.items()}, "parts": []}
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as tar:
            tar.add(stage / "crate.db", arcname="crate.db")
            manifest["parts"].append("database")
            for part in ("models", "secret.key") + (("catalogue.db", "catalogue.faiss") if catalogue else ()):
                p = paths[part]
                if p.exists():
                    tar.add(p, arcname=part)
                    manifest["parts"].append(part)
                    report.parts[part] = _size(p)
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("MANIFEST.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.chmod(out, 0o600)   # it holds the key that decrypts the tokens
    return report


def restore(archive: Path, *, force: bool = False, database: str | None = None,
            cfg: Mapping[str, Any] | None = None) -> list[str]:
    """Put the archive's parts back where the configuration says they live; returns what was restored."""
    cfg = cfg if cfg is not None else get_config()
    paths = _paths(cfg, database or database_url())
    if not Path(archive).is_file():
        raise BackupError(f"no backup at {archive}")
    db = paths["database"]
    if db.exists() and not force and _has_collectors(db):
        raise BackupError(f"{db} already holds collectors: stop the bots and pass --force to replace it")
    done = []
    with tempfile.TemporaryDirectory(prefix="crate-restore-") as tmp, tarfile.open(archive, "r:gz") as tar:
        tar.extractall(tmp, filter="data")
        stage = Path(tmp)
        manifest = json.loads((stage / "MANIFEST.json").read_text(encoding="utf-8"))
        if int(manifest.get("format", 0)) != FORMAT:
            raise BackupError(f"{archive} is not a Crate Digger backup this version can read")
        private_dir(db.parent)
        for suffix in ("-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        shutil.copyfile(stage / "crate.db", db)
        os.chmod(db, 0o600)
        done.append(f"database → {db}")
        if (stage / "models").is_dir():
            models = paths["models"]
            if models.exists():
                shutil.rmtree(models)
            private_dir(models.parent)
            shutil.copytree(stage / "models", models)
            old = manifest["paths"].get("models")
            if old and old != str(models):   # the model paths in the database follow the folder
                con = sqlite3.connect(db)
                try:
                    with con:
                        con.execute("UPDATE model_versions SET path = replace(path, ?, ?)", (old, str(models)))
                finally:
                    con.close()
            done.append(f"models → {models}")
        for part in ("secret.key", "catalogue.db", "catalogue.faiss"):
            if (stage / part).is_file():
                private_dir(paths[part].parent)
                shutil.copyfile(stage / part, paths[part])
                os.chmod(paths[part], 0o600)
                done.append(f"{part} → {paths[part]}")
    return done


def _has_collectors(db: Path) -> bool:
    con = sqlite3.connect(db)
    try:
        return bool(con.execute("SELECT count(*) FROM collection_entries").fetchone()[0])
    except sqlite3.Error:
        return False
    finally:
        con.close()
