"""The periodic digest (core/learning/digest.py) over a real Recommender: real Store (SQLite in tmp), the bundled
catalogue, the real embedding cache (tmp dir), a CatBoost model trained on 300 of lanebecker's records, scores
served on catalogue releases, 👍/👎/bought feedback, five more records and a challenger/champion retrain."""
from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import shared_embedding_dir  # noqa: E402
from PIL import Image

import core.model.embeddings
from backends import copy_database, database_url, on_postgres
from bot.cli import main
from core.config import get_config
from core.domain.release import CollectionItem
from core.learning.digest import (
    DRIVER_WORDS,
    MAX_PNG_BYTES,
    PANEL_AGREEMENT,
    PANEL_SCORES,
    PANEL_STYLES,
    build_digest,
    mark_sent,
)
from core.learning.retrain import retrain
from core.model.embeddings import EmbeddingCache
from core.model.features import FEATURE_WORDS
from core.recommender import Recommender
from core.storage import Store, utcnow
from fakes.world import clone, world_config

ROOT = Path(__file__).resolve().parent.parent
LANEBECKER = ROOT / "data" / "collections" / "lanebecker" / "collection.json"
USER = "digest300"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# (kind, reason) per served score, in scoring order; the last two scores get no reaction
PLAN = [("like", "great label"), ("like", None), ("dislike", "too poppy"), ("dislike", None), ("like", None),
        ("bought", None)]


@pytest.fixture(scope="module")
def world(tmp_path_factory, catalogue, trained_template):
    """The shared trained collector (tests/fakes/world.py: 300 of lanebecker's records), this module's copy."""
    tmp = tmp_path_factory.mktemp("digest")
    cfg = world_config()
    records = trained_template.records
    subset = records[::6]
    more = tmp / "more.json"
    more.write_text(json.dumps(subset[:305]), encoding="utf-8")   # a later export: the same 300 and 5 new ones
    url, models_dir = clone(trained_template, tmp / "world", USER)
    cache_dir = shared_embedding_dir(tmp_path_factory)
    rec = Recommender(Store(url), catalogue, cfg, EmbeddingCache(cache_dir), models_dir)
    v1 = trained_template.report
    first_digest = build_digest(rec, USER)          # never sent: covers the default week
    t1 = utcnow()
    mark_sent(rec, USER, t1)

    # scores on catalogue releases: lanebecker records not imported (likely high) and others' records (low)
    imported = {r["id"] for r in subset[:305]}
    owned = {r["id"] for r in records}
    theirs = [r["id"] for r in records[1::6] if r["id"] in catalogue and r["id"] not in imported][:4]
    others = [rid for rid in sorted(catalogue) if rid not in owned][::97][:4]
    targets = [theirs[0], others[0], theirs[1], others[1], theirs[2], others[2], theirs[3], others[3]]
    cards = [rec.score(USER, rid) for rid in targets]
    sc = cfg["scoring"]
    for card, (kind, reason) in zip(cards, PLAN):
        rec.store.record_feedback(USER, kind, score_id=card.score_id, reason=reason, source="cli",
                                  buy_threshold=sc["buy_threshold"], maybe_threshold=sc["maybe_threshold"])
    rec.import_file(USER, more)
    result = retrain(rec, USER)
    t2 = utcnow()
    digest = build_digest(rec, USER, now=t2)        # since: the last digest (t1)
    new_ids = {r["id"] for r in subset[300:305]}
    added = [it.release.display for it in rec.store.collection(USER) if it.release.id in new_ids]
    return SimpleNamespace(rec=rec, store=rec.store, url=url, cfg=cfg, catalogue=catalogue, tmp=tmp,
                           cache_dir=cache_dir, v1=v1, first_digest=first_digest, t1=t1, t2=t2, cards=cards,
                           result=result, digest=digest, added=added)


