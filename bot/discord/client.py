"""The Discord client: event handlers and the use cases' Discord side (defer, then edit; ephemeral when private).

Every interaction is acknowledged at once (``defer``) — Discord allows 3 seconds — and the work runs in a worker
thread (``asyncio.to_thread``); long work edits the deferred response as it goes. Feedback (a card's buttons, 👍 /
👎 reactions on a card) is stored in the durable inbox first, keyed by the interaction or reaction, so a
redelivered event counts once and a crash in between replays it on the next start.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from typing import Any

import discord
from discord import app_commands

from core.app import (
    FORGET_ASK,
    OFFLINE,
    CardRegistry,
    CrateApp,
    DiscogsError,
    Group,
    Recommender,
    Reply,
    ScoreCard,
    jobs_for,
    register_secret,
    render_chat_card,
    render_why,
)

from .embeds import card_embed, picks_embed
from .outbox import ChannelOutbox
from .text import say
from .views import (
    CardButton,
    ForgetView,
    PageButton,
    PickButton,
    ScoreMineButton,
    SettingsView,
    TokenModal,
    card_view,
    picks_view,
    score_mine_view,
)

log = logging.getLogger(__name__)

PLATFORM = SOURCE = "discord"
FEEDBACK_TEXT = {"like": "👍", "dislike": "👎", "bought": "bought"}
SKIN_TONES = ("", "\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF")
REACTIONS = {f"{thumb}{tone}": kind for thumb, kind in (("👍", "like"), ("👎", "dislike")) for tone in SKIN_TONES}
OTHERS_PICKS = "These picks are someone else's: run /discover for your own."
OTHERS_CARD = "This card was scored for someone else. Want your own score for it?"
TOKEN_LIKE = re.compile(r"(?=[A-Za-z0-9]*[A-Za-z])(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{32,64}")
TOKEN_IN_CHANNEL = ("For your safety I only take Discogs tokens through /token (a private form).{extra}")
SORRY = "Sorry — something went wrong on my side. Please try again."


def user_key(user: discord.abc.User | discord.Object) -> str:
    """The product's user for a Discord account (users are per platform)."""
    return f"dc:{user.id}"


def intents() -> discord.Intents:
    """Guilds, DMs and reactions: nothing privileged (no message content, members or presences)."""
    i = discord.Intents.none()
    i.guilds = True
    i.guild_messages = True     # mentions of the bot (their content comes without the privileged intent)
    i.dm_messages = True
    i.guild_reactions = True
    i.dm_reactions = True
    return i


class Progress:
    """The deferred response, edited as long work goes on; :meth:`say` may be called from any thread."""

    def __init__(self, interaction: discord.Interaction, loop: asyncio.AbstractEventLoop,
                 min_interval: float = 1.0) -> None:
        self.interaction, self.loop, self.min_interval = interaction, loop, min_interval
        self._shown, self._last = "", float("-inf")
        self._lock = threading.Lock()
        self._pending: list[Any] = []

    def say(self, text: str) -> None:
        with self._lock:
            now = time.monotonic()
            if text == self._shown or now - self._last < self.min_interval:
                return
            self._last, self._shown = now, text
            self._pending.append(asyncio.run_coroutine_threadsafe(self._edit(text), self.loop))

    async def _edit(self, text: str) -> None:
        try:
            await self.interaction.edit_original_response(content=say(text))
        except discord.HTTPException as exc:
            log.info("progress not shown: %s", exc)

    async def settle(self) -> None:
        """Wait for the edits already sent (so that a final edit is not overtaken by one of them)."""
        for fut in list(self._pending):
            try:
                await asyncio.wrap_future(fut)
            except Exception:   # already logged
                pass

    async def done(self, text: str) -> None:
        await self.settle()
        await self._edit(text)


