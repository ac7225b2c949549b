"""The slash commands and context menus. Each one only translates: it defers, calls core in a worker thread,
and renders what comes back (private answers ephemeral)."""
from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from core.app import OFFLINE, DiscogsError, get_config

from .embeds import group_embed
from .text import say

if TYPE_CHECKING:
    from .client import CrateDiscord

log = logging.getLogger(__name__)

USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

HELP = (
    "**Crate Digger** tells you whether a record is worth buying *for you*.\n"
    "• `/link` your Discogs username (or `/token` for a private collection), or `/import` your CSV export\n"
    "• `/score` a Discogs link (release, master or marketplace) — or right-click a message → Apps → "
    "**Score this record**\n"
    "• `/barcode` with a photo of the sleeve's barcode (or its digits)\n"
    "• 👍 / 👎 / 🛒 on a card (buttons or reactions) teach your own model; `/digest` shows what it learnt\n"
    "• `/discover` picks of what to buy next (add words or a mood: `/discover dark ambient for late nights`)\n"
    "• `/stats`, `/settings` (buy threshold, currency, adventurous picks), `/sync`, `/forget`\n"
    "In a server: `/share on` to take part, then `/whowants` a record (who here would buy it), `/groupbuy` (how "
    "well it suits the group) and `/taste @member` (how your tastes match).\n"
    "Data provided by Discogs."
)


def _anywhere(cmd: app_commands.Command | app_commands.ContextMenu) -> None:
    """Installable in servers and as a user app; usable in servers, the bot's DMs and private channels."""
    cmd.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
    cmd.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)


def _server_only(cmd: app_commands.Command | app_commands.ContextMenu) -> None:
    cmd.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
    cmd.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)
    cmd.guild_only = True


