"""/watch and /unwatch on Discord (private answers); the alerts come as DMs (``CrateDiscord.send_alert``)."""
from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord import app_commands

from core.app import watch_command

from .account import anywhere
from .client import CrateDiscord, bot_of, user_key
from .text import say


@app_commands.command(name="watch", description="Watch a record's price (a link and a maximum), or list them")
@app_commands.describe(link="a Discogs release link or id (leave out to list what you watch)",
                       max_price="tell me when it is for sale at this price or less (your currency)")
async def watch(interaction: discord.Interaction, link: str | None = None, max_price: float | None = None) -> None:
    bot = bot_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    text = "/watch" + (f" {link}" if link else "") + (f" {max_price}" if link and max_price is not None else "")
    reply = await asyncio.to_thread(watch_command, bot.app.watching, user_key(interaction.user), text)
    await interaction.edit_original_response(content=say(reply.text))


@app_commands.command(name="unwatch", description="Stop watching a record (its link, or its number in /watch)")
@app_commands.describe(target="the record's Discogs link or id, or its number in /watch")
async def unwatch(interaction: discord.Interaction, target: str) -> None:
    bot = bot_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    reply = await asyncio.to_thread(watch_command, bot.app.watching, user_key(interaction.user), f"/unwatch {target}")
    await interaction.edit_original_response(content=say(reply.text))


def register(bot: CrateDiscord) -> None:
    commands: list[Any] = [watch, unwatch]
    for cmd in commands:
        anywhere(cmd)
        bot.tree.add_command(cmd)
