"""Telegram: every feature module registers its python-telegram-bot handlers here (:func:`register`), and the
bot's life (command menu, warm-up, the learning scheduler, replaying stored updates, errors).

Nothing here decides anything about records: the application (``core.app``) answers with typed replies that
:mod:`bot.telegram.render` turns into messages. Everything blocking runs in a worker thread
(``asyncio.to_thread``), so one user's import or training never keeps another user waiting. User key:
``tg:<telegram user id>``; in groups the bot answers commands, messages that mention it and replies to its own
messages only.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from core.app import DATABASE_BUSY, database_busy

from . import account, discover, scoring, settings, token_step, watch
from .context import CrateBot, crate, who
from .limits import ANSWER_LIMIT, CAPTION_LIMIT, fit
from .render import ProgressMessage
from .texts import (
    APOLOGY,
    COMMANDS,
    EXPIRED_BUTTON,
    HELP,
    OTHERS_CARD,
    OTHERS_PICKS,
    OTHERS_SETTINGS,
    START,
    TOKEN_PROMPT,
)
from .watch import alert_keyboard, render_alert

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "message_reaction"]

__all__ = ["register", "CrateBot", "ALLOWED_UPDATES", "APOLOGY", "COMMANDS", "HELP", "START", "OTHERS_CARD",
           "OTHERS_PICKS", "OTHERS_SETTINGS", "TOKEN_PROMPT", "ProgressMessage"]


def register(app: Application, bot: CrateBot) -> None:
    """Wire every feature's handlers into ``app`` (the token conversation first: while it waits, the next private
    text is the token), then the catch-alls and the error handler."""
    app.bot_data["crate"] = bot
    only_new = filters.UpdateType.MESSAGE   # edits of old messages are not new requests
    for feature in (token_step, account, settings, discover, watch, scoring):
        feature.register(app, only_new)
    app.add_handler(CallbackQueryHandler(expired))
    app.add_handler(MessageHandler(only_new & filters.COMMAND & filters.ChatType.PRIVATE, unknown_command))
    app.add_error_handler(on_error)


async def expired(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(EXPIRED_BUTTON)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await crate(context).render.reply(who(update)[0], "I don't know that command. /help lists what I can do.")


async def post_init(app: Application) -> None:
    """Register the command menu, load what the first score needs (catalogue, embedding cache) and start
    the learning scheduler (retrains after feedback or nightly, weekly digests) in this event loop."""
    bot: CrateBot = app.bot_data["crate"]
    await app.bot.set_my_commands(COMMANDS)
    await asyncio.to_thread(bot.app.warm_up)

    async def send_digest(user: str, digest: Any) -> None:
        if not user.startswith("tg:"):
            if bot.other_digests is not None:   # another bot in this process (crate run telegram discord)
                await bot.other_digests(user, digest)
            return
        chat_id = int(user.split(":", 1)[1])   # a private chat's id is the user's id
        await app.bot.send_photo(chat_id, digest.chart_png, caption=fit(digest.text, CAPTION_LIMIT))

    async def send_alert(user: str, alert: Any) -> None:
        if not user.startswith("tg:"):
            if bot.other_alerts is not None:   # another bot in this process
                await bot.other_alerts(user, alert)
            return
        chat_id = int(user.split(":", 1)[1])
        await app.bot.send_message(chat_id, render_alert(alert), reply_markup=alert_keyboard(alert),
                                   disable_web_page_preview=True)

    bot.scheduler = bot.app.start_learning(send_digest, send_alert)
    replay = getattr(app, "replay_pending", None) if getattr(app, "replays_pending", True) else None
    if replay is not None:   # updates stored before the last stop but never handled: handle them now
        await replay()


async def post_shutdown(app: Application) -> None:
    bot: CrateBot = app.bot_data["crate"]
    if bot.scheduler is not None and bot.scheduler.running:
        bot.scheduler.shutdown()
    bot.app.jobs.close()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling a Telegram update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    # another writer holding the database (a big import) is said as such: it passes, unlike a bug
    text = DATABASE_BUSY if context.error is not None and database_busy(context.error) else APOLOGY
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(fit(text, ANSWER_LIMIT))
        chat = update.effective_chat
        if chat is not None:
            await context.bot.send_message(chat.id, text)
    except TelegramError as exc:
        log.info("could not send the apology: %s", exc)
