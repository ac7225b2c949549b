"""The platform-agnostic Conversation over a real Recommender: real Store (SQLite in tmp), the bundled
catalogue, the real sentence-embedding cache (tmp dir) and a CatBoost model trained on 300 of lanebecker's
records imported through the reader."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import bullets, release_url, shared_embedding_dir  # noqa: E402

from core.app import CrateApp
from core.app.cards import ATTRIBUTION, percent
from core.domain.refs import NOT_DISCOGS_MESSAGE
from core.model.embeddings import EmbeddingCache
from core.model.scorers.catboost_model import CatBoostScorer
from core.recommender import Recommender
from core.storage import Store
from fakes.world import clone, world_config

ROOT = Path(__file__).resolve().parent.parent
LANEBECKER = ROOT / "data" / "collections" / "lanebecker" / "collection.json"
USER = "lane300"
VERDICT_LINE = re.compile(r"^(🟢|🟡|🔴) (Buy|Maybe|Skip) — (top \d+ % for you|a first estimate|"
                     r"(?:most records|1 in \d+ records) "
                     r"other collectors bought suits? you better)$")
CHANCE = re.compile(r"^(\d{1,3}|<1|>99) % chance you'd buy it", re.M)


@pytest.fixture(scope="module")
def world(tmp_path_factory, catalogue, trained_template):
    """The shared trained collector (tests/fakes/world.py), this module's own copy."""
    tmp = tmp_path_factory.mktemp("conversation")
    cfg = world_config()
    url, models_dir = clone(trained_template, tmp, USER)
    cache_dir = shared_embedding_dir(tmp_path_factory)
    rec = Recommender(Store(url), catalogue, cfg, EmbeddingCache(cache_dir), models_dir)
    records, subset = trained_template.records, trained_template.subset
    owned = {r["id"] for r in records}
    not_owned = [rid for rid in sorted(catalogue) if rid not in owned]
    return SimpleNamespace(rec=rec, conv=CrateApp(rec).conv, store=rec.store, url=url, cfg=cfg, catalogue=catalogue,
                           cache_dir=cache_dir, models_dir=models_dir, subset=subset,
                           imported=trained_template.imported, report=trained_template.report,
                           targets=not_owned[::97][:6], tmp=tmp)


def last_score_id(store: Store, user: str) -> int | None:
    row = store.last_score(user)
    return row.id if row else None


def test_trained_on_the_imported_subset(world):
    assert len(world.imported.items) == 300
    assert len(world.rec.owned(USER)) == 300
    assert not world.report.cold_start and world.report.version
    mcfg = world.cfg["model"]
    n_neg = max(round(float(mcfg["negative_ratio"]) * 300), int(mcfg["min_negatives"]))   # the pool is larger
    assert world.report.n_positives == 300 and world.report.n_negatives == n_neg
    assert world.store.active_model(USER).version == world.report.version


def test_release_url_gets_a_score_card(world):
    rid = world.targets[0]
    replies = world.conv.handle(USER, f"what about {release_url(rid)} ?")
    assert len(replies) == 1
    reply = replies[0]
    lines = reply.text.splitlines()
    m = VERDICT_LINE.match(lines[0])
    assert m, lines[0]
    assert world.catalogue[rid].display in reply.text
    reasons = bullets(reply.text)
    assert 2 <= len(reasons) <= 4, reply.text
    assert ATTRIBUTION in reply.text and "Discogs" in ATTRIBUTION
    assert "first estimate" not in reply.text
    assert "Traceback" not in reply.text

    assert reply.score_id is not None
    row = world.store.get_score(reply.score_id)
    assert row.release_id == rid
    assert row.label == m.group(2).lower()
    assert percent(row.probability) == f"{CHANCE.search(reply.text)[1]} %"
    buy, maybe = world.rec.thresholds(USER)   # the personal model's own, read off its held-out scores
    expected = "buy" if row.probability >= buy else "maybe" if row.probability >= maybe else "skip"
    assert row.label == expected
    assert row.reasons_list == reasons
    assert row.model_version == world.report.version
    assert world.store.get_release(rid) is not None  # the scored release is cached for later feedback


def test_like_then_bought_are_stored_against_that_score(world):
    rid = world.targets[1]
    (card,) = world.conv.handle(USER, release_url(rid))
    assert card.score_id is not None
    display = world.catalogue[rid].display

    (liked,) = world.conv.handle(USER, "👍")
    assert liked.text.startswith("Noted 👍 for") and display in liked.text
    (bought,) = world.conv.handle(USER, "bought")
    assert bought.text.startswith("Congrats on buying") and display in bought.text

    rows = [f for f in world.store.feedback(USER) if f.score_id == card.score_id]
    assert [f.kind for f in rows] == ["like", "bought"]
    assert {f.release_id for f in rows} == {rid}