def last_digest_at(url: str, user: str):
    """Read through a fresh store, as another process would."""
    store = Store(url)
    try:
        return store.last_digest_at(user)
    finally:
        store.close()


def assert_valid_png(png: bytes) -> Image.Image:
    assert png.startswith(PNG_MAGIC)
    assert 5_000 < len(png) <= MAX_PNG_BYTES
    img = Image.open(io.BytesIO(png))
    img.load()
    assert img.format == "PNG"
    w, h = img.size
    assert 500 <= w <= 1600 and 500 <= h <= 1600, img.size
    grey = np.asarray(img.convert("L"), dtype=float)
    assert grey.std() > 10, "the chart looks blank"
    assert (grey < 200).mean() > 0.02, "the chart has almost nothing drawn on it"
    return img


def test_first_digest_covers_the_default_week_and_the_first_model(world):
    d = world.first_digest
    assert d.data["period_days"] == pytest.approx(float(world.cfg["learning"]["digest_every_days"]))
    assert d.data["added"]["count"] == 300 and "Added 300 records" in d.text
    assert d.data["model"]["before"] is None and d.data["model"]["after"] == world.v1.version
    assert [m["version"] for m in d.data["model"]["new"]] == [world.v1.version]
    assert "Your personal model is ready" in d.text and world.v1.version not in d.text   # no model versions
    assert "Nothing scored and no feedback" in d.text and not d.quiet


def test_digest_text_mentions_what_happened_since_the_last_digest(world):
    d, text = world.digest, world.digest.text
    assert d.since == world.t1 and d.until == world.t2
    assert 3 <= len(text.splitlines()) <= 10 and "|" not in text   # chat-sized, no tables
    assert d.data["added"]["count"] == 5 and "Added 5 records" in text
    examples = d.data["added"]["examples"]
    assert len(examples) == 2 and set(examples) <= set(world.added)
    assert all(name in text for name in examples)
    assert d.data["scores"]["count"] == 8 and "Scored 8 records" in text
    fb = d.data["feedback"]
    assert (fb["like"], fb["dislike"], fb["bought"]) == (3, 2, 1)
    assert "3 👍, 2 👎, 1 bought" in text
    assert "“great label”" in text and "“too poppy”" in text
    assert not d.quiet and "Quiet" not in text


def test_agreement_with_votes_follows_the_documented_rule(world):
    maybe = float(world.cfg["scoring"]["maybe_threshold"])
    votes = [(kind, card.probability) for card, (kind, _) in zip(world.cards, PLAN) if kind in ("like", "dislike")]
    agreed = sum((p >= maybe) if kind == "like" else (p < maybe) for kind, p in votes)
    ag = world.digest.data["agreement"]
    assert (ag["votes"], ag["agreed"]) == (5, agreed)
    assert f"agreed with {agreed} of your 5 👍/👎 ({agreed / 5:.0%})" in world.digest.text
    misses = sum((p >= world.cfg["scoring"]["buy_threshold"]) if kind == "dislike" else (p < maybe)
                 for kind, p in votes)
    assert ag["clear_misses"] == misses
    # every vote was on a score served by the first model: the per-version panel counts them there
    (v1,) = [v for v in world.digest.data["versions"] if v["version"] == world.v1.version]
    assert v1["votes"] == 5 and v1["agreement"] == pytest.approx(agreed / 5)


def test_digest_reports_versions_and_holdout_metrics(world):
    d, text, res = world.digest, world.digest.text, world.result
    v1, v2 = world.v1.version, res.version
    assert v2 and v2 != v1
    m = d.data["model"]
    assert m["before"] == v1 and [x["version"] for x in m["new"]] == [v2]
    assert v1 not in text and v2 not in text and not re.search(r"ROC|AUC|hold-out", text)   # the collector's words
    assert res.challenger is not None and res.champion is not None and res.challenger.auc is not None
    if res.accepted:
        assert m["after"] == v2 and "I relearned your taste from your latest records and feedback" in text
    else:
        assert m["after"] == v1 and "your scores stay as they were" in text
    labels = {v["version"]: v for v in d.data["versions"]}
    assert labels[v2]["status"] == ("active" if res.accepted else "rejected")
    assert labels[v2]["holdout_auc"] == pytest.approx(res.challenger.auc)


