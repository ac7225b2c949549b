"""Issue 22: what users control (titles, artists, labels, file and member names, words) reaches Discord as plain
text on every surface — cards, group rankings, /taste, picks, digests and every reply — never as live markdown
(bold, masked links, spoilers, headings, code) or as a mention."""
from __future__ import annotations

import json
import re

import discord
import pytest

from bot.discord.embeds import card_embed, group_embed, picks_embed
from bot.discord.text import safe, say
from core.app import GroupAnswer, PickPage, ScoreCard, TasteMatch
from core.app.group import MemberScore
from core.domain.release import Release
from core.picks import Pick, Picks

HOSTILE = ("POISON **bold** __u__ [click](https://evil.example) ||spoiler|| `code` ~~gone~~ "
           "https://evil.example/x **after a url** @everyone <@1234> <#99>\n# heading\n> quoted")
RAW = ["**bold**", "__u__", "[click](", "||spoiler||", "`code`", "~~gone~~", "**after a url**", "@everyone", "<@1234>",
       "<#99>"]
LINE_START = ["# heading", "> quoted"]


def _live(text: str) -> list[str]:
    """The hostile fragments that would still render (or ping) in ``text``."""
    live = [r for r in RAW if re.search(r"(?<!\\)" + re.escape(r), text)]
    return live + [r for r in LINE_START if re.search(r"(?m)^\s*" + re.escape(r), text.replace("\\n", "\n"))]


def _strings(e: discord.Embed) -> str:
    return json.dumps(e.to_dict(), ensure_ascii=False)


@pytest.fixture
def evil() -> Release:
    return Release(id=15820, title=HOSTILE, artists=["SCAM *ARTIST*"], labels=["[Label](http://x.y)"],
                   lowest_price=9.5, price_currency="E||U||R", have=1, want=2)


def test_cards_group_answers_and_picks_show_hostile_text_as_text(evil):
    card = ScoreCard(evil, 0.5, "maybe", "similar to records you own", [f"like {evil.display}", HOSTILE], False,
                     "v1", 7, notes=[HOSTILE])
    assert not _live(_strings(card_embed(card, all_reasons=True, for_name=HOSTILE)))
    rows = [MemberScore("dc:1", HOSTILE, 0.7, "buy", HOSTILE), MemberScore("dc:2", "Bob", 1.0, "owns", None, True)]
    assert not _live(_strings(group_embed(GroupAnswer(evil, rows), harmony=True)))
    pick = Pick(evil, 0.8, "buy", "similar", [HOSTILE], match=HOSTILE)
    picks = Picks("dc:1", [pick], HOSTILE, 0.3, 10, 5, 0.1, False, notes=[HOSTILE])
    text = _strings(picks_embed(PickPage("s", 0, picks, "")))
    assert not _live(text) and "](https://www.discogs.com/release/15820)" in text   # our own link stays a link


def test_every_reply_text_is_escaped_and_still_reads_the_same(evil):
    taste = TasteMatch("dc:1", "dc:2", HOSTILE, "Bob", [HOSTILE], ["Punk"], 0.5, 0.6, [(evil, 0.9)])
    for text in (taste.render(), GroupAnswer(evil, [MemberScore("dc:1", HOSTILE, 0.4, "maybe", HOSTILE)]).render(),
                 f"Noted 👍 for {evil.display}", f"📥 Reading {HOSTILE}.csv…"):
        out = say(text)
        assert not _live(out) and len(out) <= 2000
    plain = "AC/DC – Back In Black (1980) · 1,234 have / 567 want"
    unescaped = safe(plain).replace("\\", "")
    assert unescaped == plain        # a backslash before punctuation only hides itself: the text reads the same
    assert safe("@here and @everyone") != "@here and @everyone"
