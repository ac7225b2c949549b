"""The operator's backup recipe, tested as the README gives it: `crate backup FILE` while everything is in place,
wipe the data folder, `crate restore FILE` — the collector's collection, served cards, feedback, model and linked
token are back, and the same record gets the same card."""
from __future__ import annotations

import shutil

import pytest
from conftest import shared_embedding_dir

from bot.cli import main
from core.config import get_config
from core.model.embeddings import EmbeddingCache
from core.recommender import Recommender
from core.secrets import SecretBox
from core.storage import Store
from fakes.world import clone, world_config

USER = "saver"
TOKEN = "backup-test-token-1234567890"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A data folder as a fresh HOME has it: database, models, key file and catalogue inside it."""
    data = tmp_path / "home" / ".local" / "share" / "cratedigger"
    monkeypatch.delenv("CRATE_SECRET_KEY", raising=False)
    monkeypatch.setenv("CRATE_PATHS__MODELS_DIR", str(data / "models"))
    monkeypatch.setenv("CRATE_SECRETS__KEY_FILE", str(data / "secret.key"))
    monkeypatch.setenv("CRATE_DISCOVER__CATALOGUE_DB", str(data / "catalogue.db"))
    monkeypatch.setenv("CRATE_DISCOVER__INDEX_FILE", str(data / "catalogue.faiss"))
    get_config.cache_clear()
    yield data
    get_config.cache_clear()


def open_rec(url: str, models, catalogue, tmp_path_factory) -> Recommender:
    return Recommender(Store(url), catalogue, world_config(), EmbeddingCache(shared_embedding_dir(tmp_path_factory)),
                       models)


def test_back_up_wipe_restore_and_the_collector_is_back(home, tmp_path, tmp_path_factory, catalogue,
                                                        trained_template, capsys):
    url, models = clone(trained_template, home, USER)
    (home / "catalogue.db").write_bytes(b"catalogue")       # stands for the built catalogue and its index
    (home / "catalogue.faiss").write_bytes(b"index")
    rec = open_rec(url, models, catalogue, tmp_path_factory)
    rec.store.link_account(USER, "collector", "token", token=TOKEN, box=SecretBox(key_file=home / "secret.key"))
    owned = {it.release.id for it in rec.owned(USER)}
    target = next(rid for rid in sorted(catalogue)[::53] if rid not in owned)
    card = rec.score(USER, target)
    rec.feedback(USER, "like", card.score_id, source="cli")
    version = rec.store.active_model(USER).version
    rec.store.close()

    archive = tmp_path / "backups" / "crate.tar.gz"
    assert main(["--database", url, "backup", str(archive)]) == 0
    assert "backed up database" in capsys.readouterr().out
    assert oct(archive.stat().st_mode & 0o777) == "0o600"          # it holds the key

    shutil.rmtree(home)                                            # the disk is lost
    assert main(["--database", url, "restore", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "database →" in out and "models →" in out and "secret.key →" in out and "catalogue.db →" in out

    back = open_rec(url, models, catalogue, tmp_path_factory)
    assert len(back.owned(USER)) == 300
    assert back.store.active_model(USER).version == version
    assert back.model_for(USER)[0] == version                        # the model file loads
    served = back.store.get_score(card.score_id)
    assert served is not None and served.release_id == target      # a card's buttons still find their score
    assert [(f.kind, f.score_id) for f in back.store.feedback(USER)] == [("like", card.score_id)]
    acct = back.store.linked_account(USER)
    assert SecretBox(key_file=home / "secret.key", create=False).decrypt(acct.token_enc) == TOKEN
    again = back.score(USER, target, record=False)
    assert again.probability == pytest.approx(card.probability) and again.verdict == card.verdict
    assert (home / "catalogue.faiss").read_bytes() == b"index"
    back.store.close()

    # a database that holds collectors is not overwritten by mistake
    assert main(["--database", url, "restore", str(archive)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["--database", url, "restore", str(archive), "--force"]) == 0


def test_a_missing_backup_or_a_server_database_is_said(home, tmp_path, capsys):
    assert main(["--database", f"sqlite:///{tmp_path / 'x.db'}", "restore", str(tmp_path / "nope.tar.gz")]) == 2
    assert "no backup at" in capsys.readouterr().err
    assert main(["--database", "postgresql+psycopg://u@127.0.0.1:1/db", "backup", str(tmp_path / "b.tar.gz")]) == 2
    assert "pg_dump" in capsys.readouterr().err
