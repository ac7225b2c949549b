"""`crate eval --split` on one of the protocol's own DEV splits (tests/fixtures/eval, copied from the shared
material): every figure it prints agrees exactly with the protocol's metrics tool run on the scores it wrote."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import shared_embedding_dir  # noqa: E402

import core.model.embeddings
from bot.cli import main
from core.config import get_config
from core.ingest.readers.catalogue import load_catalogue
from core.model.evaluation import load_split, split_training_set

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "eval"
SPLIT = FIXTURES / "splits" / "all" / "tomerbenda" / "split.json"
CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "catalogue"


def protocol_tool():
    spec = importlib.util.spec_from_file_location("split_metrics", FIXTURES / "split_metrics.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval_splits")
    mp = pytest.MonkeyPatch()
    mp.setenv("CRATE_PATHS__CACHE_DIR", str(shared_embedding_dir(tmp_path_factory)))
    mp.setenv("CRATE_MODEL__CATBOOST__ITERATIONS", "100")
    mp.setattr(core.model.embeddings, "_default_cache", None)
    get_config.cache_clear()
    try:
        scores, out = tmp / "scores.json", tmp / "eval.json"
        rc = main(["eval", "--split", str(SPLIT), "--scores-out", str(scores), "--json", str(out)])
        yield SimpleNamespace(rc=rc, scores=json.loads(scores.read_text()), data=json.loads(out.read_text()))
    finally:
        mp.undo()
        get_config.cache_clear()


def test_every_method_agrees_exactly_with_the_protocols_tool(run):
    assert run.rc == 0
    tool = protocol_tool()
    split = json.loads(SPLIT.read_text())
    row = run.data["splits"][0]
    assert row["user"] == "tomerbenda" and row["variant"] == "all"
    assert set(run.scores) == {"model", "popularity", "style_profile", "content_knn"}
    for method, scores in run.scores.items():
        expected = tool.evaluate(split, {int(k): float(v) for k, v in scores.items()},
                                 probabilistic=(method == "model"))
        ours = row["methods"][method]
        for metric, value in expected.items():
            assert ours[metric] == value, (method, metric)   # exactly, not approximately
        if method != "model":
            assert ours["brier"] is None and ours["ece"] is None


def test_baselines_are_the_protocols_own(run):
    """Within ±0.02 ROC-AUC of the reference implementation's figure on this very split."""
    row = run.data["splits"][0]
    ref = row["reference"]
    assert ref is not None   # found beside the splits: fixtures/eval/reference/all/tomerbenda.json
    for ours, theirs in [("popularity", "popularity"), ("style_profile", "profile_tfidf"),
                         ("content_knn", "knn_minilm")]:
        assert abs(row["methods"][ours]["auc"] - ref[theirs]["auc"]) <= 0.02, ours


def test_json_keeps_per_user_rows_before_the_summary_and_reports_verdicts(run):
    assert list(run.data)[:2] == ["splits", "summaries"]
    v = run.data["splits"][0]["verdicts"]
    for side in ("test_pos", "test_neg"):
        assert sum(v[side].values()) == pytest.approx(1.0)
    # the model's verdicts separate: far more of the records bought later get buy/maybe than of others' records
    pos = v["test_pos"]["buy"] + v["test_pos"]["maybe"]
    neg = v["test_neg"]["buy"] + v["test_neg"]["maybe"]
    assert pos >= 0.5 and neg <= 0.15, v
    summary = run.data["summaries"]["all"]
    assert summary["users"] == 1 and "model_beats_reference_auc" in summary


def test_training_uses_only_the_splits_negative_pool():
    split = load_split(SPLIT)
    cat = load_catalogue(CATALOGUE / "releases.jsonl")
    ts = split_training_set(split, cat, lambda rs: None, get_config())
    pool = set(split.train_neg_pool)
    assert ts.negatives and {r.id for r in ts.negatives} <= pool
    assert {r.id for r in ts.positives} == set(split.train_pos)
    scored = set(split.scored_ids)
    assert not scored & ({r.id for r in ts.positives} | {r.id for r in ts.negatives})
    assert ts.pool_size == len(pool)
