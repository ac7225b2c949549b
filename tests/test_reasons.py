"""Reasons on real score cards (CatBoost trained on lanebecker's records): every statement is checked against
the collection the model was trained on and the release's own data."""
from __future__ import annotations

import dataclasses
import re
from collections import Counter

import numpy as np
import pytest

from core.domain.release import Release, album_key
from core.model.profile import CollectionProfile, artist_keys, label_keys
from core.model.reasons import EXPLORATION, RARE, SIMILAR, explain

DASH = " – "


def owned_name(r: Release) -> str:
    return f"{r.artist}{DASH}{r.title}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@pytest.fixture(scope="module")
def profile(small_catboost) -> CollectionProfile:
    return small_catboost.profile


@pytest.fixture(scope="module")
def rare_release(catalogue, lanebecker_items) -> Release:
    owned = {it.release.id for it in lanebecker_items}
    return next(r for _, r in sorted(catalogue.items())
                if r.id not in owned and r.have and r.want is not None and r.want > r.have)


@pytest.fixture(scope="module")
def cards(small_catboost, lanebecker_sample, rare_release):
    """(release, row, neighbours, explanation) for held-out purchases, others' records, a rare find, another
    pressing of an owned album and a release with almost no data."""
    m = small_catboost
    repress = dataclasses.replace(m.profile.releases[5], id=m.profile.releases[5].id + 10**9)
    rs = (lanebecker_sample["holdout_pos"][:40] + lanebecker_sample["holdout_neg"][:25]
          + [rare_release, repress, Release(id=900000001, title="Untitled")])
    ff = m.features(rs)
    C = m.contributions(ff.X)
    out = []
    for i, r in enumerate(rs):
        row, nbs = ff.X.iloc[i], ff.neighbours[i]
        out.append((r, row, nbs, explain(r, m.profile, row, nbs, C.iloc[i])))
    return out


def own_album_positions(profile: CollectionProfile, r: Release) -> set[int]:
    return {j for j, o in enumerate(profile.releases) if album_key(o) == album_key(r)}


def positions_by_artist(profile: CollectionProfile, r: Release) -> list[int]:
    keys = set(artist_keys(r))
    ex = own_album_positions(profile, r)
    return [j for j, o in enumerate(profile.releases) if keys & set(artist_keys(o)) and j not in ex]


def style_count(profile: CollectionProfile, style: str, ex: set[int] = frozenset()) -> int:
    return sum(style in o.styles for j, o in enumerate(profile.releases) if j not in ex)


def check_names_are_owned(text: str, profile: CollectionProfile) -> int:
    """Every "A – B" in ``text`` lies inside the name of a record in the collection; returns how many."""
    covered = np.zeros(len(text), bool)
    for o in profile.releases:
        name = owned_name(o)
        for m in re.finditer(re.escape(name), text):
            covered[m.start():m.end()] = True
    dashes = [m.start() for m in re.finditer(DASH, text)]
    for d in dashes:
        assert covered[d], f"names a record not in the collection: {text!r}"
    return len(dashes)


