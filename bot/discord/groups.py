"""What only a server can ask: /share (opt in or out), /whowants and "Who here would buy this?" (every sharing
member ranked), /groupbuy (group harmony) and /taste. Offered in servers only (``allowed_contexts``); one reaching
the bot from anywhere else (an old client, a user install) is told so, never an error."""
from __future__ import annotations

import asyncio
from typing import Any, Literal

import discord
from discord import app_commands

from core.app import SERVER_ONLY

from .client import CrateDiscord, bot_of, user_key
from .embeds import group_embed
from .scoring import message_text
from .text import say


def server_only(cmd: app_commands.Command | app_commands.ContextMenu) -> None:
    cmd.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
    cmd.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)
    cmd.guild_only = True


async def _outside_a_server(interaction: discord.Interaction) -> bool:
    """True (and said) when the command came from outside a server."""
    if interaction.guild_id is not None:
        return False
    await interaction.response.send_message(SERVER_ONLY, ephemeral=True)
    return True


@app_commands.command(name="share", description="Take part in this server's rankings and taste matches (on), or "
                                                "not (off)")
@app_commands.describe(choice="on: name me on /whowants and allow /taste; off: leave me out")
async def share(interaction: discord.Interaction, choice: Literal["on", "off"]) -> None:
    if await _outside_a_server(interaction):
        return
    bot = bot_of(interaction)
    text = await asyncio.to_thread(bot.group.share, interaction.guild_id or 0, user_key(interaction.user),
                                   choice == "on", interaction.user.display_name)
    await interaction.response.send_message(text, ephemeral=True)


async def who_wants(interaction: discord.Interaction, text: str, harmony: bool) -> None:
    if await _outside_a_server(interaction):
        return
    bot = bot_of(interaction)
    await bot.render.thinking(interaction)
    answer = await asyncio.to_thread(bot.group.who_wants, interaction.guild_id or 0, text,
                                     user_key(interaction.user))
    if answer.message or answer.release is None:
        if answer.release is None:   # about the link, not the group: privately
            await interaction.delete_original_response()
            await interaction.followup.send(say(answer.render()), ephemeral=True)
        else:
            await interaction.edit_original_response(content=say(answer.render()))
        return
    await interaction.edit_original_response(embed=group_embed(answer, harmony=harmony))


@app_commands.command(name="whowants", description="Who here would buy this record? Everyone sharing here, ranked")
@app_commands.describe(url="a Discogs link (or a release id)", harmony="also show the group harmony figure")
async def whowants(interaction: discord.Interaction, url: str, harmony: bool = False) -> None:
    await who_wants(interaction, url, harmony)


@app_commands.context_menu(name="Who here would buy this?")
async def whowants_message(interaction: discord.Interaction, message: discord.Message) -> None:
    await who_wants(interaction, message_text(message), False)


@app_commands.command(name="groupbuy", description="Group harmony for a record: how well it suits everyone sharing "
                                                   "here")
@app_commands.describe(url="a Discogs link (or a release id)")
async def groupbuy(interaction: discord.Interaction, url: str) -> None:
    await who_wants(interaction, url, True)


@app_commands.command(name="taste", description="How well your taste matches another member's, and a record to pass")
@app_commands.describe(member="a member who shares their taste here")
async def taste(interaction: discord.Interaction, member: discord.User) -> None:
    if await _outside_a_server(interaction):
        return
    bot = bot_of(interaction)
    await bot.render.thinking(interaction)
    result = await asyncio.to_thread(bot.group.taste, interaction.guild_id or 0, user_key(interaction.user),
                                     user_key(member))
    if isinstance(result, str):
        await interaction.delete_original_response()
        await interaction.followup.send(say(result), ephemeral=True)
        return
    await interaction.edit_original_response(content=say(result.render()))


def register(bot: CrateDiscord) -> None:
    commands: list[Any] = [share, whowants, groupbuy, taste, whowants_message]
    for cmd in commands:
        server_only(cmd)
        bot.tree.add_command(cmd)
