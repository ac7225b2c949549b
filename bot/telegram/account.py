"""The collector's account on Telegram: /start, /help, /link, /token (a conversation: the token is the next
private message), /sync, a CSV export sent as a file, /stats and /forget."""
from __future__ import annotations

import asyncio
import logging
import re

from telegram import CallbackQuery, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.common import read_collection
from core.app import BUSY, FORGET_ASK, NOT_LINKED, OFFLINE, Refusal, register_secret

from . import keyboards as kb
from .context import CrateBot, addressed, crate, delete, user_key, who
from .texts import HELP, IMPORT_HELP, START, TOKEN_IN_GROUP

log = logging.getLogger(__name__)

MAX_DOWNLOAD = 20 * 1024 * 1024   # Bot API: getFile downloads
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TOKEN_ASKED = "token_asked"          # user_data: when /token asked (monotonic seconds)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await crate(context).render.reply(who(update)[0], START)


async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await crate(context).render.reply(who(update)[0], HELP)


async def import_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await crate(context).render.reply(who(update)[0], IMPORT_HELP)


async def link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, (message, tg_user) = crate(context), who(update)
    args = context.args or []
    if len(args) != 1 or not USERNAME.match(args[0]):
        await bot.render.reply(message, "Tell me your Discogs username: /link your_username (for a private "
                               "collection use /token in a private chat with me).")
        return
    if not bot.app.live:
        await bot.render.reply(message, OFFLINE + " Send me your CSV export instead (/import).")
        return
    name = args[0]
    note = await bot.render.reply(message, f"Checking {name} on Discogs…")
    try:
        await asyncio.to_thread(bot.app.accounts.link_username, user_key(tg_user), name)
    except Refusal as exc:
        await note.edit_text(exc.message)
        return
    await sync_and_train(bot, user_key(tg_user), note, f"🔗 Linked to Discogs user {name}.\n")


async def token_in_group(bot: CrateBot, message: Message, secret: str) -> None:
    """A token seen in a group: never used, redacted from logs, the message deleted when the bot may, and a
    warning that reaches the group even when the message is gone."""
    register_secret(secret)
    deleted = await delete(message)
    extra = (" I deleted your message" if deleted else " I couldn't delete your message (I'm not an admin "
             "here): delete it yourself") + " — anyone in this group may have seen the token, so revoke it on " \
        "Discogs (Settings → Developers) and make a new one."
    await bot.render.reply(message, TOKEN_IN_GROUP.format(extra=extra))


async def link_token(bot: CrateBot, message: Message, user: str, token: str, deleted: bool) -> None:
    warn = "" if deleted else " (I couldn't delete your message with the token: please delete it yourself.)"
    if not bot.app.live:
        await message.chat.send_message(OFFLINE + warn)
        return
    note = await message.chat.send_message("Checking the token with Discogs…" + warn)
    try:
        name = await asyncio.to_thread(bot.app.accounts.link_token, user, token)
    except Refusal as exc:
        await note.edit_text(exc.message + warn)
        return
    await sync_and_train(bot, user, note, f"🔐 Linked to Discogs user {name} with your token (stored "
                                          f"encrypted; the message holding it is deleted){warn}.\n")


