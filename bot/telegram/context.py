"""What every Telegram feature module shares: the application, the renderer, who is busy, and reading an update
(whose is it, is it for the bot). Handlers find it in ``context.bot_data["crate"]``."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Message, MessageEntity, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.common import Busy
from core.app import CrateApp

from .render import ProgressMessage, Renderer

log = logging.getLogger(__name__)

SOURCE = "telegram"


class CrateBot:
    """The Telegram side of one application (see :func:`bot.telegram.handlers.register`)."""

    def __init__(self, app: CrateApp, *, progress_interval: float = 1.0) -> None:
        self.app = app
        self.conv = app.conv
        self.cards = app.cards
        self.render = Renderer(self.cards)
        self.busy = Busy()
        self.progress_interval = progress_interval
        self.scheduler: Any = None
        #: where digests of other platforms' users go when another bot shares this process and its scheduler
        self.other_digests: Any = None
        #: …and their price alerts
        self.other_alerts: Any = None

    def progress(self, message: Message) -> ProgressMessage:
        return ProgressMessage(message, asyncio.get_running_loop(), self.progress_interval)


def crate(context: ContextTypes.DEFAULT_TYPE) -> CrateBot:
    bot = context.bot_data["crate"]
    assert isinstance(bot, CrateBot)
    return bot


def user_key(user: User) -> str:
    return f"tg:{user.id}"


def who(update: Update) -> tuple[Message, User]:
    """The message and its sender (every handler here is registered for updates that have both)."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    return message, user


def addressed(message: Message, bot: Any) -> tuple[bool, str]:
    """(is this message for the bot, its text without the @mention). Private chats: always."""
    text = message.text if message.text is not None else (message.caption or "")
    if message.chat.type == ChatType.PRIVATE:
        return True, text
    name = (bot.username or "").lower()
    entities = message.parse_entities() if message.text is not None else message.parse_caption_entities()
    mentioned = False
    for ent, value in entities.items():
        if ent.type == MessageEntity.MENTION and name and value[1:].lower() == name:
            mentioned = True
            text = text.replace(value, " ")
        elif ent.type == MessageEntity.TEXT_MENTION and ent.user and ent.user.id == bot.id:
            mentioned = True
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
        mentioned = True
    return mentioned, " ".join(text.split())


async def delete(message: Message) -> bool:
    try:
        return bool(await message.delete())
    except TelegramError as exc:
        log.info("could not delete a message holding a token: %s", type(exc).__name__)
        return False