def check_reason(text: str, r: Release, profile: CollectionProfile, row, nbs) -> str:
    """Assert the statement is true; return which kind of statement it was."""
    ex = own_album_positions(profile, r)
    names = [owned_name(o) for o in profile.releases]
    if m := re.fullmatch(r"you already own a pressing of this album \((.+)\)", text):
        assert ex and m.group(1) in {names[j] for j in ex}
        return "pressing"
    if m := re.fullmatch(r"like (\d+) records? you own by (.+?) \((.+)\)", text):
        pos = positions_by_artist(profile, r)
        albums = list(dict.fromkeys(names[j] for j in sorted(pos)))   # two pressings are one record, named once
        assert int(m.group(1)) == len({album_key(profile.releases[j]) for j in pos}) > 0, text
        assert m.group(2) == r.artist
        assert m.group(3) == " and ".join(albums[:2])
        return "artist"
    if m := re.fullmatch(r"close to (.+) in your collection", text):
        # the nearest owned records at cosine >= 0.6 (those by the same artist have their own statement)
        art = set(positions_by_artist(profile, r))
        close = [nb for nb in nbs if nb.similarity >= 0.6 and nb.position not in art]
        shown = list(dict.fromkeys(names[nb.position] for nb in close))[:2]
        assert close and m.group(1) == " and ".join(shown), text
        assert len(set(shown)) == len(shown)
        assert not {nb.position for nb in close} & ex
        return "close"
    if m := re.fullmatch(r"style you collect: (.+?) \((\d+) records?\)(?: and (.+) \((\d+)\))?", text):
        assert style_count(profile, m.group(1), ex) == int(m.group(2)) > 0, text
        assert m.group(1) in r.styles
        if m.group(3):
            assert m.group(3) in r.styles and style_count(profile, m.group(3), ex) == int(m.group(4)) > 0
            assert int(m.group(4)) <= int(m.group(2))
        return "style"
    if m := re.fullmatch(r"new style for you: (.+)", text):
        for s in m.group(1).split(", "):
            assert s in r.styles and style_count(profile, s, ex) == 0, text
        return "new style"
    if m := re.fullmatch(r"on (.+), like (\d+) records? you own", text):
        assert m.group(1) == r.labels[0]
        keys = set(label_keys(r))
        n = sum(bool(keys & set(label_keys(o))) for j, o in enumerate(profile.releases) if j not in ex)
        assert int(m.group(2)) == n > 0, text
        return "label"
    if m := re.fullmatch(r"rare: ([\d,]+) have / ([\d,]+) want", text):
        assert (m.group(1), m.group(2)) == (f"{r.have:,}", f"{r.want:,}") and r.want >= r.have
        return "rare"
    if m := re.fullmatch(r"easy to find: ([\d,]+) have / ([\d,]+) want", text):
        assert (m.group(1), m.group(2)) == (f"{r.have:,}", f"{r.want:,}") and r.want < r.have
        return "easy"
    if m := re.fullmatch(r"your collection: (\d+) records?, mostly (.+)", text):
        assert int(m.group(1)) == profile.n
        counts = Counter(s for o in profile.releases for s in set(o.styles))
        top = m.group(2).split(", ")
        assert sorted(counts[s] for s in top) == sorted(c for _, c in counts.most_common(2))
        return "summary"
    if m := re.fullmatch(r"nearest record you own: (.+)", text):
        assert m.group(1) == names[nbs[0].position]
        return "summary"
    if text == "no genres or styles known for this release":
        assert not (r.genres or r.styles)
        return "summary"
    if m := re.fullmatch(r"its (styles|genres): (.+)", text):
        tags = m.group(2).split(", ")
        assert set(tags) <= set(r.styles if m.group(1) == "styles" else r.genres) and tags
        return "summary"
    if text == "your collection is empty: a rough estimate":
        assert profile.n == 0
        return "summary"
    if text.startswith("holds it back: "):
        t = text[len("holds it back: "):]
        if m := re.fullmatch(r"not much like anything you own \(closest: (.+)\)", t):
            assert m.group(1) == names[nbs[0].position]
        elif m := re.fullmatch(r"you own nothing else by (.+)", t):
            assert m.group(1) == r.artist and not positions_by_artist(profile, r)
        elif m := re.fullmatch(r"its styles are rare in your collection \((.+): (\d+) records?\)", t):
            assert m.group(1) in r.styles and style_count(profile, m.group(1)) == int(m.group(2))
            assert int(m.group(2)) < 0.05 * profile.n
        elif m := re.fullmatch(r"(.+) is a small part of your collection \((\d+) records?\)", t):
            g = m.group(1)
            assert g in r.genres and sum(g in o.genres for o in profile.releases) == int(m.group(2))
        elif m := re.fullmatch(r"you own few records from around (\d+)", t):
            assert int(m.group(1)) == r.year
            years = [o.year for j, o in enumerate(profile.releases) if o.year and j not in ex]
            assert sum(abs(y - r.year) <= 2 for y in years) / len(years) < 0.1
        elif m := re.fullmatch(r"you own nothing on (.+)", t):
            assert m.group(1) == r.labels[0] and row["label_count"] == 0
        elif t == "records other collectors bought are closer to it than anything you own":
            # the nearest training negative (brute-force checked in test_features) beats the nearest owned record
            assert row["neg_knn_max"] > row["knn_max"] == pytest.approx(nbs[0].similarity)
        else:
            pytest.fail(f"unchecked reason: {text!r}")
        return "down"
    pytest.fail(f"unchecked reason: {text!r}")


