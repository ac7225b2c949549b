"""Buttons, menus and the token modal. Card buttons are ``DynamicItem``s with the score id in their
``custom_id`` (``crate:like:123``), so they keep working after a restart: the client re-creates them from the id
alone and asks core whose score it is."""
from __future__ import annotations

from typing import Any

import discord

from core.app import BUY_SHARES, CURRENCIES

from .embeds import release_url

KINDS = {"like": ("👍", discord.ButtonStyle.success), "dislike": ("👎", discord.ButtonStyle.danger),
         "bought": ("🛒", discord.ButtonStyle.primary), "why": ("ℹ️", discord.ButtonStyle.secondary)}
LABELS = {"like": "", "dislike": "", "bought": "bought", "why": "why"}


def _bot(interaction: discord.Interaction) -> Any:
    """The bot (:class:`bot.discord.client.CrateDiscord`) the interaction arrived at."""
    return interaction.client


class CardButton(discord.ui.DynamicItem[discord.ui.Button], template=r"crate:(?P<kind>like|dislike|bought|why):"
                                                                         r"(?P<sid>[0-9]{1,18})"):
    """👍 / 👎 / 🛒 bought / why on a score card; only the collector it was scored for counts."""

    def __init__(self, kind: str, score_id: int) -> None:
        emoji, style = KINDS[kind]
        super().__init__(discord.ui.Button(style=style, emoji=emoji, label=LABELS[kind] or None,
                                           custom_id=f"crate:{kind}:{score_id}"))
        self.kind, self.score_id = kind, score_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
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
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: Any) -> "ScoreMineButton":
        return cls(int(match["rid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).score_release_for(interaction, self.release_id)


class WatchButton(discord.ui.DynamicItem[discord.ui.Button], template=r"crate:watch:(?P<rid>[0-9]{1,18})"):
    """👀 on a card: watch the record's price, on the presser's own list (answered privately)."""

    def __init__(self, release_id: int) -> None:
        super().__init__(discord.ui.Button(style=discord.ButtonStyle.secondary, emoji="👀", label="watch",
                                           custom_id=f"crate:watch:{release_id}"))
        self.release_id = release_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: Any) -> "WatchButton":
        return cls(int(match["rid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).watch_release_for(interaction, self.release_id)


class UnwatchButton(discord.ui.DynamicItem[discord.ui.Button], template=r"crate:unwatch:(?P<rid>[0-9]{1,18})"):
    """🔕 under a price alert: stop watching that record (answered privately)."""

    def __init__(self, release_id: int) -> None:
        super().__init__(discord.ui.Button(style=discord.ButtonStyle.secondary, emoji="🔕", label="stop watching",
                                           custom_id=f"crate:unwatch:{release_id}"))
        self.release_id = release_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: Any) -> "UnwatchButton":
        return cls(int(match["rid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).unwatch_release_for(interaction, self.release_id)


def alert_view(score_id: int | None, release_id: int, market_url: str) -> discord.ui.View:
    """👍 / 👎 / 🛒 bought / why on the alert's card, 🔕 stop watching, and the release's marketplace page."""
    view = discord.ui.View(timeout=None)
    if score_id is not None:
        for kind in KINDS:
            view.add_item(CardButton(kind, score_id))
    view.add_item(UnwatchButton(release_id))
    view.add_item(discord.ui.Button(style=discord.ButtonStyle.link, label="For sale on Discogs", url=market_url))
    return view


class PickButton(discord.ui.DynamicItem[discord.ui.Button], template=r"crate:pick:(?P<sid>[0-9]{1,18})"):
    """A number on a page of /discover picks: opens that pick as a card (with 👍 / 👎 / 🛒), for its owner."""

    def __init__(self, n: int, score_id: int) -> None:
        super().__init__(discord.ui.Button(style=discord.ButtonStyle.secondary, label=str(n),
                                           custom_id=f"crate:pick:{score_id}"))
        self.score_id = score_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: Any) -> "PickButton":
        label = getattr(item, "label", None) or ""
        return cls(int(label) if label.isdigit() else 0, int(match["sid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).open_pick(interaction, self.score_id)


class PageButton(discord.ui.DynamicItem[discord.ui.Button],
                 template=r"crate:page:(?P<session>[0-9a-f]{1,16}):(?P<page>[0-9]{1,4})"):
    """◀ back / more ▶ on a page of picks (a further page is fresh picks)."""

    def __init__(self, session: str, page: int, label: str) -> None:
        super().__init__(discord.ui.Button(style=discord.ButtonStyle.primary, label=label,
                                           custom_id=f"crate:page:{session}:{page}"))
        self.session, self.page = session, page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: Any) -> "PageButton":
        return cls(match["session"], int(match["page"]), getattr(item, "label", None) or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).turn_picks(interaction, self.session, self.page)


def picks_view(score_ids: list[int | None], session: str, page: int, more: bool = True) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for i, sid in enumerate(score_ids):
        if sid:
            view.add_item(PickButton(i + 1, sid))
    if page > 0:
        view.add_item(PageButton(session, page - 1, "◀ back"))
    if more:
        view.add_item(PageButton(session, page + 1, "more ▶"))
    return view


def card_view(score_id: int | None, release_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if score_id is not None:
        for kind in KINDS:
            view.add_item(CardButton(kind, score_id))
    view.add_item(discord.ui.Button(style=discord.ButtonStyle.link, label="Discogs", url=release_url(release_id)))
    view.add_item(WatchButton(release_id))
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


ADVENTUROUS_CHOICES = (0, 10, 20, 30, 40, 50, 60, 80, 100)


class SettingsView(OwnedView):
    """Three menus: the buy threshold, the currency for prices, and how adventurous /discover is."""

    def __init__(self, owner_id: int, buy_pct: int, currency: str, adventurous_pct: int = 30) -> None:
        super().__init__(owner_id)
        buy: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="settings:buy", placeholder=f"🟢 Buy: your top {buy_pct} %", options=[
                discord.SelectOption(label=f"🟢 Buy: your top {p} %", value=str(p), default=p == buy_pct)
                for p in sorted(set(BUY_SHARES) | {buy_pct})])
        cur: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="settings:cur", placeholder=f"Currency: {currency}", options=[
                discord.SelectOption(label=c, value=c, default=c == currency) for c in CURRENCIES])
        adv: discord.ui.Select[Any] = discord.ui.Select(
            custom_id="settings:adv", placeholder=f"Adventurous picks: {adventurous_pct} %", options=[
                discord.SelectOption(label=f"{p} % genre exploration in /discover", value=str(p),
                                     default=p == adventurous_pct)
                for p in sorted(set(ADVENTUROUS_CHOICES) | {adventurous_pct})])
        buy.callback = self._buy      # type: ignore[method-assign]
        cur.callback = self._cur      # type: ignore[method-assign]
        adv.callback = self._adv      # type: ignore[method-assign]
        self.buy, self.cur, self.adv = buy, cur, adv
        self.add_item(buy)
        self.add_item(cur)
        self.add_item(adv)

    async def _adv(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).change_setting(interaction, "adv", self.adv.values[0])

    async def _buy(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).change_setting(interaction, "buy", self.buy.values[0])

    async def _cur(self, interaction: discord.Interaction) -> None:
        await _bot(interaction).change_setting(interaction, "cur", self.cur.values[0])
