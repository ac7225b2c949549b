"""Genre/style vocabulary: canonical names and the mapping of free-typed variants onto them."""
from __future__ import annotations

import pytest

from core.ingest import vocab
from core.ingest.vocab import normalise_genre, normalise_genres, normalise_style, normalise_styles


def test_vocab_sizes_and_known_names():
    assert len(vocab.genres()) == 15
    assert len(vocab.styles()) == 757
    assert "Folk, World, & Country" in vocab.genres()
    assert "Synth-pop" in vocab.styles()


@pytest.mark.parametrize("raw, canonical", [
    ("Funk/Soul", "Funk / Soul"),
    ("funk / soul", "Funk / Soul"),
    ("Folk, World & Country", "Folk, World, & Country"),
    ("folk world and country", "Folk, World, & Country"),
    ("hip-hop", "Hip Hop"),
    ("HIPHOP", "Hip Hop"),
    ("  Rock ", "Rock"),
    ("stage and screen", "Stage & Screen"),
    ("Childrens", "Children's"),
])
def test_normalise_genre_variants(raw, canonical):
    assert normalise_genre(raw) == canonical


@pytest.mark.parametrize("raw, canonical", [
    ("synth-pop", "Synth-pop"),
    ("Synth Pop", "Synth-pop"),
    ("SYNTHPOP", "Synth-pop"),
    ("Hip-Hop", "Hip Hop"),
    ("rock and roll", "Rock & Roll"),
    ("Rock'n'Roll", "Rock & Roll"),
    ("Drum & Bass", "Drum n Bass"),
    ("kayokyoku", "Kayōkyoku"),          # accent-folded
    ("Musique Concrete", "Musique Concrète"),
    ("bossa nova", "Bossa Nova"),          # the near-duplicates stay apart when spelled exactly
    ("Bossanova", "Bossanova"),
    ("crossover thrash", "Crossover Thrash"),
])
def test_normalise_style_variants(raw, canonical):
    assert normalise_style(raw) == canonical


@pytest.mark.parametrize("raw", ["R&B", "Not A Genre", "", "   ", None, 42])
def test_unknown_genre_is_none(raw):
    assert normalise_genre(raw) is None


def test_genre_is_not_a_style_and_vice_versa():
    assert normalise_style("Funk / Soul") is None
    assert normalise_genre("Synth-pop") is None
    assert normalise_genre("Hip Hop") == normalise_style("hip hop") == "Hip Hop"  # in both lists


def test_normalise_lists_drop_unknown_and_dedupe_in_order():
    assert normalise_genres(["rock", "Funk/Soul", "Rock", "Nonsense", "funk / soul", "Pop"]) == [
        "Rock", "Funk / Soul", "Pop"]
    assert normalise_styles(["Synth Pop", "synth-pop", "Zzz", "House", "Synth-pop"]) == ["Synth-pop", "House"]
    assert normalise_styles(None) == []
    assert normalise_genres("Jazz") == ["Jazz"]
