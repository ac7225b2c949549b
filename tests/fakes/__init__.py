"""Test doubles for Crate Digger's external services.

``discogs_server.FakeDiscogsServer`` is a local HTTP fake of the Discogs API (data in ``discogs_data``);
``fixtures`` holds the pytest fixtures built on it. Import them into a conftest or test module::

    from fakes.fixtures import discogs_server, fake_discogs_client  # noqa: F401
"""
from .discogs_server import FakeDiscogsServer, FakeUser, Fault, RequestRecord

__all__ = ["FakeDiscogsServer", "Fault", "FakeUser", "RequestRecord"]
