"""/token on Telegram: a conversation whose one step is the token message, in a private chat; the message is
deleted at once and the token stored encrypted (see :mod:`bot.telegram.account`)."""
from __future__ import annotations

import time

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, ConversationHandler, MessageHandler, filters

from core.app import register_secret

from .account import TOKEN_ASKED, link_token, token_in_group
from .context import crate, delete, user_key, who
from .render import private
from .scoring import on_text
from .texts import TOKEN_IN_GROUP, TOKEN_PROMPT

TOKEN_WAIT_S = 300            # how long "/token" waits for the token message
WAITING_FOR_TOKEN = 1


async def ask_token(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    bot, (message, tg_user) = crate(context), who(update)
    args = context.args or []
    if not private(message):
        if args:   # a token posted in a group: take it down, and say it should be revoked
            await token_in_group(bot, message, " ".join(args))
        else:
            await bot.render.reply(message, TOKEN_IN_GROUP.format(extra=""))
        return ConversationHandler.END
    if args:
        token = " ".join(args).strip()
        register_secret(token)
        await link_token(bot, message, user_key(tg_user), token, await delete(message))
        return ConversationHandler.END
    assert context.user_data is not None
    context.user_data[TOKEN_ASKED] = time.monotonic()
    await bot.render.reply(message, TOKEN_PROMPT)
    return WAITING_FOR_TOKEN


async def got_token(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The message after /token: the token (taken down at once), unless the wait ran out or /forget came in
    between — then it is an ordinary message."""
    bot, (message, tg_user) = crate(context), who(update)
    asked = (context.user_data or {}).pop(TOKEN_ASKED, None)
    if asked is None or time.monotonic() - asked > TOKEN_WAIT_S:
        await on_text(update, context)
        return ConversationHandler.END
    token = (message.text or "").strip()
    register_secret(token)
    await link_token(bot, message, user_key(tg_user), token, await delete(message))
    return ConversationHandler.END


async def cancel_token(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    (context.user_data or {}).pop(TOKEN_ASKED, None)
    await crate(context).render.reply(who(update)[0], "OK, I'm not waiting for a token any more.")
    return ConversationHandler.END


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await crate(context).render.reply(who(update)[0], "Nothing to cancel.")


def register(app: Application, only_new: filters.BaseFilter) -> None:
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("token", ask_token, filters=only_new)],
        states={WAITING_FOR_TOKEN: [MessageHandler(only_new & filters.TEXT & ~filters.COMMAND
                                                   & filters.ChatType.PRIVATE, got_token)]},
        fallbacks=[CommandHandler("cancel", cancel_token, filters=only_new)],
        allow_reentry=True, name="token"))
    app.add_handler(CommandHandler("cancel", cancel, filters=only_new))
