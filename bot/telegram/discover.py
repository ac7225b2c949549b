"""/discover on Telegram: a page of picks with a number button per pick (opening it as a card) and ◀ ▶."""
from __future__ import annotations

import asyncio
import logging

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from core.app import CardReply, Refusal

from . import keyboards as kb
from .context import crate, user_key, who
from .render import markup_of, text_of
from .texts import OTHERS_PICKS

log = logging.getLogger(__name__)


async def discover(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Picks of what to buy next, a page at a time (◀ ▶), each number opening that pick as a card."""
    bot, (message, tg_user) = crate(context), who(update)
    words = " ".join(context.args or [])
    note = await bot.render.reply(message, "🔎 Looking for picks" + (f" for “{words}”" if words else "") + "…")
    progress = bot.progress(note)
    try:
        page = await asyncio.to_thread(bot.app.picks.discover, user_key(tg_user), words, progress.say)
    except Refusal as exc:
        await progress.done(exc.message)
        return
    await progress.done(text_of(page), reply_markup=markup_of(page, tg_user.id))


async def on_pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A pick's number: the pick as a card (for the collector it was picked for)."""
    bot, q = crate(context), update.callback_query
    assert q is not None
    user = user_key(q.from_user)
    reply = await asyncio.to_thread(bot.app.open_card, user, int((q.data or "").split(":")[1]))
    if not isinstance(reply, CardReply):
        await q.answer(reply.text, show_alert=True)
        return
    await q.answer()
    chat_id = q.message.chat.id if q.message else q.from_user.id
    await bot.render.send_card(context.bot, chat_id, user, reply.card,
                               reply_to=q.message.message_id if q.message else None)


async def on_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """◀ / ▶: another page of the list (the next one is fresh picks)."""
    bot, q = crate(context), update.callback_query
    assert q is not None
    _, session, page, owner = (q.data or "").split(":")
    if owner != str(q.from_user.id):
        await q.answer(OTHERS_PICKS, show_alert=True)
        return
    await q.answer("Turning the page…")
    try:
        got = await asyncio.to_thread(bot.app.picks.turn, user_key(q.from_user), session, int(page))
    except Refusal as exc:   # expired (a restart), or nothing to go on: said under the list
        if isinstance(q.message, Message):
            await q.message.reply_text(exc.message)
        return
    try:
        await q.edit_message_text(text_of(got), reply_markup=markup_of(got, q.from_user.id))
    except BadRequest as exc:
        log.debug("picks page unchanged: %s", exc)


def register(app: Application, only_new: filters.BaseFilter) -> None:
    app.add_handler(CommandHandler("discover", discover, filters=only_new))
    app.add_handler(CallbackQueryHandler(on_pick, pattern=rf"^{kb.PICK_CARD}:\d+$"))
    app.add_handler(CallbackQueryHandler(on_page, pattern=rf"^{kb.PICK_PAGE}:[0-9a-f]+:\d+:\d+$"))
