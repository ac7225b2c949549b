"""The fake Discogs API (tests/fakes), exercised through the real python3-discogs-client."""
from __future__ import annotations

import re
import time
from typing import Any

import discogs_client
import pytest
import requests
from discogs_client.exceptions import HTTPError, MalformedResponseError

from core.ingest.readers.catalogue import load_catalogue
from core.ingest.readers.dump_xml import iter_dump_releases
from fakes.discogs_data import CATALOGUE_DIR, DUMP_RELEASES, digits_only, load_dataset, market_numbers
from fakes.discogs_server import FakeDiscogsServer
from fakes.fixtures import (  # noqa: F401
    COLLECTOR,
    COLLECTOR_RECORDS,
    COLLECTOR_TOKEN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SECRETIVE,
    SECRETIVE_TOKEN,
    USER_AGENT,
    discogs_server,
    fake_discogs_client,
)


def make_client(server: FakeDiscogsServer, token: str | None = COLLECTOR_TOKEN) -> discogs_client.Client:
    """A real client pointed at the fake, as the brief prescribes (``_base_url``, no backoff)."""
    client = discogs_client.Client(USER_AGENT, user_token=token) if token else discogs_client.Client(USER_AGENT)
    client._base_url = server.base_url
    client.backoff_enabled = False
    client.set_timeout(connect=5, read=5)
    return client


@pytest.fixture(scope="module")
def dump_sample() -> dict[int, Any]:
    """The dump sample as the project's own reader sees it."""
    return {r.id: r for r in iter_dump_releases(DUMP_RELEASES)}


# ---------------------------------------------------------------------- releases and masters
def test_release_from_dump_matches_the_dump(discogs_server: FakeDiscogsServer, dump_sample: dict[int, Any]) -> None:
    client = make_client(discogs_server)
    rid = 4
    release = client.release(rid)
    expected = dump_sample[rid]
    assert release.title == expected.title
    assert [a.name for a in release.artists] == expected.artists
    assert release.artists[0].id > 0 and release.artists[0].data["resource_url"].startswith(discogs_server.base_url)
    assert [lab.name for lab in release.labels] == expected.labels
    assert release.labels[0].data["catno"] in expected.catnos
    assert [f["name"] for f in release.formats] == expected.formats
    assert release.country == expected.country
    assert release.year == expected.year
    assert [i["value"] for i in release.fetch("identifiers") if i["type"] == "Barcode"] == expected.barcodes
    assert release.master is not None and release.master.main_release.id == rid
    assert isinstance(release.community.have, int) and isinstance(release.community.want, int)
    assert 0 <= release.community.rating.average <= 5
    assert release.fetch("num_for_sale") >= 0
    assert release.url.startswith("https://www.discogs.com/release/4-")
    assert release.thumb == "" or release.thumb.startswith(discogs_server.base_url + "/image/")
    assert release.tracklist and release.tracklist[0].title