class CrateDiscord(discord.Client):
    """The bot. ``commands.register`` adds the slash commands and context menus to :attr:`tree`."""

    def __init__(self, recommender: Recommender, *, sync_commands: bool = True, progress_interval: float = 1.0,
                 start_learning: bool = True) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none())
        self.app = CrateApp(recommender, jobs=jobs_for(recommender))
        self.conv = self.app.conv
        self.group = Group(recommender, PLATFORM)
        self.cards = CardRegistry(recommender.store)
        self.inbox = self.app.inbox(PLATFORM)
        self.outbox = ChannelOutbox()   # replies to messages, paced per channel, never dropped
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error   # type: ignore[method-assign]
        self.sync_commands, self.progress_interval = sync_commands, progress_interval
        self._start_learning = start_learning
        self.scheduler: Any = None
        self._busy: dict[str, str] = {}
        from .commands import register

        register(self)

    # -- life --------------------------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        self.add_dynamic_items(CardButton, ScoreMineButton, PickButton, PageButton)
        await asyncio.to_thread(self.app.warm_up)
        if self.sync_commands:
            synced = await self.tree.sync()
            log.info("registered %d application commands", len(synced))
        replayed = await self.replay_pending()
        if replayed:
            log.info("replayed %d feedback event(s) a previous run had not finished", replayed)
        if self._start_learning:
            self.scheduler = self.app.start_learning(send_digest=self._send_digest)

    async def close(self) -> None:
        self.app.jobs.close()
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown()
            except Exception:   # never block the shutdown
                log.debug("scheduler shutdown failed", exc_info=True)
        await super().close()

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s (%s guilds)", self.user, len(self.guilds))

    async def _send_digest(self, user: str, digest: Any) -> None:
        """The scheduler's weekly digest, as a DM (only for Discord users)."""
        if not user.startswith("dc:"):
            return
        member = await self.fetch_user(int(user[3:]))
        files = [discord.File(_bytes_io(digest.chart_png), "digest.png")] if digest.chart_png else []
        await member.send(say(digest.text), files=files)

    # -- replies -------------------------------------------------------------------------------------------
    async def _knows(self, user: str) -> str | None:
        return await asyncio.to_thread(self.app.knows, user)

    async def send_card(self, interaction: discord.Interaction, user: str, card: ScoreCard, *,
                        ephemeral: bool = False, first: bool = True) -> None:
        """The card as an embed with its buttons, as the deferred response (``first``) or a followup; remembered
        so that reactions and buttons find it later."""
        embed, view = card_embed(card), card_view(card.score_id, card.release.id)
        if first:
            msg = await interaction.edit_original_response(content=None, embed=embed, view=view)
        else:
            msg = await interaction.followup.send(embed=embed, view=view, ephemeral=ephemeral, wait=True)
        if card.score_id is not None:
            channel = msg.channel.id if msg.channel else interaction.channel_id
            await asyncio.to_thread(self.cards.remember, PLATFORM, channel, msg.id, user, card.score_id,
                                    render_chat_card(card), render_why(card))

    async def send_replies(self, interaction: discord.Interaction, user: str, replies: list[Reply], *,
                           ephemeral: bool = False) -> None:
        """The conversation's replies: cards as embeds; the rest as text (an error about one user ephemeral)."""
        first = True
        for r in replies:
            if r.card is not None:
                await self.send_card(interaction, user, r.card, ephemeral=ephemeral, first=first)
            elif first and not ephemeral:   # a public deferral that turns out to be about one user: private
                await interaction.delete_original_response()
                await interaction.followup.send(say(r.text), ephemeral=True)
            elif first:
                await interaction.edit_original_response(content=say(r.text))
            else:
                await interaction.followup.send(say(r.text), ephemeral=True)
            first = False

    # -- use cases ---------------------------------------------------------------------------------------
    async def score_for(self, interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
        """Score the record(s) in ``text`` for whoever asked."""
        user = user_key(interaction.user)
        if not interaction.response.is_done():
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        missing = await self._knows(user)
        if missing:
            await self.send_replies(interaction, user, [Reply(missing)], ephemeral=ephemeral)
            return
        replies = await asyncio.to_thread(self.conv.handle, user, text, None, event_id=f"ix:{interaction.id}",
                                          source=SOURCE)
        if any(r.candidates for r in replies):
            replies = [Reply(r.text.replace("(send its release number)", "(/score its release number)"))
                       if r.candidates else r for r in replies]
        await self.send_replies(interaction, user, replies, ephemeral=ephemeral)

    async def on_card_button(self, interaction: discord.Interaction, kind: str, score_id: int) -> None:
        user = user_key(interaction.user)
        msg = interaction.message
        ref = await asyncio.to_thread(self.cards.lookup, PLATFORM, interaction.channel_id, msg.id) if msg else None
        if ref is not None:
            allowed = ref.user == user and ref.score_id == score_id
        else:   # a card the registry never saw (sent ephemeral, or before a restore): ask core whose score it is
            allowed = await asyncio.to_thread(self.app.owns_score, user, score_id)
        if not allowed:
            served = await asyncio.to_thread(self.app.rec.store.get_score, score_id)
            view = score_mine_view(served.release_id) if served is not None else None
            await interaction.response.send_message(OTHERS_CARD, view=view or discord.utils.MISSING, ephemeral=True)
            return
        if kind == "why":
            why = ref.why if ref is not None and ref.why else await asyncio.to_thread(self.app.why, score_id)
            await interaction.response.send_message(say(why or "I don't have that score any more."),
                                                    ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self.feedback(user, kind, score_id, f"ix:{interaction.id}")
        await interaction.edit_original_response(content=say(text))

    async def feedback(self, user: str, kind: str, score_id: int, event_id: str) -> str:
        """Store a 👍 / 👎 / bought durably (inbox first, so a crash replays it), once per event."""
        payload = {"type": "feedback", "user": user, "kind": kind, "score_id": score_id}
        await asyncio.to_thread(self.inbox.receive, event_id, payload)
        try:
            replies = await asyncio.to_thread(self.conv.handle, user, FEEDBACK_TEXT[kind], score_id,
                                              event_id=event_id, source=SOURCE)
        finally:
            await asyncio.to_thread(self.inbox.done, event_id)
        return replies[0].text if replies else "Noted."

    async def replay_pending(self) -> int:
        """Handle every event a previous run stored but never finished (it was killed in between), oldest first,
        each exactly once: feedback is keyed by its event id, and a message's replies go to its channel."""
        pending = await asyncio.to_thread(self.inbox.pending)
        n = 0
        for event_id, p in pending:
            try:
                if p.get("kind") in FEEDBACK_TEXT and p.get("score_id") is not None:
                    await asyncio.to_thread(self.conv.handle, p["user"], FEEDBACK_TEXT[p["kind"]],
                                            int(p["score_id"]), event_id=event_id, source=SOURCE)
                elif p.get("type") == "message":
                    await self._answer_message(p["user"], p["text"], int(p["channel_id"]), int(p["message_id"]),
                                               event_id)
                else:
                    log.warning("dropping a %s inbox event of an unknown shape", PLATFORM)
                n += 1
            except Exception:   # one broken event never blocks the others; it is not retried forever
                log.exception("could not replay %s inbox event %s", PLATFORM, event_id)
            await asyncio.to_thread(self.inbox.done, event_id)
        return n

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """👍 / 👎 on a card, by the collector it was scored for, is feedback (once per reaction)."""
        if self.user is not None and payload.user_id == self.user.id:
            return
        kind = REACTIONS.get(str(payload.emoji))
        if kind is None:
            return
        ref = await asyncio.to_thread(self.cards.lookup, PLATFORM, payload.channel_id, payload.message_id)
        user = f"dc:{payload.user_id}"
        if ref is None or ref.score_id is None or ref.user != user:
            return   # not a card, or someone else's: their reaction is theirs to make, not feedback
        await self.feedback(user, kind, ref.score_id, f"rx:{payload.message_id}:{payload.user_id}:{kind}")

    async def on_message(self, message: discord.Message) -> None:
        """DMs (and mentions of the bot in a server) arrive with their text: links are scored, a token posted
        in a channel is taken down."""
        if message.author.bot or self.user is None:
            return
        private = message.guild is None
        if not private and self.user not in message.mentions:
            return
        text = message.content.replace(f"<@{self.user.id}>", " ").replace(f"<@!{self.user.id}>", " ").strip()
        if TOKEN_LIKE.search(text):
            register_secret(TOKEN_LIKE.search(text).group(0))   # type: ignore[union-attr]
            deleted = False
            if not private:
                try:
                    await message.delete()
                    deleted = True
                except discord.HTTPException:
                    log.info("could not delete a message holding a token")
            extra = "" if private else (
                (" I deleted your message" if deleted else " I couldn't delete your message: delete it yourself")
                + " — anyone here may have seen the token, so revoke it on Discogs (Settings → Developers).")
            await message.channel.send(TOKEN_IN_CHANNEL.format(extra=extra))
            return
        user = user_key(message.author)
        event_id = f"msg:{message.id}"
        await asyncio.to_thread(self.inbox.receive, event_id,
                                {"type": "message", "user": user, "text": text, "channel_id": message.channel.id,
                                 "message_id": message.id})
        try:
            await self._answer_message(user, text, message.channel.id, message.id, event_id)
        finally:
            await asyncio.to_thread(self.inbox.done, event_id)

    async def _answer_message(self, user: str, text: str, channel_id: int, message_id: int, event_id: str) -> None:
        """Answer a DM (or a mention): cards with their buttons, as replies to the message."""
        channel = self.get_channel(channel_id) or await self.fetch_channel(channel_id)
        reference = discord.MessageReference(message_id=message_id, channel_id=channel_id, fail_if_not_exists=False)
        missing = await self._knows(user)
        replies = [Reply(missing)] if missing and ("discogs" in text or text.isdigit()) else \
            await asyncio.to_thread(self.conv.handle, user, text, None, event_id=event_id, source=SOURCE)
        for r in replies:
            if r.card is not None:
                sent = await self.outbox.send(channel, embed=card_embed(r.card),
                                              view=card_view(r.card.score_id, r.card.release.id), reference=reference)
                if r.card.score_id is not None:
                    await asyncio.to_thread(self.cards.remember, PLATFORM, sent.channel.id, sent.id, user,
                                            r.card.score_id, render_chat_card(r.card), render_why(r.card))
            else:
                await self.outbox.send(channel, content=say(r.text))

    async def link_token(self, interaction: discord.Interaction, token: str) -> None:
        register_secret(token)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not self.app.live:
            await interaction.edit_original_response(content=OFFLINE)
            return
        user = user_key(interaction.user)
        try:
            name = await asyncio.to_thread(self.app.link_token, user, token)
        except DiscogsError as exc:
            await interaction.edit_original_response(content=exc.user_message)
            return
        await self.sync_and_train(interaction, user, f"🔐 Linked to Discogs user {name} with your token (stored "
                                                     "encrypted).\n")

    async def sync_and_train(self, interaction: discord.Interaction, user: str, head: str = "") -> None:
        running = self._busy.get(user)
        if running:
            await interaction.edit_original_response(content=say(f"{head}I'm still busy with your {running}; "
                                                                 "try again when it's done."))
            return
        self._busy[user] = "sync"
        progress = Progress(interaction, asyncio.get_running_loop(), self.progress_interval)
        try:
            outcome = await asyncio.to_thread(self.app.sync, user, progress.say, head)
        except DiscogsError as exc:
            await progress.done(f"{head}Sync stopped: {exc.user_message} Nothing was lost; try /sync again later.")
            return
        finally:
            self._busy.pop(user, None)
        await progress.done(f"{head}✅ Synced.\n" + "\n".join(outcome.lines) + "\nData provided by Discogs.")

    async def change_setting(self, interaction: discord.Interaction, what: str, value: str) -> None:
        user = user_key(interaction.user)
        setter = {"buy": self.app.set_buy_threshold, "cur": self.app.set_currency,
                  "adv": self.app.set_adventurous}[what]
        error = await asyncio.to_thread(setter, user, value)
        text, view = await self.settings_view(interaction.user.id, user)
        await interaction.response.edit_message(content=say((f"{error}\n\n" if error else "Saved ✓\n\n") + text),
                                                view=view)

    async def settings_view(self, owner_id: int, user: str) -> tuple[str, SettingsView]:
        """The settings text and menus (read in a worker thread; the view is made on the event loop)."""
        def read() -> tuple[str, float, str, float]:
            text, buy, currency = self.app.settings(user)
            return text, buy, currency, self.app.adventurous(user)

        text, buy, currency, adventurous = await asyncio.to_thread(read)
        return text.split("\nTap to change")[0], SettingsView(owner_id, round(buy * 100), currency,
                                                              round(adventurous * 100))

    # -- discover ------------------------------------------------------------------------------------------
    async def discover(self, interaction: discord.Interaction, words: str | None) -> None:
        """A page of picks (private: picks say a lot about someone's taste), numbers opening cards."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = user_key(interaction.user)
        progress = Progress(interaction, asyncio.get_running_loop(), self.progress_interval)
        page = await asyncio.to_thread(self.app.discover, user, words, progress.say)
        if isinstance(page, str):
            await progress.done(page)
            return
        await progress.settle()
        await interaction.edit_original_response(content=None, embed=picks_embed(page),
                                                 view=picks_view([p.score_id for p in page.picks.picks],
                                                                 page.session, page.page, bool(page.picks.picks)))

    async def open_pick(self, interaction: discord.Interaction, score_id: int) -> None:
        user = user_key(interaction.user)
        card = await asyncio.to_thread(self.app.served_card, user, score_id)
        if card is None:
            await interaction.response.send_message(OTHERS_PICKS, ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.send_card(interaction, user, card)

    async def turn_picks(self, interaction: discord.Interaction, session: str, page: int) -> None:
        user = user_key(interaction.user)
        await interaction.response.defer()
        got = await asyncio.to_thread(self.app.discover_turn, user, session, page)
        if isinstance(got, str):
            await interaction.followup.send(say(got), ephemeral=True)
            return
        await interaction.edit_original_response(embed=picks_embed(got),
                                                 view=picks_view([p.score_id for p in got.picks.picks],
                                                                 got.session, got.page, bool(got.picks.picks)))

    async def ask_forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(FORGET_ASK, view=ForgetView(interaction.user.id), ephemeral=True)

    async def forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        _, text = await asyncio.to_thread(self.app.forget, user_key(interaction.user))
        await interaction.edit_original_response(content=say(text), view=None)

    async def ask_token(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(TokenModal())

    # -- errors --------------------------------------------------------------------------------------------
    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        """Never a trace and never silence: the collector gets a sentence, the log the trace."""
        if isinstance(error, app_commands.NoPrivateMessage):
            text = "That one works in a server (it's about the members there)."
        elif isinstance(error, app_commands.CommandOnCooldown):
            text = f"Easy — try again in {error.retry_after:.0f} s."
        else:
            log.error("command %s failed", interaction.command.name if interaction.command else "?",
                      exc_info=error)
            text = SORRY
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.info("could not tell the user about an error")

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("Discord event %s failed", event_method)


def _bytes_io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)
