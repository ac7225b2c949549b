"""The live Discogs commands (`crate link/unlink/sync/score`) and the chat's live look-ups, end to end against the
local fake Discogs API (``fakes.discogs_server``, 1-s rate-limit windows): real HTTP, the real
python3-discogs-client, the real gateway, limiter, sync and encrypted storage."""
from __future__ import annotations

import io
import json
import logging
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from conftest import release_url  # noqa: E402
from test_cli import shared_embedding_dir

import core.discogs.ratelimit as ratelimit
import core.discogs.sync
import core.model.embeddings
from bot.cli import main
from core.config import get_config
from core.discogs.gateway import AuthFailed, NotFound, PrivateCollection, Unavailable, UserNotFound
from core.secrets import SecretBox
from core.storage import Store
from fakes.fixtures import (  # noqa: F401
    COLLECTOR,
    COLLECTOR_RECORDS,
    COLLECTOR_TOKEN,
    COLLECTOR_WANTS,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SECRETIVE,
    discogs_server,
)

ROOT = Path(__file__).resolve().parent.parent
LANEBECKER = ROOT / "data" / "collections" / "lanebecker" / "collection.json"
USER = "digger"
UNKNOWN_RELEASE = 4        # a dump-sample release (Faze Action – Moving Cities): not in the bundled catalogue
OTHER_UNKNOWN = 7          # another (Moonchildren – Moonchildren EP)
SUMMARY = re.compile(r"^(collection|wantlist): (\d+) on Discogs, (\d+) new \((full read|incremental), (\d+) requests",
                     re.M)