def test_fixture_release_and_catalogue_release(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    stockholm = client.release(1)
    assert stockholm.title == "Stockholm" and stockholm.artists[0].name == "Persuader, The"
    assert stockholm.data["resource_url"] == f"{discogs_server.base_url}/releases/1"
    assert stockholm.data["master_url"] == f"{discogs_server.base_url}/masters/5427"
    assert "community" in stockholm.data and "lowest_price" in stockholm.data

    catalogue = load_catalogue(CATALOGUE_DIR / "releases.jsonl", CATALOGUE_DIR / "labels.jsonl",
                               CATALOGUE_DIR / "community.jsonl")
    rid = 3802  # Roulé, have 3725 / want 2479 in the side tables
    raw = requests.get(f"{discogs_server.base_url}/releases/{rid}", timeout=5).json()
    assert raw["title"] == catalogue[rid].title and raw["year"] == catalogue[rid].year
    assert raw["genres"] == catalogue[rid].genres and raw["styles"] == catalogue[rid].styles
    assert raw["labels"][0]["name"] == "Roulé" and raw["labels"][0]["catno"]
    assert (raw["community"]["have"], raw["community"]["want"]) == (3725, 2479)
    assert raw["artists"][0]["resource_url"].startswith(discogs_server.base_url + "/artists/")
    # deterministic synthesised fields
    again = requests.get(f"{discogs_server.base_url}/releases/{rid}", timeout=5).json()
    assert again == raw


def test_master_main_release_and_versions(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    master = client.master(4242)
    assert master.title == "City Of Islands"
    assert master.data["main_release_url"] == f"{discogs_server.base_url}/releases/79"
    main = master.main_release
    assert main.id == 79 and main.title == "City Of Islands"
    assert [v.id for v in master.versions] == [79, 1657054]
    with pytest.raises(HTTPError) as err:
        client.master(1).title
    assert err.value.status_code == 404


def test_unknown_and_deleted_releases_404(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    with pytest.raises(HTTPError) as err:
        client.release(987654321).title
    assert err.value.status_code == 404 and err.value.args[0] == "Release not found."
    discogs_server.delete_release(4)
    with pytest.raises(HTTPError) as err:
        client.release(4).title
    assert err.value.status_code == 404
    discogs_server.restore_release(4)
    assert client.release(4).title


# ---------------------------------------------------------------------- search
def test_search_by_barcode_with_dashes_and_spaces(discogs_server: FakeDiscogsServer) -> None:
    rid, raw = next((r, b) for r, b in load_dataset().barcoded_dump_releases() if " " in b and "-" in b)
    code = digits_only(raw)
    client = make_client(discogs_server)
    for query in (code, f"{code[0]}-{code[1:6]}-{code[6:]}", f"{code[:4]} {code[4:]}"):
        results = client.search(barcode=query, type="release")
        assert len(results) >= 1
        hit = next(r for r in results if r.id == rid)
        assert isinstance(hit, discogs_client.Release)
        assert raw in hit.data["barcode"]  # stored raw, as Discogs has it
        assert " - " in hit.data["title"] and hit.data["resource_url"] == f"{discogs_server.base_url}/releases/{rid}"
        assert set(hit.data["community"]) == {"have", "want"}
    assert len(client.search(barcode="0000000000000", type="release")) == 0


def test_search_by_text_and_pagination(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    results = client.search("Moving Cities", type="release")
    assert any(r.id == 4 for r in results)
    raw = requests.get(f"{discogs_server.base_url}/database/search",
                       params={"genre": "Electronic", "type": "release", "per_page": 500, "page": 2,
                               "token": COLLECTOR_TOKEN}, timeout=5).json()
    assert raw["pagination"]["per_page"] == 100 and raw["pagination"]["page"] == 2
    assert len(raw["results"]) == 100 and set(raw["pagination"]["urls"]) == {"first", "prev", "next", "last"}
    assert "token" not in raw["pagination"]["urls"]["next"]


def test_search_requires_authentication(discogs_server: FakeDiscogsServer) -> None:
    anonymous = make_client(discogs_server, token=None)
    with pytest.raises(HTTPError) as err:
        len(anonymous.search(barcode="5012394144777"))
    assert err.value.status_code == 401
    assert err.value.args[0] == "You must authenticate to access this resource."


# ---------------------------------------------------------------------- users, collections, wantlists
def test_collection_pagination(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    folders = client.user(COLLECTOR).collection_folders
    assert [f.id for f in folders] == [0, 1] and folders[0].count == COLLECTOR_RECORDS
    releases = folders[0].releases
    assert releases.pages == 5 and len(releases) == COLLECTOR_RECORDS
    items = list(releases)
    assert len(items) == COLLECTOR_RECORDS
    assert len({i.instance_id for i in items}) == COLLECTOR_RECORDS
    assert len({i.id for i in items}) == COLLECTOR_RECORDS
    dates = [i.date_added for i in items]
    assert dates == sorted(dates) and dates[-1].year - dates[0].year >= 10
    assert re.search(r"[+-]\d\d:\d\d$", items[0].data["date_added"])
    info = items[0].data["basic_information"]
    assert {"id", "master_id", "title", "year", "artists", "labels", "formats", "genres", "styles", "thumb",
            "cover_image", "resource_url"} <= set(info)
    assert items[0].release.title == info["title"]
    with pytest.raises(IndexError):  # page 6 of 5 → 404 → IndexError in the client
        releases[COLLECTOR_RECORDS + 50]


def test_collection_page_shape_sort_and_clamp(discogs_server: FakeDiscogsServer) -> None:
    url = f"{discogs_server.base_url}/users/{COLLECTOR}/collection/folders/0/releases"
    page = requests.get(url, params={"per_page": 1000, "sort": "added", "sort_order": "desc"}, timeout=5).json()
    pagination = page["pagination"]
    assert (pagination["page"], pagination["pages"], pagination["per_page"], pagination["items"]) == (1, 3, 100, 230)
    assert set(pagination["urls"]) == {"next", "last"} and "sort_order=desc" in pagination["urls"]["next"]
    dates = [r["date_added"] for r in page["releases"]]
    assert len(dates) == 100 and dates == sorted(dates, reverse=True)
    last = requests.get(pagination["urls"]["last"], timeout=5).json()
    assert set(last["pagination"]["urls"]) == {"first", "prev"} and len(last["releases"]) == 30
    assert requests.get(url, params={"page": 4, "per_page": 100}, timeout=5).status_code == 404


def test_add_records_are_newest(discogs_server: FakeDiscogsServer) -> None:
    before = list(discogs_server.user(COLLECTOR).collection_ids)
    added = discogs_server.add_records(COLLECTOR, n=3)
    assert len(added) == 3 and not {e.release_id for e in added} & set(before)
    discogs_server.add_records(COLLECTOR, [4])
    client = make_client(discogs_server)
    releases = client.user(COLLECTOR).collection_folders[0].releases.sort("added", "desc")
    releases.per_page = 10
    newest = releases.page(1)
    assert [i.id for i in newest[:4]] == [4] + [e.release_id for e in reversed(added)]
    assert len(releases) == COLLECTOR_RECORDS + 4


def test_wantlist(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    wants = list(client.user(COLLECTOR).wantlist)
    assert len(wants) == 40
    assert not {w.id for w in wants} & set(discogs_server.user(COLLECTOR).collection_ids)
    assert wants[0].release.title and wants[0].data["date_added"]


def test_private_collection_and_unknown_user(discogs_server: FakeDiscogsServer) -> None:
    outsider = make_client(discogs_server)  # collector's token
    with pytest.raises(HTTPError) as err:
        list(outsider.user(SECRETIVE).collection_folders[0].releases)
    assert err.value.status_code == 403
    assert err.value.args[0] == "You don't have permission to access this resource."
    owner = make_client(discogs_server, token=SECRETIVE_TOKEN)
    assert len(list(owner.user(SECRETIVE).collection_folders[0].releases)) == 60
    with pytest.raises(HTTPError) as err:
        outsider.user("no-such-user").collection_folders
    assert err.value.status_code == 404 and err.value.args[0] == "User does not exist or may have been deleted."


def test_big_collections_are_distinct_then_cycle() -> None:
    server = FakeDiscogsServer()  # never started: users are plain data
    big = server.add_user("big", n_records=5000)
    assert len(set(big.collection_ids)) == 5000
    huge = server.add_user("huge", n_records=6000)
    assert len(set(huge.collection_ids)) == len(load_dataset().pool_ids) == 5325
    assert len({e.instance_id for e in huge.collection}) == 6000
    again = FakeDiscogsServer().add_user("big", n_records=5000)
    assert again.collection_ids == big.collection_ids  # deterministic


# ---------------------------------------------------------------------- auth
def test_identity_and_revoked_token(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    me = client.identity()
    assert me.username == COLLECTOR and set(me.data) == {"id", "username", "resource_url", "consumer_name"}
    assert me.data["resource_url"] == f"{discogs_server.base_url}/users/{COLLECTOR}"
    with pytest.raises(HTTPError) as err:
        make_client(discogs_server, token=None).identity()
    assert err.value.status_code == 401
    discogs_server.revoke_token(COLLECTOR_TOKEN)
    with pytest.raises(HTTPError) as err:
        client.release(4).title
    assert err.value.status_code == 401 and "Invalid consumer token" in err.value.args[0]
    header = requests.get(f"{discogs_server.base_url}/oauth/identity",
                          headers={"Authorization": f"Discogs token={SECRETIVE_TOKEN}"}, timeout=5)
    assert header.json()["username"] == SECRETIVE


def test_oauth_three_legged_flow(discogs_server: FakeDiscogsServer) -> None:
    client = discogs_client.Client(USER_AGENT, consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET)
    client._base_url = discogs_server.base_url
    client._request_token_url = discogs_server.base_url + "/oauth/request_token"
    client._access_token_url = discogs_server.base_url + "/oauth/access_token"
    client._authorize_url = discogs_server.base_url + "/oauth/authorize"
    client.backoff_enabled = False
    token, _secret, url = client.get_authorize_url()
    assert url.startswith(discogs_server.base_url + "/oauth/authorize?oauth_token=")
    with pytest.raises(HTTPError):
        client.get_access_token("wrong-verifier")
    page = requests.get(url, params={"username": COLLECTOR}, timeout=5)
    verifier = re.search(r'id="verifier">(\w+)<', page.text).group(1)
    access, access_secret = client.get_access_token(verifier)
    assert access and access_secret
    me = client.identity()
    assert me.username == COLLECTOR and me.data["consumer_name"] == "Crate Digger"
    assert len(client.search(barcode="093624755524")) >= 1
    assert discogs_server.requests[-1].token == access


# ---------------------------------------------------------------------- rate limiting
def test_rate_limit_headers_and_429(discogs_server: FakeDiscogsServer) -> None:
    discogs_server.configure_rate_limit(limit_authenticated=3, window_seconds=1.0)
    client = make_client(discogs_server)
    for used in (1, 2, 3):
        client.release(4).refresh()
        assert client._fetcher.rate_limit == "3"
        assert client._fetcher.rate_limit_used == str(used)
        assert client._fetcher.rate_limit_remaining == str(3 - used)
    with pytest.raises(HTTPError) as err:
        client.release(4).refresh()
    assert err.value.status_code == 429 and err.value.args[0] == "You are making requests too quickly."
    assert discogs_server.over_limit == 1
    assert client._fetcher.rate_limit_remaining == "0"
    time.sleep(1.05)  # the window moves on
    client.release(4).refresh()
    assert discogs_server.over_limit == 1
    assert discogs_server.count_requests(r"^/releases/4$", status=429) == 1


def test_anonymous_limit_is_per_ip(discogs_server: FakeDiscogsServer) -> None:
    discogs_server.configure_rate_limit(limit_anonymous=2, window_seconds=5)
    url = f"{discogs_server.base_url}/releases/4"
    statuses = [requests.get(url, timeout=5).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    authed = requests.get(url, params={"token": COLLECTOR_TOKEN}, timeout=5)
    assert authed.status_code == 200 and authed.headers["X-Discogs-Ratelimit"] == "60"
    discogs_server.configure_rate_limit(enabled=False)
    assert requests.get(url, timeout=5).status_code == 200


# ---------------------------------------------------------------------- faults and log
def test_fault_injection(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    discogs_server.fail(r"^/releases/\d+$", status=503, times=1)
    with pytest.raises(HTTPError) as err:
        client.release(4).title
    assert err.value.status_code == 503
    assert client.release(4).title  # only once
    discogs_server.fail(r"^/releases/", status=502)
    with pytest.raises(MalformedResponseError):  # Discogs' edge answers 502 with HTML
        client.release(5).title
    discogs_server.fail_all_once(404, body={"message": "Gone fishing."})
    with pytest.raises(HTTPError) as err:
        client.identity()
    assert (err.value.status_code, err.value.args[0]) == (404, "Gone fishing.")
    discogs_server.fail(r"/marketplace/", drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{discogs_server.base_url}/marketplace/stats/4", timeout=5)


def test_delay_fault_triggers_client_timeout(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    client.set_timeout(connect=1, read=0.2)
    discogs_server.slow(r"^/releases/4$", delay=0.6)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.release(4).title
    assert time.monotonic() - started < 0.6
    assert client.release(4).title  # the next one is fast again
    discogs_server.slow(r"^/releases/4$", delay=0.1)
    client.set_timeout(connect=1, read=2)
    assert client.release(4).title  # slow but within the timeout


def test_marketplace_stats(discogs_server: FakeDiscogsServer) -> None:
    client = make_client(discogs_server)
    stats = client.release(4).marketplace_stats
    assert stats.num_for_sale >= 0 and stats.blocked_from_sale is False
    url = f"{discogs_server.base_url}/marketplace/stats/4"
    eur = requests.get(url, params={"curr_abbr": "EUR"}, timeout=5).json()
    assert set(eur) == {"lowest_price", "num_for_sale", "blocked_from_sale"}
    assert eur == requests.get(url, params={"curr_abbr": "EUR"}, timeout=5).json()
    if eur["num_for_sale"]:
        assert eur["lowest_price"]["currency"] == "EUR" and eur["lowest_price"]["value"] > 0
    else:
        assert eur["lowest_price"] is None
    free = next(r for r in load_dataset().pool_ids if market_numbers(r)[0] == 0)
    assert requests.get(f"{discogs_server.base_url}/marketplace/stats/{free}", timeout=5).json()["lowest_price"] is None


def test_request_log_and_loopback(discogs_server: FakeDiscogsServer, fake_discogs_client: Any) -> None:
    assert discogs_server.base_url.startswith("http://127.0.0.1:")
    discogs_server.clear_requests()
    fake_discogs_client.release(4).title
    (when, method, path, query, token, status), = discogs_server.requests
    assert (method, path, query, token, status) == ("GET", "/releases/4", {}, COLLECTOR_TOKEN, 200)
    assert when <= time.monotonic()
    with pytest.raises(ValueError):
        from fakes.discogs_server import _Handler, _HTTPServer

        _HTTPServer(("0.0.0.0", 0), _Handler)


def test_concurrent_requests_share_one_window(discogs_server: FakeDiscogsServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    discogs_server.configure_rate_limit(limit_authenticated=10, window_seconds=30)
    url = f"{discogs_server.base_url}/users/{COLLECTOR}/collection/folders/0/releases"

    def fetch(page: int) -> int:
        return requests.get(url, params={"page": page % 5 + 1, "token": COLLECTOR_TOKEN}, timeout=5).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(30)))
    assert statuses.count(200) == 10 and statuses.count(429) == 20
    assert discogs_server.over_limit == 20 and discogs_server.count_requests(status=429) == 20


def test_keep_alive_session(discogs_server: FakeDiscogsServer) -> None:
    with requests.Session() as session:
        session.params = {"token": COLLECTOR_TOKEN}
        ids = [session.get(f"{discogs_server.base_url}/releases/{rid}", timeout=5).json()["id"]
               for rid in load_dataset().dump_ids[:20]]
    assert ids == load_dataset().dump_ids[:20]


def test_marketplace_listing(discogs_server: FakeDiscogsServer) -> None:
    listing_id = discogs_server.add_listing(4, price=12.5, currency="EUR")
    client = make_client(discogs_server)
    listing = client.listing(listing_id)
    assert listing.release.id == 4 and listing.price.value == 12.5 and listing.price.currency == "EUR"
    assert listing.seller.username == COLLECTOR and listing.status == "For Sale"
    inventory = requests.get(f"{discogs_server.base_url}/users/{COLLECTOR}/inventory", timeout=5).json()
    assert [entry["id"] for entry in inventory["listings"]] == [listing_id]
    with pytest.raises(HTTPError) as err:
        client.listing(1).status
    assert err.value.status_code == 404
