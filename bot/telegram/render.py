"""Telegram's renderer: the application's typed replies as Bot API messages — text within Telegram's limits,
inline keyboards, a card as its cover photo with a caption — and progress as one message edited."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, TelegramError

from bot.common import Throttled, while_working
from core.app import (
    CardRegistry,
    CardReply,
    Choice,
    Confirm,
    PicksReply,
    Reply,
    ScoreCard,
    SettingsReply,
    render_chat_card,
    render_picks,
    render_why,
)

from . import keyboards as kb
from .limits import CAPTION_LIMIT, utf16_len
from .texts import ONE_MOMENT, PICKS_HINT, SETTINGS_HINT

log = logging.getLogger(__name__)

PLATFORM = "telegram"


def private(message: Message | None) -> bool:
    return message is not None and message.chat.type == ChatType.PRIVATE


class ProgressMessage(Throttled):
    """One message edited as long work goes on (see :class:`bot.common.Throttled`)."""

    def __init__(self, message: Message, loop: asyncio.AbstractEventLoop, min_interval: float = 1.0) -> None:
        super().__init__(self._edit, loop, min_interval, shown=message.text or "")
        self.message = message

    async def _edit(self, text: str, reply_markup: Any = None) -> None:
        try:
            await self.message.edit_text(text, reply_markup=reply_markup)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.info("progress message not edited: %s", exc)
        except TelegramError as exc:
            log.info("progress message not edited: %s", exc)


def text_of(reply: Reply) -> str:
    """A reply's text in Telegram's words."""
    if isinstance(reply, CardReply):
        return render_chat_card(reply.card)
    if isinstance(reply, PicksReply):
        return render_picks(reply.page.picks, reply.page.page, hint=PICKS_HINT)
    if isinstance(reply, SettingsReply):
        return f"{reply.text}\n{SETTINGS_HINT}"
    if isinstance(reply, Choice):
        return reply.prompt   # the pressings are its buttons
    return reply.text


def markup_of(reply: Reply, owner: int) -> InlineKeyboardMarkup | None:
    """A reply's buttons; ``owner`` (a Telegram user id) is carried by buttons only their owner may press."""
    if isinstance(reply, CardReply):
        return kb.card_keyboard(reply.card.score_id or 0, reply.card.release.id)
    if isinstance(reply, Choice):
        return kb.candidates_keyboard(reply.options)
    if isinstance(reply, PicksReply):
        page = reply.page
        return kb.picks_keyboard([p.score_id or 0 for p in page.picks.picks], page.session, page.page, owner,
                                 more=bool(page.picks.picks))
    if isinstance(reply, SettingsReply):
        return kb.settings_keyboard(reply.buy_pct, reply.currency, str(owner), round(reply.adventurous * 100))
    if isinstance(reply, Confirm):
        return kb.forget_keyboard(owner)
    return None


class Renderer:
    def __init__(self, cards: CardRegistry) -> None:
        self.cards = cards

    @staticmethod
    async def reply(message: Message, text: str, **kwargs: Any) -> Message:
        """Answer in the message's chat; in groups as a reply, so it's clear whom it concerns — and one that still
        arrives when the message is gone (a token message the bot just deleted)."""
        if private(message):
            return await message.reply_text(text, do_quote=False, **kwargs)
        params = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
        return await message.reply_text(text, reply_parameters=params, **kwargs)

    async def send(self, bot: Any, chat_id: int, user: str, reply: Reply, owner: int, *,
                   reply_to: int | None = None) -> Message:
        """One typed reply as a message of ``chat_id`` (a card as its cover with a caption, when it fits)."""
        if isinstance(reply, CardReply):
            return await self.send_card(bot, chat_id, user, reply.card, reply_to=reply_to)
        params = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        return await bot.send_message(chat_id, text_of(reply), reply_markup=markup_of(reply, owner),
                                      reply_parameters=params)

    async def answer(self, bot: Any, message: Message, user: str, replies: list[Reply], owner: int) -> None:
        """The replies to ``message`` (quoted in groups)."""
        quote = message.message_id if not private(message) else None
        for r in replies:
            await self.send(bot, message.chat_id, user, r, owner, reply_to=quote)

    async def send_card(self, bot: Any, chat_id: int, user: str, card: ScoreCard, *,
                        reply_to: int | None = None) -> Message:
        """The card: cover photo with the card as caption when there's a cover, else a text message; buttons.
        Remembered, so that buttons, reactions and replies find it later."""
        text, why = render_chat_card(card), render_why(card)
        markup = kb.card_keyboard(card.score_id or 0, card.release.id)
        params = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        sent = None
        if card.release.thumb and utf16_len(text) <= CAPTION_LIMIT:
            try:
                sent = await bot.send_photo(chat_id, card.release.thumb, caption=text, reply_markup=markup,
                                            reply_parameters=params)
            except BadRequest as exc:   # Telegram could not fetch the cover: the card goes as text
                log.info("cover of release %s not sent (%s); sending the card as text", card.release.id, exc)
        if sent is None:
            sent = await bot.send_message(chat_id, text, reply_markup=markup, reply_parameters=params)
        if card.score_id is not None:
            await asyncio.to_thread(self.cards.remember, PLATFORM, sent.chat_id, sent.message_id, user,
                                    card.score_id, text, why)
        return sent

    @staticmethod
    async def typing(bot: Any, chat_id: int, work: Any) -> Any:
        """Await ``work`` (a card being computed) with "typing…" shown in the chat; past 2.5 s a "⏳ One moment…"
        message answers (taken away when the card arrives), so no message waits 3 s for a reply."""
        async def tidy(sent: Any) -> None:
            await bot.delete_message(chat_id, sent.message_id)

        return await while_working(lambda: bot.send_chat_action(chat_id, ChatAction.TYPING), work,
                                   slow=lambda: bot.send_message(chat_id, ONE_MOMENT), tidy=tidy)