@pytest.fixture
def live(discogs_server, tmp_path, tmp_path_factory, monkeypatch):
    """Live Discogs switched on and pointed at the fake; a fresh database, secret key, models dir and limiters."""
    key = SecretBox.generate_key()
    env = {
        "CRATE_DISCOGS__LIVE": "true",
        "DISCOGS_API_BASE_URL": discogs_server.base_url,
        "CRATE_DISCOGS__RATE_WINDOW_S": "1",
        "CRATE_DISCOGS__RETRY_ATTEMPTS": "2",
        "CRATE_DISCOGS__RETRY_BASE_S": "0.01",
        "CRATE_DISCOGS__RETRY_CAP_S": "0.05",
        "CRATE_DISCOGS__READ_TIMEOUT_S": "2",
        "CRATE_DISCOGS__CONNECT_TIMEOUT_S": "2",
        "CRATE_SECRET_KEY": key,
        "CRATE_PATHS__MODELS_DIR": str(tmp_path / "models"),
        "CRATE_PATHS__CACHE_DIR": str(shared_embedding_dir(tmp_path_factory)),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("DATABASE_URL", "CRATE_CONFIG", "DISCOGS_CONSUMER_KEY", "DISCOGS_CONSUMER_SECRET"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(core.model.embeddings, "_default_cache", None)
    monkeypatch.setattr(ratelimit, "_registry", {})   # no budget carried over from another test's server
    get_config.cache_clear()
    db_path = tmp_path / "crate.db"
    yield SimpleNamespace(server=discogs_server, db=f"sqlite:///{db_path}", db_path=db_path, key=key, tmp=tmp_path)
    get_config.cache_clear()


def crate(live, *args: str) -> int:
    return main(["--database", live.db, *args])


def store_of(live) -> Store:
    return Store(live.db)


def counts(live, user: str = USER) -> tuple[int, int]:
    store = store_of(live)
    try:
        return len(store.collection(user, "collection")), len(store.collection(user, "wantlist"))
    finally:
        store.close()


def summaries(out: str) -> dict[str, tuple[int, int, str, int]]:
    """{list: (total, new, kind, requests)} from `crate sync`'s output."""
    return {m[1]: (int(m[2]), int(m[3]), m[4], int(m[5])) for m in SUMMARY.finditer(out)}


def db_bytes(live) -> bytes:
    """The database and its WAL / shared-memory files, as they lie on disk."""
    return b"".join(p.read_bytes() for p in sorted(live.tmp.glob("crate.db*")))


def link_and_sync(live, capsys, *link_args: str) -> None:
    assert crate(live, "link", *link_args, "--user", USER) == 0
    assert crate(live, "sync", "--user", USER) == 0
    out = capsys.readouterr().out
    assert summaries(out)["collection"][:2] == (COLLECTOR_RECORDS, COLLECTOR_RECORDS), out
    assert counts(live) == (COLLECTOR_RECORDS, COLLECTOR_WANTS)


def with_token_on_stdin(monkeypatch, token: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))


# ------------------------------------------------------------------------------------------ link + sync
def test_link_public_user_then_full_then_incremental_sync(live, capsys):
    server = live.server
    assert crate(live, "link", COLLECTOR, "--user", USER) == 0
    assert f"Linked {USER} to Discogs user {COLLECTOR}" in capsys.readouterr().out

    assert crate(live, "sync", "--user", USER) == 0
    out = capsys.readouterr().out
    got = summaries(out)
    assert got["collection"] == (230, 230, "full read", 3), out      # 100 a page
    assert got["wantlist"] == (40, 40, "full read", 1), out
    assert counts(live) == (230, 40)

    before = len(server.requests)
    assert crate(live, "sync", "--user", USER) == 0
    got = summaries(capsys.readouterr().out)
    assert got["collection"] == (230, 0, "incremental", 1)
    assert got["wantlist"] == (40, 0, "incremental", 1)
    assert len(server.requests) - before == 2           # the newest page of each list, nothing more
    assert counts(live) == (230, 40)

    added = server.add_records(COLLECTOR, n=7)
    before = len(server.requests)
    assert crate(live, "sync", "--user", USER) == 0
    got = summaries(capsys.readouterr().out)
    assert got["collection"][:3] == (237, 7, "incremental"), got
    assert len(server.requests) - before <= 3            # page 1 (7 new + 93 known), page 2 (all known), wants
    store = store_of(live)
    try:
        ids = {it.release.id for it in store.collection(USER, "collection")}
        assert {e.release_id for e in added} <= ids and len(ids) == 237
    finally:
        store.close()


def test_link_token_from_stdin_is_stored_encrypted_and_unlink_removes_it(live, capsys, monkeypatch):
    with_token_on_stdin(monkeypatch, COLLECTOR_TOKEN)
    assert crate(live, "link", "--token-stdin", "--user", USER) == 0
    assert f"Discogs user {COLLECTOR}" in capsys.readouterr().out
    assert any(r.path == "/oauth/identity" and r.token == COLLECTOR_TOKEN for r in live.server.requests)

    store = store_of(live)
    try:
        acct = store.linked_account(USER)
        assert acct.auth_kind == "token" and acct.token_enc.startswith("fernet:v1:")
        assert store.account_secrets(USER, SecretBox(key=live.key))["token"] == COLLECTOR_TOKEN
    finally:
        store.close()
    raw = db_bytes(live)
    assert b"fernet:v1:" in raw                       # we are looking at the right files...
    assert COLLECTOR_TOKEN.encode() not in raw        # ...and the token is not in them in clear

    # the stored token is what sync uses
    live.server.clear_requests()
    assert crate(live, "sync", "--user", USER) == 0
    assert summaries(capsys.readouterr().out)["collection"][0] == COLLECTOR_RECORDS
    assert live.server.requests and all(r.token == COLLECTOR_TOKEN for r in live.server.requests)

    assert crate(live, "unlink", "--user", USER) == 0
    assert "Removed the Discogs link" in capsys.readouterr().out
    store = store_of(live)
    try:
        assert store.linked_account(USER) is None
    finally:
        store.close()
    raw = db_bytes(live)
    assert COLLECTOR_TOKEN.encode() not in raw and b"fernet:v1:" not in raw


def test_link_a_private_collection_by_username_exits_4(live, capsys):
    assert crate(live, "link", SECRETIVE, "--user", USER) == 4
    cap = capsys.readouterr()
    assert PrivateCollection.user_message in cap.err and "private" in cap.err
    assert cap.out == "" and "Traceback" not in cap.err
    store = store_of(live)
    try:
        assert store.linked_account(USER) is None
    finally:
        store.close()


def test_link_an_unknown_user_says_so(live, capsys):
    assert crate(live, "link", "nobody", "--user", USER) == 4
    cap = capsys.readouterr()
    assert UserNotFound.user_message in cap.err and cap.out == ""


def test_link_with_a_token_for_someone_else_is_refused(live, capsys, monkeypatch):
    with_token_on_stdin(monkeypatch, COLLECTOR_TOKEN)
    assert crate(live, "link", SECRETIVE, "--token-stdin", "--user", USER) == 2
    assert f"belongs to {COLLECTOR}, not {SECRETIVE}" in capsys.readouterr().err


def test_revoked_token_on_sync_keeps_the_collection(live, capsys, monkeypatch):
    with_token_on_stdin(monkeypatch, COLLECTOR_TOKEN)
    link_and_sync(live, capsys, "--token-stdin")
    live.server.revoke_token(COLLECTOR_TOKEN)
    live.server.add_records(COLLECTOR, n=3)
    assert crate(live, "sync", "--user", USER, "--full") == 4
    cap = capsys.readouterr()
    assert AuthFailed.user_message in cap.err and "revoked" in cap.err
    assert "Traceback" not in cap.err
    assert counts(live) == (COLLECTOR_RECORDS, COLLECTOR_WANTS)   # nothing lost


def test_discogs_down_during_sync_is_friendly_and_loses_nothing(live, capsys):
    link_and_sync(live, capsys, COLLECTOR)
    live.server.add_records(COLLECTOR, n=5)
    live.server.clear_requests()
    live.server.fail(".*", 503, times=None)
    assert crate(live, "sync", "--user", USER) == 4
    cap = capsys.readouterr()
    assert Unavailable.user_message in cap.err and "Traceback" not in cap.err
    # retry_attempts (2), then a clear answer; on a loaded machine the last attempt may time out on our side
    # before the fake logs its 503, so at least one and never more than the attempts
    assert 1 <= live.server.count_requests(status=503) <= 2
    assert counts(live) == (COLLECTOR_RECORDS, COLLECTOR_WANTS)


def test_discogs_going_down_mid_sync_writes_nothing(live, capsys, monkeypatch):
    """A full re-read that gets page 1 and then 503s: the stored collection is the previous one, whole."""
    link_and_sync(live, capsys, COLLECTOR)
    live.server.add_records(COLLECTOR, n=5)
    real = core.discogs.sync.items_from_page
    pages = []

    def page_then_outage(data, list_name):
        pages.append(list_name)
        live.server.fail(".*", 503, times=None)       # Discogs goes down once the first page has arrived
        return real(data, list_name)

    monkeypatch.setattr(core.discogs.sync, "items_from_page", page_then_outage)
    assert crate(live, "sync", "--user", USER, "--full") == 4
    assert Unavailable.user_message in capsys.readouterr().err
    assert pages == ["collection"]
    assert counts(live) == (COLLECTOR_RECORDS, COLLECTOR_WANTS)
    store = store_of(live)
    try:   # the failed sync did not move the sync state either: the next sync is a normal incremental one
        assert store.linked_account(USER).sync_state_dict["collection"]["items"] == COLLECTOR_RECORDS
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ OAuth
def test_link_with_oauth(live, capsys, monkeypatch):
    server = live.server
    monkeypatch.setenv("DISCOGS_CONSUMER_KEY", CONSUMER_KEY)
    monkeypatch.setenv("DISCOGS_CONSUMER_SECRET", CONSUMER_SECRET)
    seen = {}

    def approve_in_browser(prompt: str) -> str:
        """What the user does: open the printed page (here: the fake's), approve, paste the code shown."""
        printed = capsys.readouterr().out
        url = re.search(r"^\s+(http\S+)$", printed, re.M).group(1)
        seen["url"] = url
        page = requests.get(url, params={"username": COLLECTOR}, timeout=5)
        assert page.status_code == 200
        return re.search(r'<pre id="verifier">(\w+)</pre>', page.text).group(1)

    monkeypatch.setattr("bot.cli._read_secret", approve_in_browser)
    assert crate(live, "link", "--oauth", "--user", USER) == 0
    assert seen["url"].startswith(server.authorize_url + "?oauth_token=")
    assert f"Linked {USER} to Discogs user {COLLECTOR}" in capsys.readouterr().out

    identity = [r for r in server.requests if r.path == "/oauth/identity"]
    assert identity and identity[-1].status == 200
    access_token = identity[-1].token
    store = store_of(live)
    try:
        acct = store.linked_account(USER)
        assert acct.auth_kind == "oauth" and acct.discogs_username == COLLECTOR
        secrets = store.account_secrets(USER, SecretBox(key=live.key))
        assert secrets["oauth_token"] == access_token and secrets["oauth_secret"] and secrets["token"] is None
    finally:
        store.close()
    assert access_token.encode() not in db_bytes(live)

    # the OAuth credentials sign the sync's requests (the fake verifies every signature)
    server.clear_requests()
    assert crate(live, "sync", "--user", USER) == 0
    assert summaries(capsys.readouterr().out)["collection"][:2] == (COLLECTOR_RECORDS, COLLECTOR_RECORDS)
    assert server.requests and all(r.token == access_token and r.status == 200 for r in server.requests)


@pytest.mark.parametrize("consumer_secret, expect", [(CONSUMER_SECRET, "didn't accept that verification code"),
                                                      ("not-the-secret", "refused the app's consumer key")],
                         ids=["wrong-verifier", "wrong-consumer-secret"])
def test_oauth_failures_are_clear_errors(live, capsys, monkeypatch, consumer_secret, expect):
    monkeypatch.setenv("DISCOGS_CONSUMER_KEY", CONSUMER_KEY)
    monkeypatch.setenv("DISCOGS_CONSUMER_SECRET", consumer_secret)
    monkeypatch.setattr("bot.cli._read_secret", lambda prompt: "not-the-code")
    assert crate(live, "link", "--oauth", "--user", USER) == 4
    cap = capsys.readouterr()
    assert expect in cap.err and "Traceback" not in cap.err
    store = store_of(live)
    try:
        assert store.linked_account(USER) is None
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ score
@pytest.fixture
def ten_records(live, capsys):
    """`crate import` of 10 of lanebecker's records (a cold-start user), none of them the releases looked up here."""
    records = [r for r in json.loads(LANEBECKER.read_text(encoding="utf-8"))
               if r["id"] not in (UNKNOWN_RELEASE, OTHER_UNKNOWN)][::40][:10]
    path = live.tmp / "ten.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    assert crate(live, "import", str(path), "--user", USER) == 0
    capsys.readouterr()
    return records


def test_score_an_unknown_release_looks_it_up_live_with_a_price_in_the_linked_currency(live, ten_records, capsys,
                                                                                         catalogue):
    from fakes.discogs_data import market_numbers

    server = live.server
    assert UNKNOWN_RELEASE not in catalogue
    assert crate(live, "link", COLLECTOR, "--currency", "GBP", "--user", USER) == 0
    capsys.readouterr()
    assert crate(live, "score", release_url(UNKNOWN_RELEASE), "--user", USER) == 0
    out = capsys.readouterr().out
    assert "Faze Action – Moving Cities" in out, out
    assert re.match(r"^(🟢|🟡|🔴) (Buy|Maybe|Skip) — ", out)
    gbp = market_numbers(UNKNOWN_RELEASE, "GBP")[1]
    assert gbp is not None and gbp != market_numbers(UNKNOWN_RELEASE, "USD")[1]
    assert f"🏷️ from £{gbp:,.2f}" in out and "lowest price" not in out, out
    assert server.count_requests(rf"^/releases/{UNKNOWN_RELEASE}$") == 1
    stats = [r for r in server.requests if r.path == f"/marketplace/stats/{UNKNOWN_RELEASE}"]
    assert [r.query.get("curr_abbr") for r in stats] == ["GBP"]

    assert crate(live, "score", str(UNKNOWN_RELEASE), "--user", USER) == 0       # now cached
    assert "Moving Cities" in capsys.readouterr().out
    assert server.count_requests(rf"^/releases/{UNKNOWN_RELEASE}$") == 1


@pytest.mark.parametrize("fault, expect", [("deleted", NotFound.user_message),
                                           ("down", Unavailable.user_message)])
def test_score_a_deleted_release_or_with_discogs_down(live, ten_records, capsys, fault, expect):
    if fault == "deleted":
        live.server.delete_release(OTHER_UNKNOWN)
    else:
        live.server.fail(r"^/releases/", 503, times=None)
    assert crate(live, "score", release_url(OTHER_UNKNOWN), "--user", USER) == 3
    cap = capsys.readouterr()
    assert expect in cap.err and cap.out == "" and "Traceback" not in cap.err
    store = store_of(live)
    try:
        assert store.get_release(OTHER_UNKNOWN) is None
    finally:
        store.close()


# ------------------------------------------------------------------------------------------ conversation
def test_conversation_live_lookups_never_raise(live, ten_records, caplog):
    from core.app import CrateApp
    from core.recommender import Recommender

    store = store_of(live)
    try:
        conv = CrateApp(Recommender(store)).conv
        caplog.set_level(logging.ERROR)
        [card] = conv.handle(USER, f"what about {release_url(UNKNOWN_RELEASE)} ?")
        assert card.score_id is not None
        assert re.match(r"^(🟢|🟡|🔴) (Buy|Maybe|Skip) — ", card.text) and "Moving Cities" in card.text
        assert "first estimate" in card.text                                 # a cold-start user
        assert live.server.count_requests(rf"^/releases/{UNKNOWN_RELEASE}$") == 1

        live.server.delete_release(OTHER_UNKNOWN)
        [deleted] = conv.handle(USER, release_url(OTHER_UNKNOWN))
        assert deleted.text == NotFound.user_message and deleted.score_id is None

        live.server.restore_release(OTHER_UNKNOWN)
        live.server.fail(r"^/releases/", 503, times=None)
        [down] = conv.handle(USER, release_url(OTHER_UNKNOWN))
        assert down.text == Unavailable.user_message and down.score_id is None

        # the release looked up before is cached: scoring it again needs no Discogs
        [again] = conv.handle(USER, release_url(UNKNOWN_RELEASE))
        assert "Moving Cities" in again.text and again.score_id is not None
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]   # no "failed to handle" trace
    finally:
        store.close()
