"""The collector's account on Discord: /help, /link, /token (a private form), /import (an attached CSV export),
/sync, /stats, /settings, /digest and /forget — usable anywhere the app is (servers, its DMs, private channels)."""
from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands

from core.app import NOT_LINKED, OFFLINE, Refusal, get_config

from .client import CrateDiscord, bot_of, user_key
from .text import say
from .views import SettingsView

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

HELP = (
    "**Crate Digger** tells you whether a record is worth buying *for you*.\n"
    "• `/link` your Discogs username (or `/token` for a private collection), or `/import` your CSV export\n"
    "• `/score` a Discogs link (release, master or marketplace) — or right-click a message → Apps → "
    "**Score this record**\n"
    "• `/barcode` with a photo of the sleeve's barcode (or its digits)\n"
    "• 👍 / 👎 / 🛒 on a card (buttons or reactions) teach your own model; `/digest` shows what it learnt\n"
    "• `/discover` picks of what to buy next (add words or a mood: `/discover dark ambient for late nights`)\n"
    "• `/watch` a link and a maximum price: a DM when it is cheap enough (or 👀 on a card); `/unwatch` stops\n"
    "• `/stats`, `/settings` (buy threshold, currency, adventurous picks), `/sync`, `/forget`\n"
    "In a server: `/share on` to take part, then `/whowants` a record (who here would buy it), `/groupbuy` (how "
    "well it suits the group) and `/taste @member` (how your tastes match).\n"
    "Data provided by Discogs."
)


def anywhere(cmd: app_commands.Command | app_commands.ContextMenu) -> None:
    """Installable in servers and as a user app; usable in servers, the bot's DMs and private channels."""
    cmd.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
    cmd.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)


@app_commands.command(name="help", description="What Crate Digger does and how to start")
async def help_(interaction: discord.Interaction) -> None:
    await interaction.response.send_message(HELP, ephemeral=True)


@app_commands.command(name="link", description="Link your public Discogs collection by username (read and trained "
                                               "at once)")
@app_commands.describe(username="your Discogs username")
async def link(interaction: discord.Interaction, username: str) -> None:
    bot = bot_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    name = username.strip()
    if not name or len(name) > 64 or not set(name) <= USERNAME_CHARS:
        await interaction.edit_original_response(content="That doesn't look like a Discogs username (letters, "
                                                         "digits, . _ -). For a private collection use /token.")
        return
    if not bot.app.live:
        await interaction.edit_original_response(content=OFFLINE + " Use /import with your CSV export instead.")
        return
    user = user_key(interaction.user)
    await interaction.edit_original_response(content=say(f"Checking {name} on Discogs…"))
    try:
        await asyncio.to_thread(bot.app.accounts.link_username, user, name)
    except Refusal as exc:
        await interaction.edit_original_response(content=say(exc.message))
        return
    await bot.sync_and_train(interaction, user, f"🔗 Linked to Discogs user {name}.\n")


@app_commands.command(name="token", description="Link a private Discogs collection with your personal token (a "
                                                "private form)")
async def token(interaction: discord.Interaction) -> None:
    await bot_of(interaction).ask_token(interaction)


@app_commands.command(name="import", description="Import your Discogs collection CSV export (attach the file)")
@app_commands.describe(file="the CSV from Discogs → Collection → Export")
async def import_(interaction: discord.Interaction, file: discord.Attachment) -> None:
    bot = bot_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    limit = int(get_config().imports.max_file_bytes)
    if file.size > limit:
        await interaction.edit_original_response(content=say(f"{file.filename} is {file.size / 1e6:.0f} MB; I "
                                                             f"take files up to {limit / 1e6:.0f} MB."))
        return
    user = user_key(interaction.user)
    await interaction.edit_original_response(content=say(f"📥 Reading {file.filename}…"))
    try:
        data = await file.read()
    except discord.HTTPException:
        await interaction.edit_original_response(content="I couldn't download that file from Discord — please "
                                                         "try again.")
        return
    try:
        result = await asyncio.to_thread(bot.app.accounts.import_upload, user, file.filename, data)
    except Refusal as exc:
        await interaction.edit_original_response(content=say(exc.message))
        return
    head = f"📥 Imported {result.n_items} records from {file.filename}.\n"
    progress = bot.progress(interaction)
    line = await asyncio.to_thread(bot.app.accounts.train, user, progress.say, head)
    await progress.done(head + line)


@app_commands.command(name="sync", description="Read what changed in your Discogs collection and wantlist, then "
                                               "retrain")
async def sync(interaction: discord.Interaction) -> None:
    bot = bot_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    user = user_key(interaction.user)
    if await asyncio.to_thread(bot.app.accounts.linked_name, user) is None:
        await interaction.edit_original_response(content=say(NOT_LINKED))
        return
    if not bot.app.live:
        await interaction.edit_original_response(content=OFFLINE)
        return
    await bot.sync_and_train(interaction, user)


@app_commands.command(name="stats", description="What I know about you: collection, feedback, model")
async def stats(interaction: discord.Interaction) -> None:
    bot = bot_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    text = await asyncio.to_thread(bot.app.accounts.stats, user_key(interaction.user))
    await interaction.edit_original_response(content=say(text))


@app_commands.command(name="settings", description="Your buy threshold, the currency for prices, how adventurous "
                                                   "picks are")
async def settings(interaction: discord.Interaction) -> None:
    bot = bot_of(interaction)
    shown = await asyncio.to_thread(bot.app.settings, user_key(interaction.user))
    view = SettingsView(interaction.user.id, shown.buy_pct, shown.currency, round(shown.adventurous * 100))
    await interaction.response.send_message(say(shown.text), ephemeral=True, view=view)


@app_commands.command(name="digest", description="What changed since your last digest, with a chart")
async def digest(interaction: discord.Interaction) -> None:
    bot = bot_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    user = user_key(interaction.user)
    try:
        d = await asyncio.to_thread(bot.app.digest, user)
    except Refusal as exc:
        await interaction.edit_original_response(content=say(exc.message))
        return
    text = d.text.replace(f" for {user} ", f" for {interaction.user.display_name} ", 1)
    files = [discord.File(io.BytesIO(d.chart_png), "digest.png")] if d.chart_png else []
    await interaction.edit_original_response(content=say(text), attachments=files)
    await asyncio.to_thread(bot.app.digest_sent, user, d.until)


@app_commands.command(name="forget", description="Delete everything I know about you")
async def forget(interaction: discord.Interaction) -> None:
    await bot_of(interaction).ask_forget(interaction)


def register(bot: CrateDiscord) -> None:
    commands: list[Any] = [help_, link, token, import_, sync, stats, settings, digest, forget]
    for cmd in commands:
        anywhere(cmd)
        bot.tree.add_command(cmd)