# -- reading the collection ----------------------------------------------------------------------------------------
async def sync(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, (message, tg_user) = crate(context), who(update)
    user = user_key(tg_user)
    name = await asyncio.to_thread(bot.app.accounts.linked_name, user)
    if name is None:
        await bot.render.reply(message, NOT_LINKED)
        return
    if not bot.app.live:
        await bot.render.reply(message, OFFLINE)
        return
    if bot.busy.running(user):
        await bot.render.reply(message, BUSY.format(what=bot.busy.running(user)))
        return
    note = await bot.render.reply(message, f"🔄 Reading {name}'s collection on Discogs…")
    await sync_and_train(bot, user, note)


async def sync_and_train(bot: CrateBot, user: str, note: Message, head: str = "") -> None:
    """Read the linked collection and wantlist (progress in ``note``), then learn as the application's policy
    says; ``head`` leads every text (linking says it linked)."""
    async def busy_now(running: str) -> None:
        await note.edit_text(f"{head}I'll read your collection when your {running} is done: send /sync then.")

    await read_collection(bot.app, bot.busy, user, lambda: bot.progress(note), busy_now, head)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file: the collector's CSV export (read, then trained)."""
    bot, (message, tg_user) = crate(context), who(update)
    if not addressed(message, context.bot)[0] or message.document is None:
        return
    user, doc = user_key(tg_user), message.document
    name = doc.file_name or "export.csv"
    if doc.file_size and doc.file_size > MAX_DOWNLOAD:
        await bot.render.reply(message, f"{name} is too big for me to download (Telegram lets bots fetch files up "
                               "to 20 MB). The Discogs collection export (CSV) is much smaller: send that one.")
        return
    with bot.busy.job(user, "import") as running:
        if running:
            await bot.render.reply(message, f"I'm still busy with your {running}; send the file again when it's "
                                   "done.")
            return
        note = await bot.render.reply(message, f"📥 Got {name}: reading it…")
        progress = bot.progress(note)
        try:   # a document without a file_size (or one Telegram no longer has) may fail here
            tg_file = await doc.get_file()
            data = bytes(await tg_file.download_as_bytearray())
        except TelegramError as exc:
            log.info("could not download %s: %s", name, type(exc).__name__)
            await progress.done(f"I couldn't download {name} from Telegram. Send it again (as a file), or send "
                                "the Discogs collection export (CSV).")
            return
        try:
            result = await asyncio.to_thread(bot.app.accounts.import_upload, user, name, data)
        except Refusal as exc:
            await progress.done(exc.message)
            return
        skipped = f" ({result.n_skipped} rows skipped)" if result.n_skipped else ""
        head = f"📥 Imported {result.n_items} records from {name}{skipped}."
        line = await asyncio.to_thread(bot.app.accounts.train, user, progress.say, head)
        await progress.done(f"✅ {head[2:]}\n{line}\nPaste a Discogs link (or send a barcode photo) to score a "
                            "record.")


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, (message, tg_user) = crate(context), who(update)
    await bot.render.reply(message, await asyncio.to_thread(bot.app.accounts.stats, user_key(tg_user)))


# -- forgetting -----------------------------------------------------------------------------------------------------
async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot, (message, tg_user) = crate(context), who(update)
    await bot.render.reply(message, FORGET_ASK, reply_markup=kb.forget_keyboard(tg_user.id))


async def on_forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    q = update.callback_query
    assert q is not None
    _, answer, owner = (q.data or "::").split(":", 2)
    await confirm_forget(crate(context), q, context, answer, owner)


async def confirm_forget(bot: CrateBot, q: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, answer: str,
                         owner: str) -> None:
    if owner != str(q.from_user.id):
        await q.answer("Only the person who asked can confirm that.", show_alert=True)
        return
    if answer != "yes":
        await q.answer()
        await q.edit_message_text("OK — nothing deleted.")
        return
    await q.answer("Deleting…")
    text = await asyncio.to_thread(bot.app.forget, user_key(q.from_user))   # chat cards and jobs included
    if context.user_data is not None:
        context.user_data.pop(TOKEN_ASKED, None)   # a /token waiting for its message waits no more
    await q.edit_message_text(text)


def register(app: Application, only_new: filters.BaseFilter) -> None:
    """The account's handlers (``only_new``: edits of old messages are not new requests)."""
    for name, callback in (("start", start), ("help", help_), ("link", link),
                           ("import", import_help), ("sync", sync), ("stats", stats), ("forget", forget)):
        app.add_handler(CommandHandler(name, callback, filters=only_new))
    app.add_handler(CallbackQueryHandler(on_forget, pattern=rf"^{kb.FORGET}:(yes|no):\d+$"))
    app.add_handler(MessageHandler(only_new & filters.Document.ALL & ~filters.Document.IMAGE, on_document))