def test_digest_names_the_top_drivers_of_the_active_model(world):
    metrics = world.store.active_model(USER).metrics_dict
    importance: dict[str, float] = {}
    for f, v in metrics["importance"].items():   # the genre/style columns count as one driver
        importance["tags" if f.startswith("tag=") else f] = importance.get("tags" if f.startswith("tag=") else f, 0) + v
    assert set(importance) <= set(DRIVER_WORDS)
    top = sorted(importance.items(), key=lambda kv: -kv[1])[:3]
    phrases = [DRIVER_WORDS[f] for f, _ in top]
    assert [x["phrase"] for x in world.digest.data["model"]["drivers"]] == phrases
    line = next(ln for ln in world.digest.text.splitlines() if ln.startswith("What drives your scores now:"))
    positions = [line.index(p) for p in phrases]
    assert positions == sorted(positions)
    # the positive wording, not the "pulls down" one
    assert not any(FEATURE_WORDS[f] in line for f, _ in top if f in FEATURE_WORDS)


def test_chart_is_a_readable_png_with_the_three_panels(world):
    d = world.digest
    assert_valid_png(d.chart_png)
    panels = d.data["chart"]["panels"]
    assert len(panels) == 3
    assert panels[0].startswith(PANEL_STYLES) and panels[1].startswith(PANEL_SCORES)
    assert panels[2] == PANEL_AGREEMENT
    assert panels[1].endswith("(8)")
    assert d.data["chart"]["scores"] == {"no reaction": 2, "liked": 3, "disliked": 2, "bought": 1}
    styles = d.data["styles"]
    counts = {}
    for it in world.store.collection(USER, "collection"):
        if it.date_added:
            for s in set(it.release.styles):
                counts[s] = counts.get(s, 0) + 1
    assert d.data["chart"]["styles"] == styles["top"] and len(styles["top"]) == 5
    assert counts[styles["top"][0]] == max(counts.values())
    assert sum(styles["counts"][styles["top"][0]]) == counts[styles["top"][0]]
    assert d.data["chart"]["versions"][:2] == ["v1", "v2"]


def test_a_rejected_model_is_said_plainly(world, catalogue):
    user = "reject-case"
    store = world.store
    items = [CollectionItem(release=catalogue[rid], date_added=(world.t1 - timedelta(days=400 * i)).date())
             for i, rid in enumerate(sorted(catalogue)[:12])]
    store.add_items(user, items)
    store.register_model(user, "v-old", "/nowhere/v-old.pkl",
                         {"importance": {"knn_max": 50.0, "artist_count": 30.0, "year_density": 15.0,
                                         "n_formats": 5.0}}, 12, 36)
    start = utcnow()
    decision = "hold-out ROC-AUC 0.650 is worse than the current model's 0.700: kept the current model"
    store.register_model(user, "v-new", "/nowhere/v-new.pkl",
                         {"importance": {"n_formats": 90.0, "knn_max": 10.0}, "decision": decision,
                          "holdout": {"challenger": {"auc": 0.65, "agreement": 0.5, "n_pos": 3, "n_neg": 50},
                                      "champion": {"auc": 0.70, "agreement": 0.75, "n_pos": 3, "n_neg": 50},
                                      "cut": "2024-01-01"}},
                         12, 36, activate=False, status="rejected", note=decision)
    d = build_digest(world.rec, user, since=start)
    assert d.data["model"]["before"] == "v-old" and d.data["model"]["after"] == "v-old"
    assert "I tried to relearn your taste" in d.text and "your scores stay as they were" in d.text
    assert "v-new" not in d.text and "ROC" not in d.text and "0.650" not in d.text   # figures: crate models list
    assert ("What drives your scores now: closeness to records you own (50%), artists you already collect (30%), "
            "the eras you buy from (15%).") in d.text
    assert [v["status"] for v in d.data["versions"]] == ["active", "rejected"]
    assert_valid_png(d.chart_png)


