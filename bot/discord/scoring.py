"""Scoring on Discord: /score a link, "Score this record" on any message, /barcode (a photo or its digits) and
/discover — usable anywhere the app is."""
from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord import app_commands

from core.app import Notice, Refusal, get_config

from .account import anywhere
from .client import SOURCE, CrateDiscord, bot_of, user_key


@app_commands.command(name="score", description="Score a record for you: a Discogs release, master or marketplace "
                                                "link")
@app_commands.describe(url="a Discogs link (or a release id)")
async def score(interaction: discord.Interaction, url: str) -> None:
    await bot_of(interaction).score_for(interaction, url)


@app_commands.context_menu(name="Score this record")
async def score_message(interaction: discord.Interaction, message: discord.Message) -> None:
    await bot_of(interaction).score_for(interaction, message_text(message))


@app_commands.command(name="barcode", description="Find the pressing from a photo of the sleeve's barcode (or its "
                                                  "digits), and score it")
@app_commands.describe(photo="a photo of the barcode", digits="or the digits printed under the bars")
async def barcode(interaction: discord.Interaction, photo: discord.Attachment | None = None,
                  digits: str | None = None) -> None:
    bot = bot_of(interaction)
    await bot.render.thinking(interaction)
    user = user_key(interaction.user)
    if photo is None and not digits:
        await bot.render.respond(interaction, user, [Notice("Attach a photo of the barcode, or type its digits.")])
        return
    if photo is not None:
        if photo.size > int(get_config().photo.max_bytes):
            await bot.render.respond(interaction, user, [Notice("That photo is too large; send a smaller one.")])
            return
        data = await photo.read()
        replies = await asyncio.to_thread(bot.app.photo, user, data)
    else:
        replies = await asyncio.to_thread(bot.app.handle, user, digits or "", event_id=f"ix:{interaction.id}",
                                          source=SOURCE)
    await bot.render.respond(interaction, user, replies)


@app_commands.command(name="discover", description="Picks of what to buy next, for you — optionally by words or a "
                                                   "mood")
@app_commands.describe(words="a style or a mood, e.g. 'dark ambient for late nights' (optional)")
async def discover(interaction: discord.Interaction, words: str | None = None) -> None:
    """A page of picks (private: picks say a lot about someone's taste), numbers opening cards."""
    bot = bot_of(interaction)
    await bot.render.thinking(interaction, ephemeral=True)
    user = user_key(interaction.user)
    progress = bot.progress(interaction)
    try:
        page = await asyncio.to_thread(bot.app.picks.discover, user, words, progress.say)
    except Refusal as exc:
        await progress.done(exc.message)
        return
    await progress.settle()
    await bot.render.respond(interaction, user, [page], ephemeral=True)


def message_text(message: discord.Message) -> str:
    """A message's text and its embeds' links (a card or a link preview carries the release link there)."""
    parts = [message.content or ""]
    for e in message.embeds:
        parts += [e.url or "", e.title or "", e.description or ""]
    return " ".join(p for p in parts if p)


def register(bot: CrateDiscord) -> None:
    commands: list[Any] = [score, barcode, discover]
    for cmd in commands:
        anywhere(cmd)
        bot.tree.add_command(cmd)
    anywhere(score_message)
    bot.tree.add_command(score_message)
