"""Discord sharding settings: one process per shard (DISCORD_SHARD_ID of DISCORD_SHARD_COUNT)."""
from __future__ import annotations

import pytest

from bot.discord.app import build_client, shard_from_env
from core.storage import Store


def test_a_shard_process_connects_as_its_shard(monkeypatch, tmp_path) -> None:
    from core.recommender import Recommender

    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD_SHARD_ID", "2")
    client = build_client(Recommender(Store("sqlite://"), {}, models_dir=tmp_path), start_learning=False)
    assert (client.shard_id, client.shard_count) == (2, 4)
    monkeypatch.delenv("DISCORD_SHARD_COUNT")
    monkeypatch.delenv("DISCORD_SHARD_ID")
    assert shard_from_env() == (None, None)
    client = build_client(Recommender(Store("sqlite://"), {}, models_dir=tmp_path), start_learning=False)
    assert client.shard_count is None


def test_a_shard_id_outside_the_count_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "2")
    monkeypatch.setenv("DISCORD_SHARD_ID", "2")
    with pytest.raises(ValueError, match="between 0 and DISCORD_SHARD_COUNT-1"):
        shard_from_env()
