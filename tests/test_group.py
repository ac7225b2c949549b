"""The group use cases (core/app/group.py) on real collections: who here would buy a record, taste matches,
group harmony, and that nobody who did not opt in is ever named or scored."""
from __future__ import annotations

from pathlib import Path

import pytest
from test_conversation import shared_embedding_dir

from core.app import Group
from fakes.world import cloned_recommender

ROOT = Path(__file__).resolve().parent.parent
OMAR = ROOT / "data" / "collections" / "omarramos16" / "discogs_response_page_1_50perpage_full.json"
SERVER, OTHER_SERVER = 9001, 9002
LANE, OMAR_USER, SHY, EMPTY = "dc:1", "dc:2", "dc:3", "dc:4"


@pytest.fixture(scope="module")
def group(tmp_path_factory, catalogue, trained_template):
    tmp = tmp_path_factory.mktemp("group")
    rec = cloned_recommender(trained_template, tmp, LANE, catalogue, shared_embedding_dir(tmp_path_factory))
    rec.import_file(OMAR_USER, OMAR)          # a second collector (no model yet: scored from neighbours)
    rec.import_file(SHY, OMAR)                # linked, but never opts in here
    g = Group(rec, "discord")
    g.share(SERVER, LANE, True, "Lane")
    g.share(SERVER, OMAR_USER, True, "Omar")
    g.share(SERVER, EMPTY, True, "Nobody Yet")   # opted in, no collection: nothing to score
    g.share(OTHER_SERVER, SHY, True, "Shy")       # shares elsewhere only
    return g


def _lane_owned(g: Group) -> set[int]:
    return {it.release.id for it in g.rec.store.collection(LANE)}


def test_who_wants_ranks_every_sharing_member_and_never_the_others(group, catalogue):
    owned = _lane_owned(group) | {it.release.id for it in group.rec.store.collection(OMAR_USER)}
    rid = next(r for r in sorted(catalogue) if r not in owned)
    answer = group.who_wants(SERVER, f"https://www.discogs.com/release/{rid}-x")
    assert answer.message is None and answer.release is not None and answer.release.id == rid
    assert [r.name for r in answer.rows] and {r.user for r in answer.rows} == {LANE, OMAR_USER}
    # one scale for everyone: where the record stands for each member (their own top N %), best first — not
    # chances read against per-member thresholds
    ranked = [r.percentile for r in answer.rows if r.percentile is not None]
    assert ranked and ranked == sorted(ranked, reverse=True)
    firsts = [i for i, r in enumerate(answer.rows) if r.percentile is None]   # first estimates (no model) after
    assert all(i >= len(ranked) for i in firsts)
    for row in answer.rows:   # each member's score is their own card's
        card = group.rec.score(row.user, rid, record=False)
        assert row.probability == pytest.approx(card.probability) and row.verdict == card.verdict
        assert f"{row.name}: {card.verdict}, " in row.line
        assert ("for them" in row.line or "suit" in row.line) if row.percentile is not None else \
            "a first estimate" in row.line
    text = answer.render(with_harmony=True)
    assert "Shy" not in text and "Nobody Yet" not in text and catalogue[rid].display in text
    mean, low = answer.harmony
    assert low == min(r.probability for r in answer.rows) and min(r.probability for r in answer.rows) <= mean
    assert "Group harmony over 2 members" in text


def test_an_owner_is_said_as_such_not_scored(group):
    rid = sorted(_lane_owned(group))[0]
    answer = group.who_wants(SERVER, str(rid))
    lane = next(r for r in answer.rows if r.user == LANE)
    assert lane.owns and lane.line == "Lane: already owns it" and answer.rows[-1] is lane
    assert all(r.user != LANE for r in answer.scored)