def test_mark_sent_starts_the_next_digest_and_an_empty_period_is_quiet(world):
    rec, store = world.rec, world.store
    t3 = utcnow()
    mark_sent(rec, USER, t3)
    assert store.last_digest_at(USER) == t3

    quiet = build_digest(rec, USER)
    assert quiet.since == t3 and quiet.quiet
    assert quiet.text.splitlines()[1].startswith("Quiet week: no new records, nothing scored, no feedback")
    assert len(quiet.text.splitlines()) <= 4
    assert quiet.data["added"]["count"] == 0 and quiet.data["scores"]["count"] == 0
    assert quiet.data["feedback"]["total"] == 0 and quiet.data["model"]["new"] == []
    assert quiet.data["chart"]["panels"][1].endswith("(0)")
    assert_valid_png(quiet.chart_png)

    card = rec.score(USER, world.cards[0].release.id)
    store.record_feedback(USER, "like", score_id=card.score_id, source="cli")
    later = build_digest(rec, USER)
    assert later.since == t3 and not later.quiet
    assert later.data["scores"]["count"] == 1 and later.data["added"]["count"] == 0
    fb = later.data["feedback"]
    assert (fb["like"], fb["dislike"], fb["bought"], fb["total"]) == (1, 0, 0, 1)
    assert "1 👍, 0 👎, 0 bought" in later.text and "Your scores work as before" in later.text
    assert later.data["model"]["new"] == []


