"""Telegram handlers: turn updates into calls on ``core`` and core's answers into Bot API calls.

Nothing here decides anything about records: scoring, feedback, import, sync, training, digests and barcode photos
are core's. Everything blocking runs in a worker thread (``asyncio.to_thread``), so one user's import or training
never keeps another user waiting. User key: ``tg:<telegram user id>``; in groups the bot answers commands, messages
that mention it and replies to its own messages only.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from typing import Any

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from core.app import (
    ATTRIBUTION,
    DATABASE_BUSY,
    FORGET_ASK,
    OFFLINE,
    CardRegistry,
    CrateApp,
    DiscogsError,
    PickPage,
    Recommender,
    ScoreCard,
    database_busy,
    find_refs,
    jobs_for,
    register_secret,
    render_chat_card,
    render_why,
    typed_code,
)

from . import keyboards as kb
from .limits import ANSWER_LIMIT, CAPTION_LIMIT, fit, utf16_len

log = logging.getLogger(__name__)

PLATFORM = "telegram"
SOURCE = "telegram"
MAX_DOWNLOAD = 20 * 1024 * 1024   # Bot API: getFile downloads
TOKEN_WAIT_S = 300            # how long "/token" waits for the token message
USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TOKEN_LIKE = re.compile(r"(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{32,64}")   # how Discogs personal tokens look (40)
ALLOWED_UPDATES = ["message", "callback_query", "message_reaction"]

START = (
    "🎛 Crate Digger tells you, in seconds, whether a record is worth buying for you.\n\n"
    "Paste a Discogs release or master link (or send a photo of the barcode) and I'll score it against your own "
    "collection, with reasons. Tap 👍 / 👎 or 🛒 bought (or react 👍 / 👎) and I learn from it.\n\n"
    "First, tell me your collection:\n"
    "• /link <your Discogs username>: I read your public collection and train at once\n"
    "• /token: link with a personal access token (private collection, prices), in a private chat with me\n"
    "• or send me your Discogs CSV export as a file (/import says how)\n\n"
    "/help lists everything. " + ATTRIBUTION)
HELP = (
    "What I understand:\n"
    "• a Discogs release or master link (or several): one score card each\n"
    "• a photo of a sleeve's barcode: I find the pressing and score it\n"
    "• the digits under a barcode, typed (\"0 75720 00325 9\"): the same, when a photo won't do\n"
    "• 👍 / 👎 / 🛒 on a card, or a reply like \"👎 too expensive\"\n\n"
    "/link <username> link your public Discogs collection (read and trained at once)\n"
    "/token link with a personal access token (private chat only)\n"
    "/import how to send your Discogs CSV export\n"
    "/sync read what changed in your collection and wantlist on Discogs, then retrain\n"
    "/stats what I know about you\n"
    "/discover [words] picks of what to buy next (\"/discover dark ambient for late nights\")\n"
    "/settings buy threshold, currency and how adventurous picks are\n"
    "/digest what changed since last time, with a chart\n"
    "/forget delete everything I know about you\n\n"
    "In groups I answer commands and messages that mention me. " + ATTRIBUTION)
IMPORT_HELP = (
    "Send me your Discogs collection export as a file (a message with the .csv attached):\n"
    "Discogs → Collection → Export → download the CSV (it also arrives by e-mail). I read it, then train your "
    "model; it takes a few seconds per thousand records. Importing replaces what I had from an earlier import.")
APOLOGY = "Sorry — something went wrong on my side. Please try again in a moment."
TOKEN_IN_GROUP = (
    "For your safety I only take Discogs tokens in a private chat: message me directly and send /token there.{extra}")
TOKEN_PROMPT = (
    "Send me your Discogs personal access token as your next message (Discogs → Settings → Developers → Generate "
    "new token). I delete that message as soon as I've read it and store the token encrypted. /cancel to stop.")
FEEDBACK_TEXT = {"like": "👍", "dislike": "👎", "bought": "bought"}
FEEDBACK_SHORT = {"like": "Noted 👍", "dislike": "Noted 👎", "bought": "Congrats on the buy 🛒"}
OTHERS_SETTINGS = "These are someone else's settings: send /settings to see and change yours."
OTHERS_PICKS = "These picks are someone else's: send /discover for your own."
OTHERS_CARD = "This card was scored for someone else — paste the link yourself to get your own score."

COMMANDS = [
    BotCommand("start", "what I do and how to link your collection"),
    BotCommand("help", "everything I understand"),
    BotCommand("link", "link your public Discogs collection: /link username"),
    BotCommand("token", "link with a personal access token (private chat)"),
    BotCommand("import", "import your Discogs CSV export"),
    BotCommand("sync", "read your collection from Discogs and train"),
    BotCommand("stats", "what I know about you"),
    BotCommand("discover", "picks of what to buy next: /discover [words or a mood]"),
    BotCommand("settings", "buy threshold, currency, adventurous picks"),
    BotCommand("digest", "what changed since last time"),
    BotCommand("forget", "delete everything I know about you"),
]


def user_key(user: User) -> str:
    return f"tg:{user.id}"


def _private(message: Message | None) -> bool:
    return message is not None and message.chat.type == ChatType.PRIVATE


class ProgressMessage:
    """One message edited as long work goes on. :meth:`say` may be called from any thread (a core progress
    callback); edits are at least ``min_interval`` seconds apart, and :meth:`done` always shows the final text."""

    def __init__(self, message: Message, loop: asyncio.AbstractEventLoop, min_interval: float = 1.0) -> None:
        self.message, self.loop, self.min_interval = message, loop, min_interval
        self._shown = message.text or ""
        self._last = float("-inf")   # time.monotonic() may be < min_interval just after boot
        self._pending: list[Any] = []
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            now = time.monotonic()
            if text == self._shown or now - self._last < self.min_interval:
                return
            self._last, self._shown = now, text
            self._pending.append(asyncio.run_coroutine_threadsafe(self._edit(text), self.loop))

    async def _edit(self, text: str, reply_markup: Any = None) -> None:
        try:
            await self.message.edit_text(text, reply_markup=reply_markup)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.info("progress message not edited: %s", exc)
        except TelegramError as exc:
            log.info("progress message not edited: %s", exc)

    async def done(self, text: str, reply_markup: Any = None) -> None:
        for fut in list(self._pending):
            try:
                await asyncio.wrap_future(fut)
            except Exception:   # already logged by _edit
                pass
        with self._lock:
            self._shown = text
        await self._edit(text, reply_markup)


class CrateBot:
    """The handlers, bound to one Recommender. ``register(app)`` wires them into an Application."""

    def __init__(self, recommender: Recommender, *, progress_interval: float = 1.0) -> None:
        self.rec = recommender
        self.app = CrateApp(recommender, jobs=jobs_for(recommender))
        self.conv = self.app.conv
        self.cards = CardRegistry(recommender.store)
        self.progress_interval = progress_interval
        self._busy: dict[str, str] = {}
        self._awaiting_token: dict[int, float] = {}

    # -- wiring --------------------------------------------------------------------------------------------
    def register(self, app: Application) -> None:
        only_new = filters.UpdateType.MESSAGE   # edits of old messages are not new requests
        for name, callback in (("start", self.cmd_start), ("help", self.cmd_help), ("link", self.cmd_link),
                               ("token", self.cmd_token), ("cancel", self.cmd_cancel), ("import", self.cmd_import),
                               ("sync", self.cmd_sync), ("stats", self.cmd_stats), ("settings", self.cmd_settings),
                               ("digest", self.cmd_digest), ("forget", self.cmd_forget),
                               ("discover", self.cmd_discover)):
            app.add_handler(CommandHandler(name, callback, filters=only_new))
        app.add_handler(CallbackQueryHandler(self.on_callback))
        app.add_handler(MessageReactionHandler(self.on_reaction))
        app.add_handler(MessageHandler(only_new & (filters.PHOTO | filters.Document.IMAGE), self.on_photo))
        app.add_handler(MessageHandler(only_new & filters.Document.ALL, self.on_document))
        app.add_handler(MessageHandler(only_new & filters.TEXT & ~filters.COMMAND, self.on_text))
        app.add_handler(MessageHandler(only_new & filters.COMMAND & filters.ChatType.PRIVATE, self.on_unknown_command))
        app.add_error_handler(self.on_error)

    #: where digests of other platforms' users go when another bot shares this process and its scheduler
    other_digests: Any = None

    async def post_init(self, app: Application) -> None:
        """Register the command menu, load what the first score needs (catalogue, embedding cache) and start
        the learning scheduler (retrains after feedback or nightly, weekly digests) in this event loop."""
        await app.bot.set_my_commands(COMMANDS)
        await asyncio.to_thread(self.app.warm_up)

        async def send_digest(user: str, digest: Any) -> None:
            if not user.startswith("tg:"):
                if self.other_digests is not None:   # another bot in this process (crate run telegram discord)
                    await self.other_digests(user, digest)
                return
            chat_id = int(user.split(":", 1)[1])   # a private chat's id is the user's id
            await app.bot.send_photo(chat_id, digest.chart_png, caption=fit(digest.text, CAPTION_LIMIT))

        self.scheduler = self.app.start_learning(send_digest)
        replay = getattr(app, "replay_pending", None)
        if replay is not None:   # updates stored before the last stop but never handled: handle them now
            await replay()

    async def post_shutdown(self, app: Application) -> None:
        sched = getattr(self, "scheduler", None)
        if sched is not None and sched.running:
            sched.shutdown()
        self.app.jobs.close()

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def _addressed(message: Message, bot: Any) -> tuple[bool, str]:
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

    @staticmethod
    async def _reply(message: Message, text: str, **kwargs: Any) -> Message:
        """Answer in the message's chat; in groups as a reply, so it's clear whom it concerns — and one that still
        arrives when the message is gone (a token message the bot just deleted)."""
        if _private(message):
            return await message.reply_text(text, do_quote=False, **kwargs)
        params = ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
        return await message.reply_text(text, reply_parameters=params, **kwargs)

    def _knows(self, user: str) -> str | None:
        return self.app.knows(user)

    def _begin(self, user: str, what: str) -> str | None:
        """Mark a long job as running; returns the job already running instead, if any."""
        if user in self._busy:
            return self._busy[user]
        self._busy[user] = what
        return None

    def _progress(self, message: Message) -> ProgressMessage:
        return ProgressMessage(message, asyncio.get_running_loop(), self.progress_interval)

    async def _send_card(self, bot: Any, chat_id: int, user: str, card: ScoreCard, *,
                         reply_to: int | None = None) -> Message:
        """The card: cover photo with the card as caption when there's a cover, else a text message; buttons."""
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

    async def _answer(self, bot: Any, message: Message, user: str, text: str, score_id: int | None,
                      event_id: str) -> None:
        """Run a message through the conversation and send its replies (cards as cards)."""
        replies = await asyncio.to_thread(self.conv.handle, user, text, score_id, event_id=event_id, source=SOURCE)
        await self._send_replies(bot, message, user, replies)

    async def _send_replies(self, bot: Any, message: Message, user: str, replies: list[Any]) -> None:
        """The conversation's replies: cards as cards, pressings to choose from as buttons, the rest as text."""
        quote = message.message_id if not _private(message) else None
        for r in replies:
            if r.card is not None:
                await self._send_card(bot, message.chat_id, user, r.card, reply_to=quote)
            elif r.candidates:
                await self._reply(message, r.prompt or r.text, reply_markup=kb.candidates_keyboard(r.candidates))
            else:
                await self._reply(message, r.text)

    # -- commands ------------------------------------------------------------------------------------------
    async def cmd_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update.effective_message, START)

    async def cmd_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update.effective_message, HELP)

    async def cmd_import(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update.effective_message, IMPORT_HELP)

    async def cmd_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        waiting = self._awaiting_token.pop(update.effective_user.id, None) is not None
        await self._reply(update.effective_message, "OK, I'm not waiting for a token any more." if waiting
                          else "Nothing to cancel.")

    async def cmd_link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, user_key(update.effective_user)
        args = context.args or []
        if len(args) != 1 or not USERNAME.match(args[0]):
            await self._reply(message, "Tell me your Discogs username: /link your_username (for a private "
                              "collection use /token in a private chat with me).")
            return
        if not self.app.live:
            await self._reply(message, OFFLINE + " Send me your CSV export instead (/import).")
            return
        name = args[0]
        note = await self._reply(message, f"Checking {name} on Discogs…")
        try:
            await asyncio.to_thread(self.app.link_username, user, name)
        except DiscogsError as exc:
            await note.edit_text(exc.user_message)
            return
        await self._link_then_sync(user, note, f"🔗 Linked to Discogs user {name}.\n")

    async def cmd_token(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, tg_user = update.effective_message, update.effective_user
        args = context.args or []
        if not _private(message):
            if args:   # a token posted in a group: take it down, and say it should be revoked
                await self._token_in_group(message, " ".join(args))
            else:
                await self._reply(message, TOKEN_IN_GROUP.format(extra=""))
            return
        if not args:
            self._awaiting_token[tg_user.id] = time.monotonic()
            await self._reply(message, TOKEN_PROMPT)
            return
        token = " ".join(args).strip()
        register_secret(token)
        deleted = await self._delete(message)
        await self._link_token(message, user_key(tg_user), token, deleted)

    async def _token_in_group(self, message: Message, secret: str) -> None:
        """A token seen in a group: never used, redacted from logs, the message deleted when the bot may, and a
        warning that reaches the group even when the message is gone."""
        register_secret(secret)
        deleted = await self._delete(message)
        extra = (" I deleted your message" if deleted else " I couldn't delete your message (I'm not an admin "
                 "here): delete it yourself") + " — anyone in this group may have seen the token, so revoke it on " \
            "Discogs (Settings → Developers) and make a new one."
        await self._reply(message, TOKEN_IN_GROUP.format(extra=extra))

    @staticmethod
    async def _delete(message: Message) -> bool:
        try:
            return bool(await message.delete())
        except TelegramError as exc:
            log.info("could not delete a message holding a token: %s", type(exc).__name__)
            return False

    async def _link_token(self, message: Message, user: str, token: str, deleted: bool) -> None:
        warn = "" if deleted else " (I couldn't delete your message with the token: please delete it yourself.)"
        if not self.app.live:
            await message.chat.send_message(OFFLINE + warn)
            return
        note = await message.chat.send_message("Checking the token with Discogs…" + warn)
        try:
            name = await asyncio.to_thread(self.app.link_token, user, token)
        except DiscogsError as exc:
            await note.edit_text(exc.user_message + warn)
            return
        await self._link_then_sync(user, note, f"🔐 Linked to Discogs user {name} with your token (stored "
                                               f"encrypted; the message holding it is deleted){warn}.\n")

    async def cmd_sync(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, user_key(update.effective_user)
        name = await asyncio.to_thread(self.app.linked_name, user)
        if name is None:
            await self._reply(message, "You're not linked to Discogs yet: /link your_username (or /token in a "
                              "private chat), then /sync.")
            return
        if not self.app.live:
            await self._reply(message, OFFLINE)
            return
        running = self._begin(user, "sync")
        if running:
            await self._reply(message, f"I'm still busy with your {running}; I'll tell you when it's done.")
            return
        try:
            note = await self._reply(message, f"🔄 Reading {name}'s collection on Discogs…")
            await self._sync_and_train(user, note)
        finally:
            self._busy.pop(user, None)

    async def _sync_and_train(self, user: str, note: Message, head: str = "") -> None:
        """Read the linked collection and wantlist (progress in ``note``), then train when the app's policy says
        so; ``head`` leads every text (linking says it linked)."""
        progress = self._progress(note)
        try:
            outcome = await asyncio.to_thread(self.app.sync, user, progress.say, head)
        except DiscogsError as exc:
            await progress.done(f"{head}Sync stopped: {exc.user_message} Nothing was lost; try /sync again later.")
            return
        await progress.done(f"{head}✅ Synced.\n" + "\n".join(outcome.lines) + "\n" + ATTRIBUTION)

    async def _link_then_sync(self, user: str, note: Message, head: str) -> None:
        """Right after linking: read the collection and train at once (progress in ``note``), so the next pasted
        link gets a personal score; /sync is for refreshing later."""
        running = self._begin(user, "sync")
        if running:
            await note.edit_text(f"{head}I'll read your collection when your {running} is done: send /sync then.")
            return
        try:
            await self._sync_and_train(user, note, head)
        finally:
            self._busy.pop(user, None)

    async def _train(self, user: str, progress: ProgressMessage, head: str) -> str:
        """Train (progress shown under ``head``); returns the line saying how it went."""
        return await asyncio.to_thread(self.app.train, user, progress.say, head)

    async def cmd_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = await asyncio.to_thread(self.app.stats, user_key(update.effective_user))
        await self._reply(update.effective_message, text)

    async def cmd_settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, user_key(update.effective_user)
        args = [a.lower() for a in (context.args or [])]
        error = None
        if len(args) == 2 and args[0] in ("buy", "threshold"):
            error = await asyncio.to_thread(self.app.set_buy_threshold, user, args[1])
        elif len(args) == 2 and args[0] in ("currency", "cur"):
            error = await asyncio.to_thread(self.app.set_currency, user, args[1])
        elif len(args) == 2 and args[0] in ("adventurous", "adv", "explore"):
            error = await asyncio.to_thread(self.app.set_adventurous, user, args[1])
        elif args:
            error = "Use /settings buy 70, /settings currency USD or /settings adventurous 40 (or tap the buttons)."
        text, markup = await asyncio.to_thread(self._settings_view, user)
        await self._reply(message, (error + "\n\n" if error else "") + text, reply_markup=markup)

    def _settings_view(self, user: str) -> tuple[str, InlineKeyboardMarkup]:
        text, buy, currency = self.app.settings(user)
        return text, kb.settings_keyboard(round(buy * 100), currency, user.split(":", 1)[-1],
                                          round(self.app.adventurous(user) * 100))

    async def cmd_discover(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Picks of what to buy next, a page at a time (◀ ▶), each number opening that pick as a card."""
        message, user = update.effective_message, user_key(update.effective_user)
        words = " ".join(context.args or [])
        note = await self._reply(message, "🔎 Looking for picks" + (f" for “{words}”" if words else "") + "…")
        progress = self._progress(note)
        page = await asyncio.to_thread(self.app.discover, user, words, progress.say)
        if isinstance(page, str):
            await progress.done(page)
            return
        await progress.done(page.text, self._pick_keyboard(page, update.effective_user.id))

    @staticmethod
    def _pick_keyboard(page: PickPage, owner: int) -> InlineKeyboardMarkup:
        return kb.picks_keyboard([p.score_id or 0 for p in page.picks.picks], page.session, page.page, owner,
                                 more=bool(page.picks.picks))

    async def _on_pick_card(self, q: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, user: str,
                            score_id: int) -> None:
        card = await asyncio.to_thread(self.app.served_card, user, score_id)
        if card is None:
            await q.answer(OTHERS_PICKS, show_alert=True)
            return
        await q.answer()
        chat_id = q.message.chat.id if q.message else q.from_user.id
        await self._send_card(context.bot, chat_id, user, card, reply_to=q.message.message_id if q.message else None)

    async def _on_pick_page(self, q: CallbackQuery, user: str, session: str, page: int, owner: str) -> None:
        if owner != str(q.from_user.id):
            await q.answer(OTHERS_PICKS, show_alert=True)
            return
        await q.answer("Turning the page…")
        got = await asyncio.to_thread(self.app.discover_turn, user, session, page)
        if isinstance(got, str):   # expired (a restart), or nothing to go on: said under the list
            if q.message is not None:
                await q.message.reply_text(got)
            return
        try:
            await q.edit_message_text(got.text, reply_markup=self._pick_keyboard(got, q.from_user.id))
        except BadRequest as exc:
            log.debug("picks page unchanged: %s", exc)

    async def cmd_digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.effective_message, user_key(update.effective_user)
        missing = await asyncio.to_thread(self._knows, user)
        if missing:
            await self._reply(message, missing)
            return
        digest = await asyncio.to_thread(self.app.digest, user)
        text = digest.text.replace(f" for {user} ", f" for {update.effective_user.first_name} ", 1)
        quote = not _private(message)
        if digest.chart_png:
            caption = text if utf16_len(text) <= CAPTION_LIMIT else None
            await message.reply_photo(digest.chart_png, caption=caption, do_quote=quote)
            if caption is None:
                await self._reply(message, text)
        else:
            await self._reply(message, text)
        await asyncio.to_thread(self.app.digest_sent, user, digest.until)

    async def cmd_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update.effective_message, FORGET_ASK,
                          reply_markup=kb.forget_keyboard(update.effective_user.id))

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update.effective_message, "I don't know that command. /help lists what I can do.")

    # -- messages ------------------------------------------------------------------------------------------
    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, tg_user = update.effective_message, update.effective_user
        if message is None or tg_user is None:
            return
        addressed, text = self._addressed(message, context.bot)
        if not addressed:
            return
        user = user_key(tg_user)
        if not _private(message):
            leaked = TOKEN_LIKE.search(text)
            if leaked:   # a token pasted in a group (with a mention, or while /token waits in private)
                await self._token_in_group(message, leaked.group(0))
                return
        asked = self._awaiting_token.pop(tg_user.id, None) if _private(message) else None
        waited = asked is not None and time.monotonic() - asked <= TOKEN_WAIT_S
        if _private(message) and (waited or TOKEN_LIKE.fullmatch(text.strip())):
            # the token asked for, or one pasted without /token (e.g. after a restart): take it down at once
            token = text.strip()
            register_secret(token)
            deleted = await self._delete(message)
            await self._link_token(message, user, token, deleted)
            return
        score_id = None
        replied = message.reply_to_message
        if replied is not None:
            ref = await asyncio.to_thread(self.cards.lookup, PLATFORM, replied.chat_id, replied.message_id)
            if ref is not None and ref.user != user:
                await self._reply(message, OTHERS_CARD)
                return
            score_id = ref.score_id if ref is not None else None
        if not text:
            return
        if find_refs(text) or typed_code(text) is not None:
            missing = await asyncio.to_thread(self._knows, user)
            if missing:
                await self._reply(message, missing)
                return
        await self._answer(context.bot, message, user, text, score_id, f"upd:{update.update_id}")

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, tg_user = update.effective_message, update.effective_user
        addressed, _ = self._addressed(message, context.bot)
        if not addressed or tg_user is None:
            return
        user, doc = user_key(tg_user), message.document
        name = doc.file_name or "export.csv"
        if doc.file_size and doc.file_size > MAX_DOWNLOAD:
            await self._reply(message, f"{name} is too big for me to download (Telegram lets bots fetch files up "
                              "to 20 MB). The Discogs collection export (CSV) is much smaller: send that one.")
            return
        running = self._begin(user, "import")
        if running:
            await self._reply(message, f"I'm still busy with your {running}; send the file again when it's done.")
            return
        try:
            note = await self._reply(message, f"📥 Got {name}: reading it…")
            progress = self._progress(note)
            try:   # a document without a file_size (or one Telegram no longer has) may fail here
                tg_file = await doc.get_file()
                data = bytes(await tg_file.download_as_bytearray())
            except TelegramError as exc:
                log.info("could not download %s: %s", name, type(exc).__name__)
                await progress.done(f"I couldn't download {name} from Telegram. Send it again (as a file), or send "
                                    "the Discogs collection export (CSV).")
                return
            result = await asyncio.to_thread(self.app.import_upload, user, name, data)
            if isinstance(result, str):
                await progress.done(result)
                return
            skipped = f" ({result.n_skipped} rows skipped)" if result.n_skipped else ""
            head = f"📥 Imported {result.n_items} records from {name}{skipped}."
            line = await self._train(user, progress, head)
            await progress.done(f"✅ {head[2:]}\n{line}\nPaste a Discogs link (or send a barcode photo) to score a "
                                "record.")
        finally:
            self._busy.pop(user, None)

    async def on_photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, tg_user = update.effective_message, update.effective_user
        addressed, _ = self._addressed(message, context.bot)
        if not addressed or tg_user is None:
            return
        user = user_key(tg_user)
        missing = await asyncio.to_thread(self._knows, user)
        if missing:
            await self._reply(message, missing)
            return
        if not self.app.live:
            await self._reply(message, OFFLINE + " Paste the Discogs link of the record instead.")
            return
        media = message.photo[-1] if message.photo else message.document
        if getattr(media, "file_size", None) and media.file_size > MAX_DOWNLOAD:
            await self._reply(message, "That photo is too big for me to download: send it as a normal photo.")
            return
        tg_file = await media.get_file()
        data = bytes(await tg_file.download_as_bytearray())
        replies = await asyncio.to_thread(self.app.photo, user, data)
        await self._send_replies(context.bot, message, user, replies)

    # -- buttons and reactions -----------------------------------------------------------------------------
    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        q = update.callback_query
        user = user_key(q.from_user)
        parts = (q.data or "").split(":")
        if parts[0] == "fb" and len(parts) == 3 and parts[1] in FEEDBACK_TEXT and parts[2].isdigit():
            await self._on_feedback_button(q, user, parts[1], int(parts[2]))
        elif parts[0] == kb.WHY and len(parts) == 2 and parts[1].isdigit():
            await self._on_why(q, user, int(parts[1]))
        elif parts[0] == kb.PICK and len(parts) == 2 and parts[1].isdigit():
            await self._on_pick(q, context, user, int(parts[1]), update.update_id)
        elif parts[0] == kb.PICK_CARD and len(parts) == 2 and parts[1].isdigit():
            await self._on_pick_card(q, context, user, int(parts[1]))
        elif parts[0] == kb.PICK_PAGE and len(parts) == 4 and parts[2].isdigit():
            await self._on_pick_page(q, user, parts[1], int(parts[2]), parts[3])
        elif parts[0] == kb.FORGET and len(parts) == 3:
            await self._on_forget(q, user, parts[1], parts[2])
        elif parts[0] == kb.SETTINGS and len(parts) == 4:
            if parts[3] != str(q.from_user.id):   # someone else's settings message (in a group)
                await q.answer(OTHERS_SETTINGS, show_alert=True)
                return
            await self._on_setting(q, user, parts[1], parts[2])
        else:
            await q.answer("That button has expired.")

    async def _owner(self, chat_id: int, message_id: int, score_id: int, user: str) -> tuple[bool, Any]:
        """(may ``user`` give feedback on this card, the card's registry entry)."""
        ref = await asyncio.to_thread(self.cards.lookup, PLATFORM, chat_id, message_id)
        if ref is not None:
            return ref.user == user and ref.score_id == score_id, ref

        # a card sent before the registry knew it: ask whether the score was served to this user
        return await asyncio.to_thread(self.app.owns_score, user, score_id), None

    async def _on_feedback_button(self, q: CallbackQuery, user: str, kind: str, score_id: int) -> None:
        msg = q.message
        allowed = msg is not None and (await self._owner(msg.chat.id, msg.message_id, score_id, user))[0]
        if not allowed:
            await q.answer(OTHERS_CARD, show_alert=True)
            return
        replies = await asyncio.to_thread(self.conv.handle, user, FEEDBACK_TEXT[kind], score_id,
                                          event_id=f"cb:{q.id}", source=SOURCE)
        text = replies[0].text if replies else FEEDBACK_SHORT[kind]
        await q.answer(text if utf16_len(text) <= ANSWER_LIMIT else FEEDBACK_SHORT[kind] + ".")
        markup = getattr(msg, "reply_markup", None)
        if markup is not None:
            try:
                await q.edit_message_reply_markup(kb.mark_chosen(markup, kind))
            except BadRequest as exc:   # "message is not modified": the same button again
                log.debug("keyboard unchanged: %s", exc)

    async def _on_why(self, q: CallbackQuery, user: str, score_id: int) -> None:
        msg = q.message
        allowed, ref = (await self._owner(msg.chat.id, msg.message_id, score_id, user)) if msg else (False, None)
        if not allowed:   # another member's card, or a crafted button: their reasons stay theirs
            await q.answer(OTHERS_CARD, show_alert=True)
            return
        if ref is not None and ref.why:
            current, why = ref.text, ref.why
        else:
            why = await asyncio.to_thread(self.app.why, score_id)
            if why is None:
                await q.answer("I don't have that score any more.")
                return
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
                    await msg.reply_text(why, do_quote=True)
            else:
                await q.edit_message_text(full, reply_markup=markup)
        except BadRequest as exc:   # already expanded
            log.debug("why not expanded: %s", exc)

    async def _on_pick(self, q: CallbackQuery, context: ContextTypes.DEFAULT_TYPE, user: str, release_id: int,
                       update_id: int) -> None:
        await q.answer("Scoring that pressing…")
        chat_id = q.message.chat.id if q.message else q.from_user.id
        missing = await asyncio.to_thread(self._knows, user)
        if missing:
            await context.bot.send_message(chat_id, missing)
            return
        replies = await asyncio.to_thread(self.conv.handle, user, str(release_id), None,
                                          event_id=f"upd:{update_id}", source=SOURCE)
        reply_to = q.message.message_id if q.message else None
        for r in replies:
            if r.card is not None:
                await self._send_card(context.bot, chat_id, user, r.card, reply_to=reply_to)
            else:
                await context.bot.send_message(chat_id, r.text)

    async def _on_forget(self, q: CallbackQuery, user: str, answer: str, owner: str) -> None:
        if owner != str(q.from_user.id):
            await q.answer("Only the person who asked can confirm that.", show_alert=True)
            return
        if answer != "yes":
            await q.answer()
            await q.edit_message_text("OK — nothing deleted.")
            return
        await q.answer("Deleting…")

        _, text = await asyncio.to_thread(self.app.forget, user)   # chat cards and scheduled jobs included
        self._awaiting_token.pop(q.from_user.id, None)
        await q.edit_message_text(text)

    async def _on_setting(self, q: CallbackQuery, user: str, what: str, value: str) -> None:
        if what == "buy":
            error = await asyncio.to_thread(self.app.set_buy_threshold, user, value)
        elif what == "cur":
            error = await asyncio.to_thread(self.app.set_currency, user, value)
        elif what == "adv":
            error = await asyncio.to_thread(self.app.set_adventurous, user, value)
        else:
            error = "That button has expired."
        await q.answer(error or "Saved ✓")
        if error is None:
            text, markup = await asyncio.to_thread(self._settings_view, user)
            try:
                await q.edit_message_text(text, reply_markup=markup)
            except BadRequest as exc:
                log.debug("settings unchanged: %s", exc)

    async def on_reaction(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        r = update.message_reaction
        if r is None or r.user is None:   # anonymous (a channel or an anonymous admin): nobody to credit
            return

        def emojis(reactions: Any) -> set[str]:
            return {getattr(x, "emoji", None) for x in reactions} - {None}

        added = emojis(r.new_reaction) - emojis(r.old_reaction)
        kind = "like" if "👍" in added else "dislike" if "👎" in added else None
        if kind is None:
            return
        user = user_key(r.user)
        ref = await asyncio.to_thread(self.cards.lookup, PLATFORM, r.chat.id, r.message_id)
        if ref is None or ref.score_id is None or ref.user != user:
            return   # not a card, or someone else's card: a reaction, not feedback
        replies = await asyncio.to_thread(self.conv.handle, user, FEEDBACK_TEXT[kind], ref.score_id,
                                          event_id=f"upd:{update.update_id}", source=SOURCE)
        if r.chat.type == ChatType.PRIVATE and replies:
            await context.bot.send_message(r.chat.id, replies[0].text, reply_parameters=ReplyParameters(
                message_id=r.message_id, allow_sending_without_reply=True))

    # -- errors --------------------------------------------------------------------------------------------
    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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

