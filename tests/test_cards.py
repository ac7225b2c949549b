"""Issue 24: a card that never contradicts itself or the collection — the verdict and where the record stands
for the collector agree, an album they own leads the card, the price is said once with its currency's symbol,
and nothing a collector reads speaks of model versions or ROC-AUC."""
from __future__ import annotations

import dataclasses
import re

import pytest
from conftest import shared_embedding_dir

from core.app.cards import chance_line, contradictions, money, render_card, render_chat_card, render_why, verdict_line
from core.domain.release import Release
from core.recommender import ScoreCard
from fakes.world import cloned_recommender

USER = "carder"
JARGON = re.compile(r"\bversion|calibrat|\bROC\b|\bAUC\b|hold-out|percentile|embedding", re.I)


@pytest.fixture(scope="module")
def world(tmp_path_factory, catalogue, trained_template):
    rec = cloned_recommender(trained_template, tmp_path_factory.mktemp("cards"), USER, catalogue,
                             shared_embedding_dir(tmp_path_factory))
    owned = {r["id"] for r in trained_template.records}
    # records the model never trained on (its "records others bought" are scored low because it learnt them)
    from core.learning.retrain import build_training_set

    ts = build_training_set(rec, USER)
    seen = {r.id for r in ts.negatives} if ts is not None else set()
    return rec, [rid for rid in sorted(catalogue) if rid not in owned and rid not in seen][::5][:300]


def test_no_card_over_the_catalogue_contradicts_itself(world):
    rec, targets = world
    cards = [rec.score(USER, rid, record=False) for rid in targets]
    for card in cards:
        assert contradictions(card) == [], (render_chat_card(card), contradictions(card))
        # what the bot says in its own words (record titles aside: "Live Version" is a title, not jargon)
        own = [verdict_line(card), chance_line(card), *card.notes, render_why(card).splitlines()[-1]]
        assert not JARGON.search("\n".join(own)), own
        head = verdict_line(card)
        if card.owned:                 # an album owned in another pressing leads with it (next test)
            assert head.startswith("📀 You already own this")
        elif card.verdict == "skip":     # never a skip worded as a good fit…
            assert "suit" in head and "top" not in head, head
        else:                          # …nor a buy or a maybe as a weak one
            assert re.search(r"— top \d+ % for you$", head), head
    verdicts = {c.verdict for c in cards}
    assert "skip" in verdicts and verdicts & {"buy", "maybe"}, verdicts
    # the chance agrees with the standing: every buy and maybe beats a typical record, and says so
    for card in cards:
        if card.verdict != "skip" and not card.owned:
            assert card.typical is not None and card.probability >= card.typical
            assert "(a typical record:" in chance_line(card)


def test_an_album_owned_in_another_pressing_leads_the_card(world):
    rec, _ = world
    mine = next(it.release for it in rec.store.collection(USER, "collection") if it.release.year)
    other = dataclasses.replace(mine, id=mine.id + 700_000_000, year=(mine.year or 2000) + 7, country="Japan",
                                master_id=None)
    card = rec.score(USER, other, record=False)
    about = ", ".join(str(x) for x in (mine.year, mine.country) if x)
    assert verdict_line(card) == f"📀 You already own this — another pressing ({about})"
    assert chance_line(card).startswith("A second copy? ")
    assert contradictions(card) == []
    assert not any("pressing" in r for r in card.reasons)   # said once, in the headline
    same = rec.score(USER, mine.id, record=False)
    assert verdict_line(same) == "📀 You already own this — this very pressing"


def test_a_price_is_said_once_with_its_currency_symbol(world):
    rec, targets = world
    base = rec.score(USER, targets[0], record=False)
    priced = dataclasses.replace(base, release=dataclasses.replace(base.release, lowest_price=51.45,
                                                                   price_currency="USD"))
    for text in (render_chat_card(priced), render_card(priced)):
        assert text.count("$51.45") == 1 and "🏷️ from $51.45" in text and "lowest price" not in text
        assert "💶" not in text and "USD" not in text


def test_money_uses_each_currency_symbol():
    assert money(12.5, "GBP") == "£12.50" and money(32.1, "EUR") == "€32.10" and money(51.45, "usd") == "$51.45"
    assert money(4800, "JPY") == "¥4,800" and money(20, "CHF") == "CHF 20.00" and money(3, "XYZ") == "3.00 XYZ"


def test_the_checker_catches_a_card_that_contradicts_itself():
    r = Release(id=1, title="Moving Cities", artists=["Faze Action"])
    good = ScoreCard(r, 0.18, "buy", "rare find", [], False, "v", None, [], 0.99, None, 0.02, (0.02, 0.08))
    assert contradictions(good) == [] and verdict_line(good) == "🟢 Buy — top 1 % for you"
    skip_top = dataclasses.replace(good, verdict="skip")          # a skip in the collector's top 1 %
    assert contradictions(skip_top)
    weak_buy = dataclasses.replace(good, percentile=0.80)         # a buy outside the top 2 %
    assert contradictions(weak_buy)
    owned = dataclasses.replace(good, owned="another pressing (2003, UK)")
    assert contradictions(owned) == [] and verdict_line(owned).startswith("📀")
    assert verdict_line(dataclasses.replace(good, verdict="skip", percentile=0.9)) == \
        "🔴 Skip — 1 in 10 records other collectors bought suits you better"
