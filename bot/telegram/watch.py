"""/watch and /unwatch on Telegram, the 🔕 button of a price alert, and how an alert is shown."""
from __future__ import annotations

import asyncio
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from core.app import Watching, WatchRefused, watch_command

from . import keyboards as kb
from .context import crate, user_key, who
from .keyboards import FEEDBACK_LABELS

UNWATCH = "unwatch"


async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/watch (the list), /watch <link> [max price], /unwatch <link or number>: the conversation's answer."""
    bot, (message, tg_user) = crate(context), who(update)
    watching: Watching = bot.app.watching
    reply = await asyncio.to_thread(watch_command, watching, user_key(tg_user), message.text or "")
    await bot.render.reply(message, reply.text)


async def _release_button(update: Update, context: ContextTypes.DEFAULT_TYPE, action: str, done: str) -> None:
    """A button carrying a release id: ``action`` ("add" or "remove") on the presser's own watch list."""
    bot, q = crate(context), update.callback_query
    assert q is not None
    rid = (q.data or "").split(":")[1]
    try:
        await asyncio.to_thread(getattr(bot.app.watching, action), user_key(q.from_user), rid)
        await q.answer(done, show_alert=action == "add")
    except WatchRefused as exc:
        await q.answer(str(exc), show_alert=True)


async def on_unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """🔕 under an alert: stop watching that record (the alert's owner only: alerts come in private chats)."""
    await _release_button(update, context, "remove", "🔕 Not watching it any more.")


async def on_watch_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👀 under a card: watch that record's price, on the presser's own list."""
    await _release_button(update, context, "add", "👀 Watching it: I'll tell you when its price drops. /watch lists "
                                                  "what you watch; /watch with its link and a price sets your maximum.")


def render_alert(alert: Any) -> str:
    """A price alert as a Telegram message: what, the price and why, the card's verdict and chance, its reasons."""
    return "\n".join(alert.chat_lines())


def alert_keyboard(alert: Any) -> InlineKeyboardMarkup:
    """👍 / 👎 / 🛒 bought on the alert's card, 🔕 stop watching, and the release's marketplace page."""
    rows = []
    if alert.score_id is not None:
        rows.append([InlineKeyboardButton(label, callback_data=f"fb:{kind}:{alert.score_id}")
                     for kind, label in FEEDBACK_LABELS.items()])
    rows.append([InlineKeyboardButton("🔕 stop watching", callback_data=f"{UNWATCH}:{alert.alert.release_id}"),
                 InlineKeyboardButton("For sale on Discogs ↗", url=alert.market_url)])
    return InlineKeyboardMarkup(rows)


def register(app: Application, only_new: filters.BaseFilter) -> None:
    app.add_handler(CommandHandler("watch", watch, filters=only_new))
    app.add_handler(CommandHandler("unwatch", watch, filters=only_new))
    app.add_handler(CallbackQueryHandler(on_unwatch, pattern=rf"^{UNWATCH}:\d+$"))
    app.add_handler(CallbackQueryHandler(on_watch_button, pattern=rf"^{kb.WATCH}:\d+$"))