def test_every_reason_is_true_of_the_collection(cards, profile):
    kinds: dict[str, int] = {}
    named = 0
    for r, row, nbs, e in cards:
        for text in e.reasons:
            named += check_names_are_owned(text, profile)
            k = check_reason(text, r, profile, row, nbs)
            kinds[k] = kinds.get(k, 0) + 1
    # the cards exercise the statements that name records and state counts
    for k in ("artist", "close", "style", "label", "rare", "down"):
        assert kinds.get(k, 0) >= 1, (k, kinds)
    # owning the album is the card's headline, and the price its own line: neither is a reason as well
    assert "pressing" not in kinds and not any(t.startswith("lowest price") for *_, e in cards for t in e.reasons)
    assert named >= 40


def test_counts_stated_match_the_collection(cards, profile):
    stated = 0
    for r, _, _, e in cards:
        for text in e.reasons:
            if m := re.match(r"like (\d+) records? you own by ", text):
                by_artist = {album_key(o) for o in profile.releases   # albums: two pressings are one record
                             if set(artist_keys(o)) & set(artist_keys(r)) and album_key(o) != album_key(r)}
                assert int(m.group(1)) == len(by_artist)
                assert text.startswith(f"like {plural(len(by_artist), 'record')} you own by {r.artist} (")
                stated += 1
    assert stated >= 3


def test_two_to_four_reasons_and_a_known_score_type(cards):
    for r, row, nbs, e in cards:
        assert 2 <= len(e.reasons) <= 4, (r.display, e.reasons)
        assert len(set(e.reasons)) == len(e.reasons)
        assert e.score_type in {SIMILAR, EXPLORATION, RARE}
        if r.have and r.want is not None and r.want >= r.have:
            assert e.score_type == RARE
        elif positions_by_artist_nonempty(r, e):
            assert e.score_type == SIMILAR
    assert {e.score_type for *_, e in cards} == {SIMILAR, EXPLORATION, RARE}


def positions_by_artist_nonempty(r: Release, e) -> bool:
    return any(t.startswith("like ") and " you own by " in t for t in e.reasons)


def test_rare_find_states_the_real_numbers(cards, rare_release):
    r, _, _, e = next(c for c in cards if c[0] is rare_release)
    assert r.want > r.have > 0
    assert e.score_type == RARE
    assert f"rare: {r.have:,} have / {r.want:,} want" in e.reasons


def test_another_pressing_is_not_a_reason_nor_a_close_record(cards, profile):
    r, row, _, e = next(c for c in cards if c[0].id > 10**9)
    owned = profile.releases[5]
    assert not any("pressing" in t for t in e.reasons)   # the card's headline says it (test_cards)
    assert row["knn_max"] < 0.9999
    assert all(owned_name(owned) not in t for t in e.reasons[1:] if t.startswith("close to"))


def test_not_rare_when_fewer_want_than_have(small_catboost, catalogue, lanebecker_items):
    owned = {it.release.id for it in lanebecker_items}
    r = next(r for _, r in sorted(catalogue.items())
             if r.id not in owned and r.have and r.want is not None and r.have > 5000 and r.want < r.have)
    ff = small_catboost.features([r])
    e = explain(r, small_catboost.profile, ff.X.iloc[0], ff.neighbours[0],
                small_catboost.contributions(ff.X).iloc[0])
    assert e.score_type != RARE
    assert not any(t.startswith("rare:") for t in e.reasons)


def test_empty_collection_still_gets_two_true_reasons(embedder, lanebecker_sample, rare_release):
    """Cold start with nothing owned yet: the card still carries 2–4 statements, all true."""
    from core.model.features import build_features

    empty = CollectionProfile([], np.zeros((0, 384), np.float32))
    rs = lanebecker_sample["holdout_pos"][:5] + [rare_release, Release(id=900000002, title="Untitled")]
    ff = build_features(empty, rs, embedder(rs))
    for i, r in enumerate(rs):
        e = explain(r, empty, ff.X.iloc[i], ff.neighbours[i], None)
        assert 2 <= len(e.reasons) <= 4, (r.display, e.reasons)
        assert e.score_type == (RARE if r is rare_release else EXPLORATION)
        for text in e.reasons:
            assert DASH not in text
            check_reason(text, r, empty, ff.X.iloc[i], ff.neighbours[i])