def test_feedback_before_any_score_is_a_friendly_message(world):
    for text in ("👍", "👎", "bought"):
        (reply,) = world.conv.handle("nobody-scored-yet", text)
        assert reply.text.startswith("Paste a Discogs link first"), reply.text
        assert reply.score_id is None
    assert world.store.feedback("nobody-scored-yet") == []


def test_youtube_link_is_not_a_discogs_link(world):
    before = last_score_id(world.store, USER)
    (reply,) = world.conv.handle(USER, "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert reply.text == NOT_DISCOGS_MESSAGE
    assert reply.score_id is None
    assert last_score_id(world.store, USER) == before


def test_typed_barcodes_are_answered_like_a_photo(world):
    """Digits typed off a sleeve go to the barcode look-up (live Discogs is off here, which the reply says);
    digits with a wrong check digit say so; a plain eight-digit number stays a release id."""
    before = last_score_id(world.store, USER)
    (reply,) = world.conv.handle(USER, "0 75720 00325 9")
    assert reply.text.startswith("Barcode 0 75720 00325 9:") and "look-ups are off" in reply.text
    (reply,) = world.conv.handle(USER, "EAN 5000213-101025")
    assert reply.text.startswith("Barcode 5 000213 101025:")
    (reply,) = world.conv.handle(USER, "0 75720 00325 8")
    assert "check digit" in reply.text
    target = world.targets[0]
    assert len(str(target)) <= 8
    (reply,) = world.conv.handle(USER, str(target))
    assert reply.score_id is not None and reply.card.release.id == target
    assert last_score_id(world.store, USER) == reply.score_id != before


def test_a_code_read_from_the_printed_digits_says_so(world):
    from core.barcode import FoundCode

    found = FoundCode("5000213101025", "5000213101025", "EAN-13", 0, (0, 0, 10, 10), "digits")
    first, second = world.conv.barcodes.pressings(USER, [found])
    assert "read the digits printed under them: 5 000213 101025" in first.text and "check" in first.text
    assert second.text.startswith("Barcode 5 000213 101025:")


@pytest.mark.parametrize("text", ["9999999999", release_url(9999999999)])
def test_unknown_release_gets_a_clear_message(world, text):
    assert 9999999999 not in world.catalogue
    before = last_score_id(world.store, USER)
    (reply,) = world.conv.handle(USER, text)
    assert "9999999999" in reply.text and "don't know release" in reply.text
    assert not reply.text.startswith("Sorry")
    assert reply.score_id is None
    assert last_score_id(world.store, USER) == before


@pytest.mark.parametrize("text, method", [(release_url(1), "score"), ("👍", "feedback")])
def test_unexpected_failure_becomes_an_apology(world, monkeypatch, caplog, text, method):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire at /var/secret/path")

    monkeypatch.setattr(world.rec, method, boom)
    with caplog.at_level(logging.ERROR, logger="core.app.conversation"):
        replies = world.conv.handle(USER, text)
    assert len(replies) == 1
    assert replies[0].text.startswith("Sorry — something went wrong")
    assert "Traceback" not in replies[0].text and "disk on fire" not in replies[0].text
    assert any(r.exc_info and "disk on fire" in str(r.exc_info[1]) for r in caplog.records)


def test_cold_start_user_gets_early_days_card(world):
    path = world.tmp / "ten.json"
    path.write_text(json.dumps(world.subset[:10]), encoding="utf-8")
    world.rec.import_file("newbie", path)
    report = world.rec.train("newbie")
    assert report.cold_start and report.version is None and report.n_positives == 10
    assert world.store.active_model("newbie") is None

    (reply,) = world.conv.handle("newbie", release_url(world.targets[2]))
    assert VERDICT_LINE.match(reply.text.splitlines()[0]), reply.text
    assert "first estimate" in reply.text and "10 of your records" in reply.text
    assert 2 <= len(bullets(reply.text)) <= 4
    assert ATTRIBUTION in reply.text
    row = world.store.get_score(reply.score_id)
    assert row.model_version is None and row.user_id != world.store.get_or_create_user(USER).id


def test_restart_loads_the_saved_model_lazily(world, monkeypatch):
    rid = world.targets[3]
    before = world.rec.score(USER, rid, record=False)
    assert before.model_version == world.report.version

    def no_training(*a, **k):
        raise AssertionError("a restart must load the saved model, not retrain")

    monkeypatch.setattr(CatBoostScorer, "fit", no_training)
    store2 = Store(world.url)
    try:
        rec2 = Recommender(store2, world.catalogue, world.cfg, EmbeddingCache(world.cache_dir), world.models_dir)
        assert USER not in rec2._models  # nothing loaded until the first score
        active = store2.active_model(USER)
        assert active.version == world.report.version and Path(active.path).is_file()

        after = rec2.score(USER, rid, record=False)
        assert after.model_version == world.report.version
        assert after.probability == pytest.approx(before.probability, abs=1e-9)
        assert after.reasons == before.reasons and after.verdict == before.verdict
        assert rec2._models[USER][0] == world.report.version
        assert rec2._models[USER][1] is not world.rec._models[USER][1]
    finally:
        store2.close()


def test_a_message_with_many_links_scores_the_first_and_says_so(world):
    """Issue 12: 100 links in one message — three cards, then a sentence about the rest (never silence)."""
    links = " ".join(release_url(rid) for rid in sorted(world.catalogue)[:100])
    replies = world.conv.handle(USER, links)
    assert len(replies) == 4 and all(r.card is not None for r in replies[:3])
    assert replies[3].text == ("That message has 100 Discogs links; I scored the first 3. Send the others a few at a "
                               "time (up to 3 per message).")


def test_choices_shown_together_are_numbered_on(world):
    """Two barcodes in one photo, each with several pressings: the second list goes on from the first's
    numbers, so a typed number names one pressing."""
    from core.app import Choice, Notice
    from core.app.conversation import Context
    from core.discogs.gateway import Candidate

    ids = world.targets[:5]
    cand = [Candidate(rid, f"Pressing {rid}", 2001, "UK", ["Vinyl"], None, [], None, None, True) for rid in ids]
    first, second = Choice("0 93624 75552 4", cand[:2]), Choice("8 29707 95171 8", cand[2:], first=3)
    ctx = Context()
    ctx.seen([Notice("I read 2 different barcodes in that photo"), first, second])
    assert ctx.choice == list(ids)
    assert [line.split(".")[0] for line in second.lines()] == ["3", "4", "5"]
    (reply,) = world.conv.handle(USER, "4", context=ctx)
    assert reply.card.release.id == ids[3]
    (reply,) = world.conv.handle(USER, "6", context=ctx)
    assert reply.text == "Pick a number from 1 to 5."


def test_watch_and_unwatch_in_the_chat(world):
    """/watch lists (with the buy score), /watch <link> [max] adds, /unwatch <number or link> removes; a bad link
    or price gets a sentence."""
    t = world.targets[1]
    (reply,) = world.conv.handle(USER, "/watch")
    assert reply.text.startswith("You're not watching anything yet.")
    (reply,) = world.conv.handle(USER, f"/watch {release_url(t)} €25")
    assert reply.text.startswith("👀 Watching ") and "at 25.00 EUR or less" in reply.text
    (reply,) = world.conv.handle(USER, "/watch")
    first, line = reply.text.splitlines()
    assert first.startswith("👀 Watching") and line.startswith("1. ") and "not checked yet" in line
    assert "your maximum 25.00 EUR" in line and re.search(r"buy score \d{1,3} %", line)
    (reply,) = world.conv.handle(USER, f"/watch {t} cheap")
    assert reply.text.startswith("I didn't understand the price 'cheap'")
    (reply,) = world.conv.handle(USER, "/watch https://example.com/record/5")
    assert reply.text == NOT_DISCOGS_MESSAGE
    (reply,) = world.conv.handle(USER, "/watch quiet 22-7")
    assert reply.text.startswith("🔕 No price alerts from 22:00 to 07:00 (UTC)")
    assert world.conv.watching.quiet_hours_of(USER) == (22, 7)
    (reply,) = world.conv.handle(USER, "/watch quiet soon")
    assert reply.text.startswith("Say the quiet hours like /watch quiet 22-8")
    (reply,) = world.conv.handle(USER, "/watch quiet off")
    assert reply.text == "🔔 Price alerts at any hour." and world.conv.watching.quiet_hours_of(USER) is None
    (reply,) = world.conv.handle(USER, "/unwatch 1")
    assert reply.text == f"Stopped watching release {t}."
    (reply,) = world.conv.handle(USER, f"/unwatch {release_url(t)}")
    assert reply.text == f"You're not watching release {t}."
