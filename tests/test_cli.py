"""The `crate` commands through bot.cli.main, in-process, on a tmp SQLite database, models and embedding dirs."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import bullets, release_url, shared_embedding_dir  # noqa: E402

import bot.terminal  # noqa: F401  imported up front, as a long-lived process would: chat must still use the current stdin
import core.model.embeddings
from backends import database_url
from bot.cli import main
from core.app.cards import ATTRIBUTION
from core.config import get_config
from core.storage import Store

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / "data" / "collections"
MOUSE_CSV = COLLECTIONS / "mouse-reeve" / "collection.csv"
LANEBECKER = COLLECTIONS / "lanebecker" / "collection.json"
TOMERBENDA = COLLECTIONS / "tomerbenda" / "discogs.json"
USER = "lane300"
VERDICT_LINE = re.compile(r"^(🟢|🟡|🔴) (Buy|Maybe|Skip) — (top \d+ % for you|a first estimate|"
                     r"(?:most records|1 in \d+ records) "
                     r"other collectors bought suits? you better)$")
CHANCE = re.compile(r"^(\d{1,3}|<1|>99) % chance you'd buy it", re.M)


def _configure(mp: pytest.MonkeyPatch, dirs: SimpleNamespace) -> None:
    mp.setenv("CRATE_PATHS__MODELS_DIR", str(dirs.models))
    mp.setenv("CRATE_PATHS__CACHE_DIR", str(dirs.cache))
    mp.setenv("CRATE_MODEL__CATBOOST__ITERATIONS", "60")
    mp.delenv("DATABASE_URL", raising=False)
    mp.delenv("CRATE_CONFIG", raising=False)
    mp.setattr(core.model.embeddings, "_default_cache", None)  # the CLI's cache must follow CRATE_PATHS__CACHE_DIR
    get_config.cache_clear()


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    return SimpleNamespace(tmp=tmp, db=database_url(tmp), models=tmp / "models",
                           cache=shared_embedding_dir(tmp_path_factory))


@pytest.fixture(autouse=True)
def crate_env(dirs):
    mp = pytest.MonkeyPatch()
    _configure(mp, dirs)
    yield
    mp.undo()
    get_config.cache_clear()


def crate(dirs: SimpleNamespace, *args: str) -> int:
    return main(["--database", dirs.db, *args])


@pytest.fixture(scope="module")
def trained(dirs, catalogue):
    """`crate import` + `crate train` of 300 of lanebecker's records, run once for the module."""
    records = json.loads(LANEBECKER.read_text(encoding="utf-8"))
    path = dirs.tmp / "lane300.json"
    path.write_text(json.dumps(records[::6][:300]), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        _configure(mp, dirs)
        import_rc = crate(dirs, "import", str(path), "--user", USER)
        import_out = out.getvalue()
        train_rc = crate(dirs, "train", "--user", USER)
    get_config.cache_clear()
    owned = {r["id"] for r in records}
    target = next(rid for rid in sorted(catalogue)[::97] if rid not in owned)
    return SimpleNamespace(import_rc=import_rc, import_out=import_out, train_rc=train_rc,
                           train_out=out.getvalue()[len(import_out):], err=err.getvalue(), target=target,
                           display=catalogue[target].display)


def test_import_csv_prints_the_count(dirs, capsys):
    with MOUSE_CSV.open(newline="", encoding="utf-8") as fh:
        n = len(list(csv.DictReader(fh)))
    assert n == 68
    assert crate(dirs, "import", str(MOUSE_CSV), "--user", "mouse") == 0
    out = capsys.readouterr().out
    assert f"imported {n} records" in out
    store = Store(dirs.db)
    try:
        assert len(store.collection("mouse")) == n
    finally:
        store.close()


@pytest.mark.parametrize("content, expect", [
    (random.Random(1).randbytes(4096), "binary file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 8, "decode"),
    (b"lorem ipsum " * 400, "not a Discogs CSV export"),
], ids=["binary", "undecodable", "long-line-text"])
def test_import_broken_file_exits_2_with_a_clear_message(dirs, tmp_path, capsys, content, expect):
    bad = tmp_path / "collection.csv"
    bad.write_bytes(content)
    assert crate(dirs, "import", str(bad), "--user", "broken") == 2
    cap = capsys.readouterr()
    assert cap.err.startswith(f"Could not import {bad}: ")
    assert expect in cap.err
    assert len(cap.err) < 400, cap.err  # a sentence, not the file echoed back
    assert "Traceback" not in cap.err and cap.out == ""


def test_train_on_empty_user_exits_2_with_a_hint(dirs, capsys):
    assert crate(dirs, "train", "--user", "nobody") == 2
    cap = capsys.readouterr()
    assert "Nothing to train on" in cap.err
    assert "crate import FILE --user nobody" in cap.err
    assert not list(dirs.models.glob("nobody/*.pkl"))


@pytest.mark.parametrize("ref, expect", [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "isn't a Discogs page"),
    ("https://www.discogs.com/artist/1-Someone", "isn't a record page"),
    ("0", "doesn't look like a Discogs id"),
    ("hello there", "couldn't find a Discogs record"),
])
def test_score_with_a_bad_ref_exits_2(dirs, capsys, ref, expect):
    assert crate(dirs, "score", ref, "--user", USER) == 2
    cap = capsys.readouterr()
    assert expect in cap.err and cap.out == ""


def test_import_train_score_prints_a_card(dirs, trained, capsys):
    assert trained.import_rc == 0 and "imported 300 records" in trained.import_out
    assert trained.train_rc == 0, trained.err
    mcfg = get_config()["model"]
    n_neg = max(round(float(mcfg["negative_ratio"]) * 300), int(mcfg["min_negatives"]))   # the pool is larger
    assert re.search(rf"{USER}: model \S+ trained on 300 records and {n_neg} negatives in [\d.]+ s", trained.train_out)
    assert list(dirs.models.glob(f"{USER}/*.pkl")), "CRATE_PATHS__MODELS_DIR was not honoured"

    assert crate(dirs, "score", release_url(trained.target), "--user", USER) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert VERDICT_LINE.match(lines[0]), out
    assert trained.display in out
    assert 2 <= len(bullets(out)) <= 4
    assert ATTRIBUTION in out and "first estimate" not in out


def test_score_unknown_release_exits_3(dirs, trained, capsys):
    assert crate(dirs, "score", "9999999999", "--user", USER) == 3
    cap = capsys.readouterr()
    assert "don't know release 9999999999" in cap.err and cap.out == ""


def test_chat_scores_a_link_and_takes_a_thumbs_up(dirs, trained, monkeypatch, capsys):
    lines = [release_url(trained.target), "👍", "quit", release_url(1)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert crate(dirs, "chat", "--user", USER) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Crate Digger — chatting as {USER}")
    assert out.count("chance you'd buy it") == 1  # nothing after "quit" is read
    assert trained.display in out and ATTRIBUTION in out
    assert f"Noted 👍 for {trained.display}" in out
    assert out.rstrip().endswith("bye")
    store = Store(dirs.db)
    try:
        fb = store.feedback(USER)
        assert fb and fb[-1].kind == "like" and fb[-1].release_id == trained.target
        assert store.get_score(fb[-1].score_id).release_id == trained.target
    finally:
        store.close()


def test_eval_writes_json_with_every_method(dirs, tmp_path, capsys):
    out_path = tmp_path / "eval.json"
    assert crate(dirs, "eval", "--collection", str(TOMERBENDA), "--variant", "main", "--json", str(out_path)) == 0
    assert f"wrote {out_path}" in capsys.readouterr().out

    def no_nan(token):
        raise AssertionError(f"{token} is not JSON")

    data = json.loads(out_path.read_text(), parse_constant=no_nan)
    assert list(data["variants"]) == ["main"]
    users = data["variants"]["main"]["users"]
    assert [u["user"] for u in users] == ["discogs"]   # the file's stem (tomerbenda/discogs.json)
    methods = users[0]["methods"]
    assert set(methods) == {"model", "popularity", "style_profile", "content_knn"}
    for name, metrics in methods.items():
        assert 0.0 <= metrics["auc"] <= 1.0, name
        assert 0.0 <= metrics["hr10"] <= 1.0, name
    assert 0.0 <= methods["model"]["brier"] <= 1.0
    assert methods["popularity"]["brier"] is None  # not a probability: no calibration metrics


def test_a_misspelt_configuration_key_is_an_error_that_names_it(tmp_path, monkeypatch, capsys):
    from bot.cli import main
    from core.config import ConfigError, get_config, load_config

    user = tmp_path / "mine.yaml"
    user.write_text("photo:\n  time_budget: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'photo.time_budget'"):
        load_config(env={"CRATE_CONFIG": str(user)})
    with pytest.raises(ConfigError, match="CRATE_MODEL__VOTE_KK"):
        load_config(env={"CRATE_MODEL__VOTE_KK": "10"})
    assert load_config(env={"CRATE_MODEL__CATBOOST__BORDER_COUNT": "64"})["model"]["catboost"]["border_count"] == 64
    monkeypatch.setenv("CRATE_MODLE__VOTE_K", "10")
    get_config.cache_clear()
    try:
        assert main(["--database", f"sqlite:///{tmp_path / 'c.db'}", "models", "list", "--user", "x"]) == 2
        assert "unknown configuration key 'modle'" in capsys.readouterr().err
    finally:
        monkeypatch.undo()
        get_config.cache_clear()


def test_a_database_locked_by_another_writer_is_said_not_thrown(dirs, tmp_path, monkeypatch, capsys):
    """Issue 12: a long import holds the write lock; a concurrent command gets a sentence, not a traceback."""
    from core.app import Operations
    from fakes.locked import locked_error

    locked = locked_error(tmp_path)

    def busy(*args, **kwargs):
        raise locked

    monkeypatch.setattr(Operations, "score", busy)
    assert crate(dirs, "score", "3802", "--user", USER) == 3
    err = capsys.readouterr().err
    assert err.strip() == "The database is busy (another import or training is writing to it); try again in a moment."


def test_a_release_only_one_users_file_describes_never_reaches_another_user(dirs, trained, tmp_path, capsys):
    """Issue 22: the attacker imports a collection page (API JSON) describing an unknown release and scores it; the
    victim then asks for the same release and gets Discogs' answer (offline: "don't know"), never the attacker's."""
    page = {"pagination": {"page": 1, "pages": 1, "per_page": 50, "items": 1, "urls": {}},
            "releases": [{"id": 99999902, "instance_id": 1, "date_added": "2024-01-01T00:00:00-08:00", "rating": 0,
                          "basic_information": {
                              "id": 99999902, "title": "POISON2 <b>bold</b> *md* @everyone", "year": 2020,
                              "cover_image": "https://evil.example/c.jpg", "thumb": "https://evil.example/t.jpg",
                              "artists": [{"name": "POISON ARTIST", "id": 1}], "labels": [], "formats": [],
                              "genres": ["Rock"], "styles": ["Punk"]}}]}
    for name in ("p.json", "discogs-api"):   # nor does a file named like Discogs' own data
        path = tmp_path / name
        path.write_text(json.dumps(page), encoding="utf-8")
        assert crate(dirs, "import", str(path), "--user", "attacker") == 0
        capsys.readouterr()
        assert crate(dirs, "score", "99999902", "--user", "attacker") == 0
        assert "POISON ARTIST" in capsys.readouterr().out     # the attacker sees their own file's version
        assert crate(dirs, "score", "99999902", "--user", USER) == 3
        cap = capsys.readouterr()
        assert "don't know release 99999902" in cap.err and "POISON" not in cap.out + cap.err
    store = Store(dirs.db)
    try:
        assert store.get_release(99999902) is None
    finally:
        store.close()
