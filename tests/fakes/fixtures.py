"""pytest fixtures around the fake Discogs API.

Import the ones you need into a conftest or test module (``tests/`` is on ``sys.path`` under pytest's
default import mode, so the package is ``fakes``)::

    from fakes.fixtures import discogs_server, fake_discogs_client  # noqa: F401

``discogs_server`` is function-scoped: every test gets a fresh server (own users, tokens, faults, windows and
request log); the release data is parsed once per process.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from .discogs_server import FakeDiscogsServer

#: The fixture's users and credentials.
COLLECTOR = "collector"
COLLECTOR_RECORDS = 230
COLLECTOR_WANTS = 40
COLLECTOR_TOKEN = "good-token"
SECRETIVE = "secretive"
SECRETIVE_RECORDS = 60
SECRETIVE_TOKEN = "secretive-token"
CONSUMER_KEY = "crate-digger-key"
CONSUMER_SECRET = "crate-digger-secret"
CONSUMER_NAME = "Crate Digger"
USER_AGENT = "CrateDiggerTests/0.1 +https://example.invalid/crate-digger"
#: Rate-limit window of the fixture server (seconds); the limits are Discogs' own (60 / 25 a window).
WINDOW_SECONDS = 1.0


def make_server(**kwargs: Any) -> FakeDiscogsServer:
    """A started fake with the fixture's users and credentials (``kwargs`` go to ``FakeDiscogsServer``).

    * ``collector``: public, 230 records, 40 wants; personal token ``good-token``.
    * ``secretive``: private collection and wantlist, 60 records, 5 wants; token ``secretive-token``.
    * consumer ``crate-digger-key`` / ``crate-digger-secret`` ("Crate Digger") for OAuth.
    """
    kwargs.setdefault("window_seconds", WINDOW_SECONDS)
    server = FakeDiscogsServer(**kwargs).start()
    server.add_user(COLLECTOR, n_records=COLLECTOR_RECORDS, wants=COLLECTOR_WANTS)
    server.add_user(SECRETIVE, n_records=SECRETIVE_RECORDS, private=True, wants=5)
    server.add_token(COLLECTOR_TOKEN, COLLECTOR)
    server.add_token(SECRETIVE_TOKEN, SECRETIVE)
    server.add_consumer(CONSUMER_KEY, CONSUMER_SECRET, CONSUMER_NAME)
    return server


@pytest.fixture
def discogs_server() -> Iterator[FakeDiscogsServer]:
    """A running fake Discogs API (see ``make_server``), stopped after the test."""
    server = make_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_discogs_client(discogs_server: FakeDiscogsServer) -> Any:
    """A real ``discogs_client.Client`` authenticated as ``collector`` (token ``good-token``), pointed at
    ``discogs_server`` (``_base_url`` and the OAuth URLs) with backoff off and 5 s timeouts."""
    import discogs_client

    client = discogs_client.Client(USER_AGENT, user_token=COLLECTOR_TOKEN)
    discogs_server.point_client(client)
    client.set_timeout(connect=5, read=5)
    return client


@pytest.fixture
def live_cli(discogs_server: FakeDiscogsServer, tmp_path: Any, monkeypatch: Any) -> Iterator[str]:
    """The shell with live Discogs on, pointed at the fake (1-s windows), a fresh database and secret key:
    yields the database URL to pass as ``--database``; everything is restored after."""
    import core.discogs.ratelimit as ratelimit
    import core.model.embeddings
    from core.config import get_config
    from core.secrets import SecretBox

    env = {"CRATE_DISCOGS__LIVE": "true", "DISCOGS_API_BASE_URL": discogs_server.base_url,
           "CRATE_DISCOGS__RATE_WINDOW_S": "1", "CRATE_SECRET_KEY": SecretBox.generate_key(),
           "CRATE_PATHS__MODELS_DIR": str(tmp_path / "models"), "CRATE_PATHS__CACHE_DIR": str(tmp_path / "cache")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("DATABASE_URL", "CRATE_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(core.model.embeddings, "_default_cache", None)
    monkeypatch.setattr(ratelimit, "_registry", {})
    get_config.cache_clear()
    try:
        yield f"sqlite:///{tmp_path / 'crate.db'}"
    finally:
        monkeypatch.undo()
        get_config.cache_clear()