def test_opting_out_takes_a_member_off_the_ranking(group, catalogue):
    rid = sorted(catalogue)[3]
    group.share(SERVER, OMAR_USER, False)
    try:
        assert {r.user for r in group.who_wants(SERVER, str(rid)).rows} == {LANE}
        assert group.taste(SERVER, LANE, OMAR_USER) == ("They haven't shared their taste in this server, so I "
                                                         "can't compare you.")
    finally:
        group.share(SERVER, OMAR_USER, True, "Omar")
    assert group.who_wants(OTHER_SERVER, str(rid)).rows[0].user == SHY   # a server sees only its own members


def test_bad_links_and_empty_servers_get_sentences(group):
    assert group.who_wants(SERVER, "https://example.com/x").message.startswith("I couldn't find a Discogs link")
    empty = group.who_wants(424242, "https://www.discogs.com/release/4")
    assert empty.rows == [] and "Nobody here has shared" in empty.render()


def test_taste_match_names_what_two_collections_share(group):
    m = group.taste(SERVER, LANE, OMAR_USER)
    assert not isinstance(m, str)
    lane = [it.release for it in group.rec.store.collection(LANE, "collection")]
    omar = [it.release for it in group.rec.store.collection(OMAR_USER, "collection")]
    lane_artists = {a for r in lane for a in r.artists}
    omar_artists = {a for r in omar for a in r.artists}
    assert set(m.shared_artists) <= lane_artists & omar_artists
    assert bool(m.shared_artists) == bool(lane_artists & omar_artists)
    assert m.a_on_b is not None and 0 < m.a_on_b < 1 and m.match is not None
    lane_ids = {r.id for r in lane}
    assert m.passes and all(r.id not in lane_ids for r, _ in m.passes)          # never one Lane owns
    assert [p for _, p in m.passes] == sorted((p for _, p in m.passes), reverse=True)
    text = m.render()
    assert text.startswith("🤝 Lane × Omar: taste match") and "Pass the record" in text
    assert group.taste(SERVER, SHY, LANE).startswith("You haven't shared your taste in this server")


def test_forgetting_a_member_removes_their_opt_ins(group):
    group.rec.store.set_sharing("discord", 77, "dc:99", True, "Temp")
    assert group.sharing(77, "dc:99")
    assert group.rec.store.forget_user("dc:99").deleted["server_shares"] == 1
    assert not group.sharing(77, "dc:99")


def test_a_release_only_the_askers_own_file_describes_is_never_shown_to_the_server(group, tmp_path):
    """Issue 22: /whowants shows shared facts only; what the asker's file says about a release stays theirs."""
    from core.domain.release import CollectionItem, Release

    forged = Release(id=99_999_903, title="SCAM title visit evil.example", artists=["SCAMARTIST"])
    group.rec.store.add_items(OMAR_USER, [CollectionItem(release=forged, list_name="wantlist")])
    assert group.rec.resolve(99_999_903, OMAR_USER).title == forged.title     # the asker's own view
    answer = group.who_wants(SERVER, "https://www.discogs.com/release/99999903", OMAR_USER)
    assert answer.release is None and "SCAM" not in answer.render()


def test_a_ranking_speaks_of_the_members_in_the_third_person(group, catalogue):
    """A server reads the ranking: each member's reason says what *they* own, never "you" / "your" (which in a
    public channel would read as the asker). The same release scored for the member themself says "you"."""
    import re

    lane_artists = {it.release.artist for it in group.rec.store.collection(LANE)}
    owned = _lane_owned(group)
    # a release by an artist Lane collects, so the reason names Lane's records ("like N records they own by …")
    rid = next(r for r in sorted(catalogue) if r not in owned and catalogue[r].artist in lane_artists)
    answer = group.who_wants(SERVER, str(rid))
    text = answer.render()
    reasons = [r.reason for r in answer.rows if r.reason]
    assert reasons, text
    second = re.compile(r"\b(you|your|yours)\b", re.IGNORECASE)
    assert not second.search(text), text
    assert any(re.search(r"\b(they|their|them)\b", r) for r in reasons), reasons
    own = group.rec.score(LANE, rid, record=False)
    assert any(second.search(r) for r in own.reasons), own.reasons
