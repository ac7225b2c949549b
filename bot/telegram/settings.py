"""/settings (buttons to change them, each carrying its owner) and /digest on Telegram."""
from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from core.app import SETTING_NAMES, Refusal

from . import keyboards as kb
from .context import crate, user_key, who
from .limits import CAPTION_LIMIT, utf16_len
from .render import markup_of, private, text_of
from .texts import EXPIRED_BUTTON, OTHERS_SETTINGS

log = logging.getLogger(__name__)


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, (message, tg_user) = crate(context), who(update)
    user = user_key(tg_user)
    args = [a.lower() for a in (context.args or [])]
    if len(args) == 2 and args[0] in SETTING_NAMES:
        shown = await asyncio.to_thread(bot.app.change_setting, user, SETTING_NAMES[args[0]], args[1])
    else:
        error = ("Use /settings buy 5, /settings currency USD or /settings adventurous 40 (or tap the buttons)."
                 if args else None)
        shown = await asyncio.to_thread(bot.app.settings, user, error)
    await bot.render.reply(message, text_of(shown), reply_markup=markup_of(shown, tg_user.id))


async def on_setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, q = crate(context), update.callback_query
    assert q is not None
    _, what, value, owner = (q.data or "").split(":")
    if owner != str(q.from_user.id):   # someone else's settings message (in a group)
        await q.answer(OTHERS_SETTINGS, show_alert=True)
        return
    if what not in ("buy", "cur", "adv"):
        await q.answer(EXPIRED_BUTTON)
        return
    shown = await asyncio.to_thread(bot.app.change_setting, user_key(q.from_user), what, value)
    await q.answer(shown.error or "Saved ✓")
    if shown.error is None:
        try:
            await q.edit_message_text(text_of(shown), reply_markup=markup_of(shown, q.from_user.id))
        except BadRequest as exc:
            log.debug("settings unchanged: %s", exc)


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, (message, tg_user) = crate(context), who(update)
    user = user_key(tg_user)
    try:
        d = await asyncio.to_thread(bot.app.digest, user)
    except Refusal as exc:
        await bot.render.reply(message, exc.message)
        return
    text = d.text.replace(f" for {user} ", f" for {tg_user.first_name} ", 1)
    if d.chart_png:
        caption = text if utf16_len(text) <= CAPTION_LIMIT else None
        await message.reply_photo(d.chart_png, caption=caption, do_quote=not private(message))
        if caption is None:
            await bot.render.reply(message, text)
    else:
        await bot.render.reply(message, text)
    await asyncio.to_thread(bot.app.digest_sent, user, d.until)


def register(app: Application, only_new: filters.BaseFilter) -> None:
    app.add_handler(CommandHandler("settings", settings, filters=only_new))
    app.add_handler(CommandHandler("digest", digest, filters=only_new))
    app.add_handler(CallbackQueryHandler(on_setting, pattern=rf"^{kb.SETTINGS}:[a-z]+:[A-Za-z0-9.]+:\d+$"))
