"""Build and run the Discord bot.

    DISCORD_BOT_TOKEN=... crate run discord
    crate run telegram discord          # both bots, one process, one database, one learning scheduler

``DISCORD_API_BASE_URL`` (e.g. ``http://127.0.0.1:PORT/api/v10``) replaces ``discord.http.Route.BASE`` and
``DISCORD_GATEWAY_URL`` (e.g. ``ws://127.0.0.1:PORT/gateway``) the gateway address. discord.py 2.x connects to
``DiscordWebSocket.DEFAULT_GATEWAY`` and never asks ``GET /gateway/bot`` itself, so with only the base URL
overridden the bot asks that endpoint of the overriding API for its gateway. That is how tests (and a proxy)
point the bot elsewhere. The token is registered with the log redaction and never printed.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket

from core.app import CrateApp, Recommender, register_secret

from . import account, groups, scoring, watch
from .client import CrateDiscord

log = logging.getLogger(__name__)

TOKEN_ENV = "DISCORD_BOT_TOKEN"
BASE_URL_ENV = "DISCORD_API_BASE_URL"
GATEWAY_URL_ENV = "DISCORD_GATEWAY_URL"
DEFAULT_BASE = discord.http.Route.BASE
DEFAULT_GATEWAY = DiscordWebSocket.DEFAULT_GATEWAY


def point_at(base_url: str | None = None, gateway_url: str | None = None) -> bool:
    """Point discord.py at another REST API and gateway (None: Discord's own). Returns whether the gateway
    address must still be asked of the overriding API (base URL given, gateway not)."""
    discord.http.Route.BASE = base_url.rstrip("/") if base_url else DEFAULT_BASE
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url) if gateway_url else DEFAULT_GATEWAY
    return bool(base_url) and not gateway_url


class PointedClient(CrateDiscord):
    """The bot with every feature's commands, asking the overriding API for its gateway before connecting when
    only the base URL is set."""

    ask_gateway = False

    def __init__(self, app: CrateApp | Recommender, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        for feature in (account, scoring, groups, watch):
            feature.register(self)

    async def setup_hook(self) -> None:
        if self.ask_gateway:
            _, url, _ = await self.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
            log.info("gateway from the API: %s", url)
        await super().setup_hook()


def build_client(recommender: CrateApp | Recommender, *, start_learning: bool = True, sync_commands: bool = True,
                 progress_interval: float = 1.0) -> PointedClient:
    """The client, pointed where the environment says."""
    base = os.environ.get(BASE_URL_ENV, "").strip() or None
    gateway = os.environ.get(GATEWAY_URL_ENV, "").strip() or None
    shard_id, shard_count = shard_from_env()
    client = PointedClient(recommender, start_learning=start_learning, sync_commands=sync_commands,
                           progress_interval=progress_interval, shard_id=shard_id, shard_count=shard_count)
    client.ask_gateway = point_at(base, gateway)
    return client


SHARD_ENV, SHARD_COUNT_ENV = "DISCORD_SHARD_ID", "DISCORD_SHARD_COUNT"


def shard_from_env() -> tuple[int | None, int | None]:
    """(shard id, shard count) from ``DISCORD_SHARD_ID`` / ``DISCORD_SHARD_COUNT``: one process per shard, each
    started with its own id (0 … count-1) and the same count; (None, None) when unset: one connection for all
    servers (Discord requires shards from 2,500 servers on). Only shard 0 gets direct messages."""
    count = os.environ.get(SHARD_COUNT_ENV, "").strip()
    if not count:
        return None, None
    n, i = int(count), int(os.environ.get(SHARD_ENV, "0").strip() or 0)
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"{SHARD_ENV}={i} must be between 0 and {SHARD_COUNT_ENV}-1 ({n - 1})")
    return i, n


def token_from_env() -> str | None:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        register_secret(token)
    return token or None


async def serve(recommender: CrateApp | Recommender, token: str, *, start_learning: bool = True) -> None:
    """Run until closed (the caller's event loop)."""
    client = build_client(recommender, start_learning=start_learning)
    async with client:
        await client.start(token, reconnect=True)