def test_crate_digest_prints_the_text_writes_the_png_and_marks_it_sent(world, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRATE_PATHS__MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("CRATE_PATHS__CACHE_DIR", str(world.cache_dir))
    monkeypatch.setattr(core.model.embeddings, "_default_cache", None)
    get_config.cache_clear()
    try:
        before = world.store.last_digest_at(USER)
        out = tmp_path / "chart.png"
        assert main(["--database", world.url, "digest", "--user", USER, "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith(f"📬 Crate Digger digest for {USER}")
        assert f"chart: {out}" in printed
        assert_valid_png(out.read_bytes())
        after = last_digest_at(world.url, USER)
        assert after is not None and (before is None or after > before)

        assert main(["--database", world.url, "digest", "--user", USER]) == 0   # default: models/<user>-digest.png
        default = tmp_path / "models" / f"{USER}-digest.png"
        assert f"chart: {default}" in capsys.readouterr().out
        assert_valid_png(default.read_bytes())

        assert main(["--database", world.url, "digest", "--user", "nobody-here"]) == 2
        assert "No such user nobody-here" in capsys.readouterr().err
        assert last_digest_at(world.url, "nobody-here") is None
    finally:
        get_config.cache_clear()


def test_a_digest_carries_three_fresh_picks_that_take_feedback(world, tmp_path):
    from core.catalogue import Catalogue
    from core.learning.digest import add_picks
    from core.picks import Discoverer

    rec = world.rec
    disc = Discoverer(rec, Catalogue(rec.cfg, tmp_path / "c.db", tmp_path / "c.faiss"))
    base = build_digest(rec, USER)
    assert not base.quiet
    d = add_picks(rec, USER, base, discoverer=disc)
    picks = d.data["picks"]
    assert len(picks) == 3 and d.text.startswith(base.text) and "fresh picks for you" in d.text
    owned = {it.release.id for it in rec.owned(USER)}
    assert not {p["release_id"] for p in picks} & owned
    kind, _ = rec.feedback(USER, "like", picks[0]["score_id"])
    assert kind == "like"
    again = add_picks(rec, USER, base, discoverer=disc)   # fresh: never the same picks twice in a row
    assert not {p["release_id"] for p in again.data["picks"]} & {p["release_id"] for p in picks}
    # no catalogue to pick from: the digest goes as it was
    broken = Discoverer(rec, Catalogue(rec.cfg, tmp_path / "missing" / "x" / "c.db", tmp_path / "c2.faiss"))
    broken.discover = None   # type: ignore[assignment]
    assert add_picks(rec, USER, base, discoverer=broken).text == base.text


def test_the_digest_says_what_the_records_rated_up_sound_like(world, tmp_path):
    # a copy of the world's database: the audio rows written here stay out of the other tests
    if on_postgres():
        url = database_url(tmp_path, "sound")
        copy_database(world.url, url)
    else:
        import sqlite3

        db = tmp_path / "sound.db"
        with sqlite3.connect(world.url.removeprefix("sqlite:///")) as src, sqlite3.connect(db) as dst:
            src.backup(dst)   # what the write-ahead log holds too
        url = f"sqlite:///{db}"
    store = Store(url)
    assert "🎧" not in build_digest(SimpleNamespace(store=store, cfg=world.cfg,
                                                    thresholds=world.rec.thresholds), USER, now=world.t2,
                                    since=world.t1).text     # nothing heard: nothing said
    kinds = [kind for kind, _ in PLAN]
    for card, kind in zip(world.cards, kinds):
        lively = kind in ("like", "bought")
        store.put_audio(card.release.id, "ok", source="deezer",
                        features={"tempo_bpm": 128 if lively else 76, "valence": 0.8 if lively else 0.2,
                                  "arousal": 0.8 if lively else 0.2, "energy": 0.7, "brightness": 0.5})
    d = build_digest(SimpleNamespace(store=store, cfg=world.cfg, thresholds=world.rec.thresholds), USER,
                     now=world.t2, since=world.t1)
    assert ("🎧 The 4 records you rated up sound lively and upbeat (about 128 beats a minute); the 2 you turned "
            "down, calm and dark (about 76).") in d.text
    assert d.data["sound"]["up"] == 4
    store.close()


def test_the_digest_lists_watched_records_that_got_cheaper_best_buy_score_first(world):
    """"Worth a look this week": watched or wanted records whose price, checked in the period, is under the first
    price seen, ranked by the buy score; a record that got dearer, or was checked before the period, is not."""
    from core.learning.digest import add_price_drops
    from core.storage import Check

    rec, store = world.rec, world.store
    owned = {it.release.id for it in rec.owned(USER)}
    a, b, c = [rid for rid in sorted(world.catalogue) if rid not in owned][5:8]
    base = build_digest(rec, USER)
    before = base.since - timedelta(days=1)
    for rid, first, now_price, when in ((a, 30.0, 24.0, base.until), (b, 20.0, 15.0, base.until),
                                        (c, 10.0, 12.0, base.until)):
        w = store.watch(USER, rid, currency="EUR", source="wantlist" if rid == b else "watch")
        store.record_check(w.id, Check(first, "EUR", 2), before)
        store.record_check(w.id, Check(now_price, "EUR", 3), when)
    d = add_price_drops(rec, USER, base)
    drops = d.data["price_drops"]
    assert {x["release_id"] for x in drops} == {a, b}                     # c got dearer
    probs = [x["probability"] for x in drops]
    assert probs == sorted(probs, reverse=True)
    assert d.text.startswith(base.text) and "💸 Worth a look this week" in d.text
    line = next(ln for ln in d.text.splitlines() if "(was 30.00; 3 for sale)" in ln)
    assert "24.00 EUR" in line and re.match(r"• [<>]?\d{1,3}% ", line)
    for rid in (a, b, c):
        store.unwatch(USER, rid)
    assert add_price_drops(rec, USER, base).text == base.text
