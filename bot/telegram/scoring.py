"""Scoring on Telegram: text (links, release ids, typed barcodes, 👍 / 👎 replies), barcode photos, a card's
buttons (👍 / 👎 / 🛒, why), a pressing picked from a barcode's choice, and 👍 / 👎 reactions on a card."""
from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Message, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from bot.common import find_token, is_token
from core.app import KINDS, OFFLINE, CardRef, Noted, register_secret

from . import keyboards as kb
from .account import MAX_DOWNLOAD, link_token, token_in_group
from .context import SOURCE, CrateBot, addressed, crate, delete, user_key, who
from .limits import ANSWER_LIMIT, CAPTION_LIMIT, utf16_len
from .render import PLATFORM, private
from .texts import OTHERS_CARD

log = logging.getLogger(__name__)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot = crate(context)
    message, tg_user = update.effective_message, update.effective_user
    if message is None or tg_user is None:
        return
    ok, text = addressed(message, context.bot)
    if not ok:
        return
    user = user_key(tg_user)
    if not private(message):
        leaked = find_token(text)
        if leaked:   # a token pasted in a group (with a mention, or while /token waits in private)
            await token_in_group(bot, message, leaked)
            return
    elif is_token(text):   # a token pasted without /token (e.g. after a restart): take it down at once
        token = text.strip()
        register_secret(token)
        await link_token(bot, message, user, token, await delete(message))
        return
    score_id = None
    replied = message.reply_to_message
    if replied is not None:
        ref = await asyncio.to_thread(bot.cards.lookup, PLATFORM, replied.chat_id, replied.message_id)
        if ref is not None and ref.user != user:
            await bot.render.reply(message, OTHERS_CARD)
            return
        score_id = ref.score_id if ref is not None else None
    if not text:
        return
    replies = await bot.render.typing(context.bot, message.chat_id, asyncio.to_thread(
        bot.conv.handle, user, text, score_id, event_id=f"upd:{update.update_id}", source=SOURCE))
    await bot.render.answer(context.bot, message, user, replies, tg_user.id)


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, (message, tg_user) = crate(context), who(update)
    if not addressed(message, context.bot)[0]:
        return
    user = user_key(tg_user)
    if not bot.app.live:
        await bot.render.reply(message, OFFLINE + " Paste the Discogs link of the record instead.")
        return
    media = message.photo[-1] if message.photo else message.document
    if media is None:
        return
    if media.file_size and media.file_size > MAX_DOWNLOAD:
        await bot.render.reply(message, "That photo is too big for me to download: send it as a normal photo.")
        return

    async def read() -> list:
        data = bytes(await (await media.get_file()).download_as_bytearray())
        return await asyncio.to_thread(bot.app.photo, user, data)

    replies = await bot.render.typing(context.bot, message.chat_id, read())
    await bot.render.answer(context.bot, message, user, replies, tg_user.id)


# -- a card's buttons -----------------------------------------------------------------------------------------
async def owner_of(bot: CrateBot, q: CallbackQuery, score_id: int) -> tuple[bool, CardRef | None]:
    """(may the presser give feedback on this card, the card's registry entry)."""
    msg, user = q.message, user_key(q.from_user)
    if msg is None:
        return False, None
    ref = await asyncio.to_thread(bot.cards.lookup, PLATFORM, msg.chat.id, msg.message_id)
    if ref is not None:
        return ref.user == user and ref.score_id == score_id, ref
    # a card sent before the registry knew it: ask whether the score was served to this user
    return await asyncio.to_thread(bot.app.owns_score, user, score_id), None


async def on_feedback_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, q = crate(context), update.callback_query
    assert q is not None
    _, kind, sid = (q.data or "").split(":")
    score_id = int(sid)
    if not (await owner_of(bot, q, score_id))[0]:
        await q.answer(OTHERS_CARD, show_alert=True)
        return
    got = await asyncio.to_thread(bot.app.feedback, user_key(q.from_user), kind, score_id, f"cb:{q.id}",
                                  source=SOURCE)
    text = got.text
    await q.answer(text if utf16_len(text) <= ANSWER_LIMIT else
                   (got.short if isinstance(got, Noted) else text[:ANSWER_LIMIT - 1] + "…"))
    markup = getattr(q.message, "reply_markup", None)
    if markup is not None and isinstance(got, Noted):
        try:
            await q.edit_message_reply_markup(kb.mark_chosen(markup, kind))
        except BadRequest as exc:   # "message is not modified": the same button again
            log.debug("keyboard unchanged: %s", exc)


