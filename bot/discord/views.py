"""Buttons, menus and the token modal. Card buttons are ``DynamicItem``s with the score id in their
``custom_id`` (``crate:like:123``), so they keep working after a restart: the client re-creates them from the id
alone and asks core whose score it is."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from core.app import CURRENCIES

from .embeds import release_url

if TYPE_CHECKING:
    from .client import CrateDiscord

KINDS = {"like": ("👍", discord.ButtonStyle.success), "dislike": ("👎", discord.ButtonStyle.danger),
         "bought": ("🛒", discord.ButtonStyle.primary), "why": ("ℹ️", discord.ButtonStyle.secondary)}
LABELS = {"like": "", "dislike": "", "bought": "bought", "why": "why"}


def _bot(interaction: discord.Interaction) -> "CrateDiscord":
    return interaction.client   # type: ignore[return-value]


class CardButton(discord.ui.DynamicItem[discord.ui.Button], template=r"crate:(?P<kind>like|dislike|bought|why):"
                                                                         r"(?P<sid>[0-9]{1,18})"):
    """👍 / 👎 / 🛒 bought / why on a score card; only the collector it was scored for counts."""

    def __init__(self, kind: str, score_id: int) -> None:
        emoji, style = KINDS[kind]
        super().__init__(discord.ui.Button(style=style, emoji=emoji, label=LABELS[kind] or None,
                                           custom_id=f"crate:{kind}:{score_id}"))
        self.kind, self.score_id = kind, score_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: Any) -> "CardButton":
        return cls(match["kind"], int(match["sid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).on_card_button(interaction, self.kind, self.score_id)


class ScoreMineButton(discord.ui.DynamicItem[discord.ui.Button], template=r"crate:mine:(?P<rid>[0-9]{1,18})"):
    """Offered to someone pressing another collector's card: scores the record for them."""

    def __init__(self, release_id: int) -> None:
        super().__init__(discord.ui.Button(style=discord.ButtonStyle.primary, label="Score it for me",
                                           custom_id=f"crate:mine:{release_id}"))
        self.release_id = release_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: Any) -> "ScoreMineButton":
        return cls(int(match["rid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).score_for(interaction, str(self.release_id), ephemeral=True)


def card_view(score_id: int | None, release_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if score_id is not None:
        for kind in KINDS:
            view.add_item(CardButton(kind, score_id))
    view.add_item(discord.ui.Button(style=discord.ButtonStyle.link, label="Discogs", url=release_url(release_id)))
    return view


def score_mine_view(release_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ScoreMineButton(release_id))
    return view


class TokenModal(discord.ui.Modal, title="Link Discogs with your token"):
    """The personal token, asked in a modal: it never appears in a channel message."""

    token: discord.ui.TextInput = discord.ui.TextInput(
        label="Discogs personal access token", placeholder="Discogs → Settings → Developers → Generate new token",
        min_length=20, max_length=100, custom_id="token")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).link_token(interaction, self.token.value.strip())


class OwnedView(discord.ui.View):
    """A view only the member who asked may use."""

    def __init__(self, owner_id: int, timeout: float = 600) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("That's someone else's — run the command yourself.",
                                                    ephemeral=True)
            return False
        return True


class ForgetView(OwnedView):
    @discord.ui.button(label="Yes, delete everything", style=discord.ButtonStyle.danger, custom_id="forget:yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await _bot(interaction).forget(interaction)
        self.stop()

    @discord.ui.button(label="No", style=discord.ButtonStyle.secondary, custom_id="forget:no")
    async def no(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="OK — nothing deleted.", view=None)
        self.stop()


BUY_CHOICES = (50, 55, 60, 65, 70, 75, 80, 85, 90)


class SettingsView(OwnedView):
    """Two menus: the buy threshold and the currency for prices."""

    def __init__(self, owner_id: int, buy_pct: int, currency: str) -> None:
        super().__init__(owner_id)
        buy = discord.ui.Select(custom_id="settings:buy", placeholder=f"Buy threshold: {buy_pct} %", options=[
            discord.SelectOption(label=f"Buy at {p} % or more", value=str(p), default=p == buy_pct)
            for p in sorted(set(BUY_CHOICES) | {buy_pct})])
        cur = discord.ui.Select(custom_id="settings:cur", placeholder=f"Currency: {currency}", options=[
            discord.SelectOption(label=c, value=c, default=c == currency) for c in CURRENCIES])
        buy.callback = self._buy      # type: ignore[method-assign]
        cur.callback = self._cur      # type: ignore[method-assign]
        self.buy, self.cur = buy, cur
        self.add_item(buy)
        self.add_item(cur)

    async def _buy(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).change_setting(interaction, "buy", self.buy.values[0])

    async def _cur(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).change_setting(interaction, "cur", self.cur.values[0])
