"""Discord's renderer: the application's typed replies as Discord messages — a card as an embed with persistent
buttons, a page of picks as an embed with number buttons, notices as text in Discord's words (escaped, within
the limit) — sent as an interaction's response or into a channel; progress as the deferred response edited."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import discord

from bot.common import Throttled, while_working
from core.app import CardRegistry, CardReply, Choice, PicksReply, Reply, ScoreCard, render_chat_card, render_why

from .embeds import card_embed, picks_embed
from .outbox import ChannelOutbox
from .text import say
from .views import card_view, picks_view

log = logging.getLogger(__name__)

T = TypeVar("T")
PLATFORM = "discord"
CHOICE_HINT = "(/score its release number)"


class Progress(Throttled):
    """The deferred response, edited as long work goes on (see :class:`bot.common.Throttled`)."""

    def __init__(self, interaction: discord.Interaction, loop: asyncio.AbstractEventLoop,
                 min_interval: float = 1.0) -> None:
        super().__init__(self._edit, loop, min_interval)
        self.interaction = interaction

    async def _edit(self, text: str, **extra: Any) -> None:
        try:
            await self.interaction.edit_original_response(content=say(text), **extra)
        except discord.HTTPException as exc:
            log.info("progress not shown: %s", exc)


def content_of(reply: Reply) -> str:
    """A reply's text in Discord's words (escaped, within the limit)."""
    if isinstance(reply, Choice):
        return say("\n".join([f"{reply.prompt} {CHOICE_HINT}", *reply.lines()]))
    return say(reply.text)


def message_of(reply: Reply) -> dict[str, Any]:
    """``content`` / ``embed`` / ``view`` of a reply, as discord.py's send and edit take them."""
    if isinstance(reply, CardReply):
        return {"content": None, "embed": card_embed(reply.card),
                "view": card_view(reply.card.score_id, reply.card.release.id)}
    if isinstance(reply, PicksReply):
        page = reply.page
        return {"content": None, "embed": picks_embed(page),
                "view": picks_view([p.score_id for p in page.picks.picks], page.session, page.page,
                                   bool(page.picks.picks))}
    return {"content": content_of(reply)}


class Renderer:
    def __init__(self, cards: CardRegistry, outbox: ChannelOutbox) -> None:
        self.cards, self.outbox = cards, outbox

    @staticmethod
    async def thinking(interaction: discord.Interaction, *, ephemeral: bool = False) -> None:
        """Acknowledge at once with Discord's "thinking…" (its sign that an answer is being worked on)."""
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)

    @staticmethod
    async def typing(channel: Any, work: Awaitable[T]) -> T:
        """Await ``work`` (a card being computed) with "typing…" in ``channel`` (Discord's lasts 10 s: renewed
        every 8 s); a sign that cannot be shown never holds the answer up."""
        return await while_working(lambda: channel.typing(), work, every=8.0)

    async def respond(self, interaction: discord.Interaction, user: str, replies: list[Reply], *,
                      ephemeral: bool = False) -> None:
        """The replies to a deferred interaction: the first edits the "thinking…" response, the rest follow. A
        public deferral whose answer turns out to be about the asker alone (a notice) becomes private."""
        first = True
        for r in replies:
            if first and not ephemeral and not isinstance(r, (CardReply, PicksReply)):
                await interaction.delete_original_response()
                await interaction.followup.send(content_of(r), ephemeral=True)
            elif first:
                msg = await interaction.edit_original_response(**message_of(r))
                await self.remember(msg, interaction.channel_id, user, r)
            else:
                fields = message_of(r)
                sent = await interaction.followup.send(**{k: v for k, v in fields.items() if v is not None},
                                                       ephemeral=ephemeral or not isinstance(r, CardReply),
                                                       wait=True)
                await self.remember(sent, interaction.channel_id, user, r)
            first = False

    async def to_channel(self, channel: Any, user: str, replies: list[Reply],
                         reference: discord.MessageReference | None = None) -> None:
        """Replies into a channel (a DM, or a mention in a server), paced by the outbox."""
        for r in replies:
            fields = {k: v for k, v in message_of(r).items() if v is not None}
            sent = await self.outbox.send(channel, reference=reference, **fields)
            await self.remember(sent, getattr(sent.channel, "id", None), user, r)

    async def remember(self, msg: Any, channel_id: int | None, user: str, reply: Reply) -> None:
        """A card's message, so that its buttons and reactions find it later."""
        if not isinstance(reply, CardReply) or reply.card.score_id is None or msg is None:
            return
        channel = msg.channel.id if getattr(msg, "channel", None) else channel_id
        await asyncio.to_thread(self.cards.remember, PLATFORM, channel or 0, msg.id, user, reply.card.score_id,
                                render_chat_card(reply.card), render_why(reply.card))

    async def card(self, interaction: discord.Interaction, user: str, card: ScoreCard) -> None:
        """A card as the deferred response."""
        await self.respond(interaction, user, [CardReply(card)], ephemeral=True)