def register(bot: "CrateDiscord") -> None:   # noqa: C901 — one place lists every command
    tree = bot.tree
    app = bot.app
    from .client import user_key

    @tree.command(name="help", description="What Crate Digger does and how to start")
    async def help_(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(HELP, ephemeral=True)

    @tree.command(name="link", description="Link your public Discogs collection by username (read and trained at "
                                           "once)")
    @app_commands.describe(username="your Discogs username")
    async def link(interaction: discord.Interaction, username: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        name = username.strip()
        if not name or len(name) > 64 or not set(name) <= USERNAME_CHARS:
            await interaction.edit_original_response(content="That doesn't look like a Discogs username (letters, "
                                                             "digits, . _ -). For a private collection use /token.")
            return
        if not app.live:
            await interaction.edit_original_response(content=OFFLINE + " Use /import with your CSV export instead.")
            return
        user = user_key(interaction.user)
        await interaction.edit_original_response(content=f"Checking {name} on Discogs…")
        try:
            await asyncio.to_thread(app.link_username, user, name)
        except DiscogsError as exc:
            await interaction.edit_original_response(content=exc.user_message)
            return
        await bot.sync_and_train(interaction, user, f"🔗 Linked to Discogs user {name}.\n")

    @tree.command(name="token", description="Link a private Discogs collection with your personal token (a private "
                                            "form)")
    async def token(interaction: discord.Interaction) -> None:
        await bot.ask_token(interaction)

    @tree.command(name="import", description="Import your Discogs collection CSV export (attach the file)")
    @app_commands.describe(file="the CSV from Discogs → Collection → Export")
    async def import_(interaction: discord.Interaction, file: discord.Attachment) -> None:
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
        result = await asyncio.to_thread(app.import_upload, user, file.filename, data)
        if isinstance(result, str):
            await interaction.edit_original_response(content=say(result))
            return
        head = f"📥 Imported {result.n_items} records from {file.filename}.\n"
        from .client import Progress

        progress = Progress(interaction, asyncio.get_running_loop(), bot.progress_interval)
        line = await asyncio.to_thread(app.train, user, progress.say, head)
        await progress.done(head + line)

    @tree.command(name="sync", description="Read what changed in your Discogs collection and wantlist, then retrain")
    async def sync(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = user_key(interaction.user)
        if await asyncio.to_thread(app.linked_name, user) is None:
            await interaction.edit_original_response(content="You're not linked to Discogs yet: /link your "
                                                             "username (or /token), then /sync.")
            return
        if not app.live:
            await interaction.edit_original_response(content=OFFLINE)
            return
        await bot.sync_and_train(interaction, user)

    @tree.command(name="score", description="Score a record for you: a Discogs release, master or marketplace link")
    @app_commands.describe(url="a Discogs link (or a release id)")
    async def score(interaction: discord.Interaction, url: str) -> None:
        await bot.score_for(interaction, url)

    @app_commands.context_menu(name="Score this record")
    async def score_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await bot.score_for(interaction, _message_text(message))

    @tree.command(name="barcode", description="Find the pressing from a photo of the sleeve's barcode (or its "
                                              "digits), and score it")
    @app_commands.describe(photo="a photo of the barcode", digits="or the digits printed under the bars")
    async def barcode(interaction: discord.Interaction, photo: discord.Attachment | None = None,
                      digits: str | None = None) -> None:
        await interaction.response.defer(thinking=True)
        user = user_key(interaction.user)
        if photo is None and not digits:
            await bot.send_replies(interaction, user, [_reply("Attach a photo of the barcode, or type its digits.")])
            return
        if photo is not None:
            if photo.size > int(get_config().photo.max_bytes):
                await bot.send_replies(interaction, user, [_reply("That photo is too large; send a smaller one.")])
                return
            data = await photo.read()
            replies = await asyncio.to_thread(app.photo, user, data)
        else:
            replies = await asyncio.to_thread(app.handle, user, digits or "", event_id=f"ix:{interaction.id}",
                                              source="discord")
        await bot.send_replies(interaction, user, replies)

    @tree.command(name="stats", description="What I know about you: collection, feedback, model")
    async def stats(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await asyncio.to_thread(app.stats, user_key(interaction.user))
        await interaction.edit_original_response(content=say(text))

    @tree.command(name="settings", description="Your buy threshold, the currency for prices, how adventurous "
                                               "picks are")
    async def settings(interaction: discord.Interaction) -> None:
        text, view = await bot.settings_view(interaction.user.id, user_key(interaction.user))
        await interaction.response.send_message(text, ephemeral=True, view=view)

    @tree.command(name="discover", description="Picks of what to buy next, for you — optionally by words or a "
                                               "mood")
    @app_commands.describe(words="a style or a mood, e.g. 'dark ambient for late nights' (optional)")
    async def discover(interaction: discord.Interaction, words: str | None = None) -> None:
        await bot.discover(interaction, words)

    @tree.command(name="digest", description="What changed since your last digest, with a chart")
    async def digest(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = user_key(interaction.user)
        missing = await asyncio.to_thread(app.knows, user)
        if missing:
            await interaction.edit_original_response(content=say(missing))
            return
        d = await asyncio.to_thread(app.digest, user)
        text = d.text.replace(f" for {user} ", f" for {interaction.user.display_name} ", 1)
        files = [discord.File(io.BytesIO(d.chart_png), "digest.png")] if d.chart_png else []
        await interaction.edit_original_response(content=say(text), attachments=files)
        await asyncio.to_thread(app.digest_sent, user, d.until)

    @tree.command(name="forget", description="Delete everything I know about you")
    async def forget(interaction: discord.Interaction) -> None:
        await bot.ask_forget(interaction)

    # -- what only a server can do -------------------------------------------------------------------------
    @tree.command(name="share", description="Take part in this server's rankings and taste matches (on), or not "
                                            "(off)")
    @app_commands.describe(choice="on: name me on /whowants and allow /taste; off: leave me out")
    async def share(interaction: discord.Interaction, choice: Literal["on", "off"]) -> None:
        assert interaction.guild_id is not None
        text = await asyncio.to_thread(bot.group.share, interaction.guild_id, user_key(interaction.user),
                                       choice == "on", interaction.user.display_name)
        await interaction.response.send_message(text, ephemeral=True)

    async def who_wants(interaction: discord.Interaction, text: str, harmony: bool) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)
        answer = await asyncio.to_thread(bot.group.who_wants, interaction.guild_id, text,
                                         user_key(interaction.user))
        if answer.message or answer.release is None:
            if answer.release is None:   # about the link, not the group: privately
                await interaction.delete_original_response()
                await interaction.followup.send(say(answer.render()), ephemeral=True)
            else:
                await interaction.edit_original_response(content=say(answer.render()))
            return
        await interaction.edit_original_response(embed=group_embed(answer, harmony=harmony))

    @tree.command(name="whowants", description="Who here would buy this record? Everyone sharing here, ranked")
    @app_commands.describe(url="a Discogs link (or a release id)", harmony="also show the group harmony figure")
    async def whowants(interaction: discord.Interaction, url: str, harmony: bool = False) -> None:
        await who_wants(interaction, url, harmony)

    @app_commands.context_menu(name="Who here would buy this?")
    async def whowants_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await who_wants(interaction, _message_text(message), False)

    @tree.command(name="groupbuy", description="Group harmony for a record: how well it suits everyone sharing here")
    @app_commands.describe(url="a Discogs link (or a release id)")
    async def groupbuy(interaction: discord.Interaction, url: str) -> None:
        await who_wants(interaction, url, True)

    @tree.command(name="taste", description="How well your taste matches another member's, and a record to pass")
    @app_commands.describe(member="a member who shares their taste here")
    async def taste(interaction: discord.Interaction, member: discord.User) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)
        result = await asyncio.to_thread(bot.group.taste, interaction.guild_id, user_key(interaction.user),
                                         user_key(member))
        if isinstance(result, str):
            await interaction.delete_original_response()
            await interaction.followup.send(say(result), ephemeral=True)
            return
        await interaction.edit_original_response(content=say(result.render()))

    for c in (help_, link, token, import_, sync, score, barcode, stats, settings, discover, digest, forget):
        _anywhere(c)
    for c in (share, whowants, groupbuy, taste):
        _server_only(c)
    _anywhere(score_message)
    _server_only(whowants_message)
    tree.add_command(score_message)
    tree.add_command(whowants_message)


def _message_text(message: discord.Message) -> str:
    """A message's text and its embeds' links (a card or a link preview carries the release link there)."""
    parts = [message.content or ""]
    for e in message.embeds:
        parts += [e.url or "", e.title or "", e.description or ""]
    return " ".join(p for p in parts if p)


def _reply(text: str):   # noqa: ANN202
    from core.app import Reply

    return Reply(text)