async def on_why(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, q = crate(context), update.callback_query
    assert q is not None
    score_id = int((q.data or "").split(":")[1])
    msg = q.message
    allowed, ref = await owner_of(bot, q, score_id)
    if not allowed or msg is None:   # another member's card, or a crafted button: their reasons stay theirs
        await q.answer(OTHERS_CARD, show_alert=True)
        return
    if ref is not None and ref.why:
        current, why = ref.text, ref.why
    else:
        found = await asyncio.to_thread(bot.app.why, score_id)
        if found is None:
            await q.answer("I don't have that score any more.")
            return
        why = found
        current = getattr(msg, "text", None) or getattr(msg, "caption", None) or ""
    full = f"{current}\n\n{why}"
    markup = kb.without_why(getattr(msg, "reply_markup", None))
    await q.answer()
    try:
        if getattr(msg, "photo", None):
            if len(full) <= CAPTION_LIMIT:
                await q.edit_message_caption(full, reply_markup=markup)
            else:   # too long for a caption: the reasons follow as a reply to the card
                await q.edit_message_reply_markup(markup)
                if isinstance(msg, Message):
                    await msg.reply_text(why, do_quote=True)
        else:
            await q.edit_message_text(full, reply_markup=markup)
    except BadRequest as exc:   # already expanded
        log.debug("why not expanded: %s", exc)


async def on_pressing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A pressing picked from a barcode's choice: its card."""
    bot, q = crate(context), update.callback_query
    assert q is not None
    release_id = int((q.data or "").split(":")[1])
    await q.answer("Scoring that pressing…")
    chat_id = q.message.chat.id if q.message else q.from_user.id
    reply_to = q.message.message_id if q.message else None
    user = user_key(q.from_user)
    reply = await bot.render.typing(context.bot, chat_id, asyncio.to_thread(bot.app.score_release, user,
                                                                             release_id))
    await bot.render.send(context.bot, chat_id, user, reply, q.from_user.id, reply_to=reply_to)


async def on_reaction(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍 / 👎 on a card, by the collector it was scored for, is feedback (once per update)."""
    bot, r = crate(context), update.message_reaction
    if r is None or r.user is None:   # anonymous (a channel or an anonymous admin): nobody to credit
        return
    added = {getattr(x, "emoji", None) for x in r.new_reaction} - {getattr(x, "emoji", None) for x in r.old_reaction}
    kind = "like" if "👍" in added else "dislike" if "👎" in added else None
    if kind is None:
        return
    user = user_key(r.user)
    ref = await asyncio.to_thread(bot.cards.lookup, PLATFORM, r.chat.id, r.message_id)
    if ref is None or ref.score_id is None or ref.user != user:
        return   # not a card, or someone else's card: a reaction, not feedback
    got = await asyncio.to_thread(bot.app.feedback, user, kind, ref.score_id, f"upd:{update.update_id}",
                                  source=SOURCE)
    if r.chat.type == ChatType.PRIVATE:
        await context.bot.send_message(r.chat.id, got.text, reply_parameters=ReplyParameters(
            message_id=r.message_id, allow_sending_without_reply=True))


def register(app: Application, only_new: filters.BaseFilter) -> None:
    kinds = "|".join(KINDS)
    app.add_handler(CallbackQueryHandler(on_feedback_button, pattern=rf"^fb:({kinds}):\d+$"))
    app.add_handler(CallbackQueryHandler(on_why, pattern=rf"^{kb.WHY}:\d+$"))
    app.add_handler(CallbackQueryHandler(on_pressing, pattern=rf"^{kb.PICK}:\d+$"))
    app.add_handler(MessageReactionHandler(on_reaction))
    app.add_handler(MessageHandler(only_new & (filters.PHOTO | filters.Document.IMAGE), on_photo))
    app.add_handler(MessageHandler(only_new & filters.TEXT & ~filters.COMMAND, on_text))
