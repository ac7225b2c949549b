"""Parsing pasted Discogs links and ids into DiscogsRef, offline."""
from __future__ import annotations

import pytest

from core.domain.refs import DiscogsRef, NotDiscogsLink, find_refs, parse_ref, parse_ref_strict

R = lambda i: DiscogsRef("release", i)  # noqa: E731
M = lambda i: DiscogsRef("master", i)  # noqa: E731
L = lambda i: DiscogsRef("listing", i)  # noqa: E731


@pytest.mark.parametrize("text, expected", [
    # release / master web links, with and without slug
    ("https://www.discogs.com/release/249504-Rick-Astley-Never-Gonna-Give-You-Up", R(249504)),
    ("https://www.discogs.com/release/249504", R(249504)),
    ("https://www.discogs.com/master/96559", M(96559)),
    ("https://www.discogs.com/master/96559-Rick-Astley-Never-Gonna-Give-You-Up", M(96559)),
    # old style: title slug before the kind
    ("https://www.discogs.com/Rick-Astley-Never-Gonna-Give-You-Up/release/249504", R(249504)),
    ("https://www.discogs.com/Some-Title/master/96559", M(96559)),
    # query string, fragment, trailing slash
    ("https://www.discogs.com/release/249504-Rick-Astley?ev=rr&foo=1", R(249504)),
    ("https://www.discogs.com/release/249504#images", R(249504)),
    ("https://www.discogs.com/master/96559/", M(96559)),
    # language prefixes
    ("https://www.discogs.com/de/release/249504-Rick-Astley", R(249504)),
    ("https://www.discogs.com/es/master/96559", M(96559)),
    ("https://www.discogs.com/pt_BR/release/249504", R(249504)),
    ("https://www.discogs.com/fr/Some-Title/master/96559", M(96559)),
    ("https://www.discogs.com/ja/sell/item/42", L(42)),
    # scheme and subdomain variants
    ("http://www.discogs.com/release/1", R(1)),
    ("https://discogs.com/release/2", R(2)),
    ("https://m.discogs.com/master/3", M(3)),
    ("discogs.com/release/1", R(1)),
    ("www.discogs.com/master/96559", M(96559)),
    ("HTTPS://WWW.DISCOGS.COM/RELEASE/249504", R(249504)),
    # API links
    ("https://api.discogs.com/releases/249504", R(249504)),
    ("https://api.discogs.com/masters/96559", M(96559)),
    # marketplace item
    ("https://www.discogs.com/sell/item/1234567890", L(1234567890)),
    # markup ids
    ("[r123456]", R(123456)),
    ("[m96559]", M(96559)),
    ("r123456", R(123456)),
    ("m96559", M(96559)),
    # bare ids
    ("249504", R(249504)),
    ("  249504 \n", R(249504)),
    # chat wrapping: Discord's <…> and trailing punctuation
    ("<https://www.discogs.com/release/249504>", R(249504)),
    ("https://www.discogs.com/release/249504.", R(249504)),
])
def test_parse_ref_accepts(text: str, expected: DiscogsRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize("text", [
    "https://www.discogs.com.evil.example/release/1",   # discogs.com is not the host
    "https://notdiscogs.com/release/1",
    "notdiscogs.com/release/1",
    "https://discogs.com@evil.example/release/1",       # userinfo trick
    "https://evil.example/?u=https://www.discogs.com/release/1",
    "ftp://www.discogs.com/release/1",
    "https://www.discogs.com/artist/72872-Rick-Astley",
    "https://www.discogs.com/label/895-RCA",
    "https://www.discogs.com/artist/release/1",         # reserved first segment, not a title slug
    "https://www.discogs.com/release/",
    "https://www.discogs.com/release/0",
    "https://www.discogs.com/release/12345678901",      # 11 digits
    "0",
    "[r0]",
    "12345678901",
    "r12345678901",
    "hello there, what do you think of this one?",
    "",
    "   ",
    "abc123",
    "release249504",
    "r123abc",
    "x249504y",
    "I have 3 copies and an m2 laptop",
    "[r123",
])
def test_parse_ref_rejects(text: str) -> None:
    assert parse_ref(text) is None


def test_find_refs_two_links_in_a_message() -> None:
    msg = ("is this one worth it? https://www.discogs.com/release/249504-Rick-Astley-Never-Gonna-Give-You-Up "
           "or should I get the master (<https://www.discogs.com/master/96559>), thanks!")
    assert find_refs(msg) == [R(249504), M(96559)]


def test_find_refs_order_dedup_and_markup() -> None:
    msg = ("[m96559] vs https://discogs.com/release/1-A, also discogs.com/release/1 again "
           "and https://youtube.com/watch?v=dQw4w9WgXcQ plus [r7].")
    assert find_refs(msg) == [M(96559), R(1), R(7)]


def test_find_refs_ignores_stray_numbers_in_text() -> None:
    assert find_refs("I bought 3 records for 20 euros") == []
    assert find_refs("249504") == [R(249504)]


def test_parse_ref_finds_link_in_sentence() -> None:
    assert parse_ref("what about https://www.discogs.com/release/249504 ?") == R(249504)


@pytest.mark.parametrize("text", [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://rickastley.bandcamp.com/album/whenever-you-need-somebody",
    "https://open.spotify.com/album/6N9PS4QXF1D0OWPk0Sxtb4",
    "https://www.discogs.com.evil.example/release/1",
    "notdiscogs.com",
])
def test_strict_other_site_raises_not_discogs_link(text: str) -> None:
    with pytest.raises(NotDiscogsLink) as info:
        parse_ref_strict(text)
    message = str(info.value)
    assert "isn't a Discogs page" in message
    assert "https://www.discogs.com/release/" in message


@pytest.mark.parametrize("text, fragment", [
    ("hello", "couldn't find a Discogs record"),
    ("", "couldn't find a Discogs record"),
    ("https://www.discogs.com/artist/72872-Rick-Astley", "isn't a record page"),
    ("12345678901", "doesn't look like a Discogs id"),
    ("0", "doesn't look like a Discogs id"),
])
def test_strict_no_ref_raises_plain_value_error(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_ref_strict(text)
    assert not isinstance(info.value, NotDiscogsLink)
    assert fragment in str(info.value)


def test_strict_returns_ref() -> None:
    assert parse_ref_strict("https://www.discogs.com/sell/item/1234567890") == L(1234567890)
    assert parse_ref_strict(" [m96559] ") == M(96559)


def test_ref_is_frozen_and_validated() -> None:
    ref = R(1)
    with pytest.raises(AttributeError):
        ref.id = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        DiscogsRef("artist", 1)
    with pytest.raises(ValueError):
        DiscogsRef("release", 0)


def test_several_links_in_one_message_are_each_found():
    """The whole message used to parse as its first link when it held several (issue 12's dropped links)."""
    text = "\n".join(f"https://www.discogs.com/release/{rid}-Some-Artist" for rid in (3, 5, 7)) + " and [m66526]"
    assert [(r.kind, r.id) for r in find_refs(text)] == [("release", 3), ("release", 5), ("release", 7),
                                                          ("master", 66526)]
