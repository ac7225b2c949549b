"""The Discord client: the bot's life and its events (reactions, DMs and mentions), and the use cases' Discord
side that buttons and menus call back into (defer, then edit; ephemeral when private).

Every interaction is acknowledged at once (``defer`` with "thinking…") — Discord allows 3 seconds — and the work
runs in a worker thread (``asyncio.to_thread``); long work edits the deferred response as it goes. Feedback (a
card's buttons, 👍 / 👎 reactions on a card) and messages are stored in the durable inbox first, keyed by the
interaction, reaction or message, so a redelivered event counts once and a crash in between replays it on the next
start. The slash commands live in feature modules (:mod:`bot.discord.account`, :mod:`bot.discord.scoring`,
:mod:`bot.discord.groups`).
"""
from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import discord
from discord import app_commands

from bot.common import Busy, find_token, read_collection
from core.app import (
    FORGET_ASK,
    KINDS,
    SERVER_ONLY,
    CardReply,
    CrateApp,
    Recommender,
    Refusal,
    build_app,
    register_secret,
    watch_command,
)

from .outbox import ChannelOutbox
from .render import Progress, Renderer, content_of
from .text import say
from .views import (
    CardButton,
    ForgetView,
    PageButton,
    PickButton,
    ScoreMineButton,
    SettingsView,
    TokenModal,
    UnwatchButton,
    WatchButton,
    alert_view,
    score_mine_view,
)

log = logging.getLogger(__name__)

PLATFORM = SOURCE = "discord"
SKIN_TONES = ("", "\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF")
REACTIONS = {f"{thumb}{tone}": kind for thumb, kind in (("👍", "like"), ("👎", "dislike")) for tone in SKIN_TONES}
OTHERS_CARD = "This card was scored for someone else. Want your own score for it?"
TOKEN_IN_CHANNEL = ("For your safety I only take Discogs tokens through /token (a private form).{extra}")
SORRY = "Sorry — something went wrong on my side. Please try again."


def user_key(user: discord.abc.User | discord.Object) -> str:
    """The product's user for a Discord account (users are per platform)."""
    return f"dc:{user.id}"


def bot_of(interaction: discord.Interaction) -> "CrateDiscord":
    """The bot an interaction arrived at."""
    client = interaction.client
    assert isinstance(client, CrateDiscord)
    return client


def intents() -> discord.Intents:
    """Guilds, DMs and reactions: nothing privileged (no message content, members or presences)."""
    i = discord.Intents.none()
    i.guilds = True
    i.guild_messages = True     # mentions of the bot (their content comes without the privileged intent)
    i.dm_messages = True
    i.guild_reactions = True
    i.dm_reactions = True
    return i


class CrateDiscord(discord.Client):
    """The bot over one application; the feature modules add their commands to :attr:`tree`
    (:class:`bot.discord.app.PointedClient` registers them)."""

    def __init__(self, app: CrateApp | Recommender, *, sync_commands: bool = True, progress_interval: float = 1.0,
                 start_learning: bool = True, shard_id: int | None = None, shard_count: int | None = None) -> None:
        shards: dict[str, Any] = {"shard_id": shard_id, "shard_count": shard_count} if shard_count else {}
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none(), **shards)
        self.app = app if isinstance(app, CrateApp) else build_app(recommender=app, workers=True)
        self.group = self.app.group(PLATFORM)
        self.inbox = self.app.inbox(PLATFORM)
        self.outbox = ChannelOutbox()   # replies to messages, paced per channel, never dropped
        self.render = Renderer(self.app.cards, self.outbox)
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error   # type: ignore[method-assign]
        self.sync_commands, self.progress_interval = sync_commands, progress_interval
        self._start_learning = start_learning
        self.scheduler: Any = None
        self.busy = Busy()

    # -- life --------------------------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        self.add_dynamic_items(CardButton, ScoreMineButton, PickButton, PageButton, WatchButton, UnwatchButton)
        await asyncio.to_thread(self.app.warm_up)
        if self.sync_commands:
            synced = await self.tree.sync()
            log.info("registered %d application commands", len(synced))
        replayed = await self.replay_pending()
        if replayed:
            log.info("replayed %d event(s) a previous run had not finished", replayed)
        if self._start_learning:
            self.scheduler = self.app.start_learning(send_digest=self.send_digest, send_alert=self.send_alert)

    async def close(self) -> None:
        """Finish the interactions in flight (a few seconds at most: their answers are on their way), then stop."""
        inflight = [t for t in asyncio.all_tasks() if t.get_name() == "CommandTree-invoker" and not t.done()
                    and t is not asyncio.current_task()]
        if inflight:
            await asyncio.wait(inflight, timeout=5)
        self.app.jobs.close()
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown()
            except Exception:   # never block the shutdown
                log.debug("scheduler shutdown failed", exc_info=True)
        await super().close()

    async def on_ready(self) -> None:
        log.info("Discord: logged in as %s (%s guilds)", self.user, len(self.guilds))

    async def send_digest(self, user: str, digest: Any) -> None:
        """The scheduler's weekly digest, as a DM (only for Discord users)."""
        if not user.startswith("dc:"):
            return
        member = await self.fetch_user(int(user[3:]))
        files = [discord.File(io.BytesIO(digest.chart_png), "digest.png")] if digest.chart_png else []
        await member.send(say(digest.text), files=files)

    async def send_alert(self, user: str, alert: Any) -> None:
        """The scheduler's price alert, as a DM (only for Discord users): the card's words, with 👍 / 👎 / 🛒 /
        why, 🔕 stop watching and the marketplace page as buttons."""
        if not user.startswith("dc:"):
            return
        member = await self.fetch_user(int(user[3:]))
        await member.send(say("\n".join(alert.chat_lines())),
                          view=alert_view(alert.score_id, alert.alert.release_id, alert.market_url))

    def progress(self, interaction: discord.Interaction) -> Progress:
        return Progress(interaction, asyncio.get_running_loop(), self.progress_interval)

    # -- scoring and feedback ------------------------------------------------------------------------------
    async def score_for(self, interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
        """Score the record(s) in ``text`` for whoever asked."""
        user = user_key(interaction.user)
        await self.render.thinking(interaction, ephemeral=ephemeral)
        replies = await asyncio.to_thread(self.app.handle, user, text, None, event_id=f"ix:{interaction.id}",
                                          source=SOURCE)
        await self.render.respond(interaction, user, replies, ephemeral=ephemeral)

    async def score_release_for(self, interaction: discord.Interaction, release_id: int) -> None:
        """A release by its id (a button carries it) scored for whoever pressed, privately."""
        user = user_key(interaction.user)
        await self.render.thinking(interaction, ephemeral=True)
        reply = await asyncio.to_thread(self.app.score_release, user, release_id)
        await self.render.respond(interaction, user, [reply], ephemeral=True)

    async def watch_release_for(self, interaction: discord.Interaction, release_id: int) -> None:
        """👀 on a card: the presser now watches the record's price (their own list), answered privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await asyncio.to_thread(watch_command, self.app.watching, user_key(interaction.user),
                                        f"/watch {release_id}")
        await interaction.edit_original_response(content=say(reply.text))

    async def unwatch_release_for(self, interaction: discord.Interaction, release_id: int) -> None:
        """🔕 under an alert: the presser stops watching the record, answered privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await asyncio.to_thread(watch_command, self.app.watching, user_key(interaction.user),
                                        f"/unwatch {release_id}")
        await interaction.edit_original_response(content=say(reply.text))

    async def on_card_button(self, interaction: discord.Interaction, kind: str, score_id: int) -> None:
        user = user_key(interaction.user)
        msg = interaction.message
        ref = await asyncio.to_thread(self.app.cards.lookup, PLATFORM, interaction.channel_id or 0,
                                      msg.id) if msg else None
        if ref is not None:
            allowed = ref.user == user and ref.score_id == score_id
        else:   # a card the registry never saw (sent ephemeral, or before a restore): ask core whose score it is
            allowed = await asyncio.to_thread(self.app.owns_score, user, score_id)
        if not allowed:
            release_id = await asyncio.to_thread(self.app.scoring.release_of, score_id)
            view = score_mine_view(release_id) if release_id is not None else discord.utils.MISSING
            await interaction.response.send_message(OTHERS_CARD, view=view, ephemeral=True)
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
            got = await asyncio.to_thread(self.app.feedback, user, kind, score_id, event_id, source=SOURCE)
        finally:
            await asyncio.to_thread(self.inbox.done, event_id)
        return got.text

    async def replay_pending(self) -> int:
        """Handle every event a previous run stored but never finished (it was killed in between), oldest first,
        each exactly once: feedback is keyed by its event id, and a message's replies go to its channel."""
        pending = await asyncio.to_thread(self.inbox.pending)
        n = 0
        for event_id, p in pending:
            try:
                if p.get("kind") in KINDS and p.get("score_id") is not None:
                    await asyncio.to_thread(self.app.feedback, p["user"], p["kind"], int(p["score_id"]), event_id,
                                            source=SOURCE)
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
        ref = await asyncio.to_thread(self.app.cards.lookup, PLATFORM, payload.channel_id, payload.message_id)
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
        token = find_token(text)
        if token:
            await self._token_in_channel(message, token, private)
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

    async def _token_in_channel(self, message: discord.Message, token: str, private: bool) -> None:
        register_secret(token)
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

    async def _answer_message(self, user: str, text: str, channel_id: int, message_id: int, event_id: str) -> None:
        """Answer a DM (or a mention): cards with their buttons, as replies to the message, "typing…" meanwhile."""
        channel = self.get_channel(channel_id) or await self.fetch_channel(channel_id)
        reference = discord.MessageReference(message_id=message_id, channel_id=channel_id, fail_if_not_exists=False)
        replies = await self.render.typing(channel, asyncio.to_thread(self.app.handle, user, text, None,
                                                                      event_id=event_id, source=SOURCE))
        await self.render.to_channel(channel, user, replies, reference)

    # -- what buttons and menus call back into -------------------------------------------------------------
    async def open_pick(self, interaction: discord.Interaction, score_id: int) -> None:
        user = user_key(interaction.user)
        reply = await asyncio.to_thread(self.app.open_card, user, score_id)
        if not isinstance(reply, CardReply):
            await interaction.response.send_message(content_of(reply), ephemeral=True)
            return
        await self.render.thinking(interaction, ephemeral=True)
        await self.render.card(interaction, user, reply.card)

    async def turn_picks(self, interaction: discord.Interaction, session: str, page: int) -> None:
        await interaction.response.defer()
        try:
            got = await asyncio.to_thread(self.app.picks.turn, user_key(interaction.user), session, page)
        except Refusal as exc:
            await interaction.followup.send(say(exc.message), ephemeral=True)
            return
        await self.render.respond(interaction, user_key(interaction.user), [got], ephemeral=True)

    async def link_token(self, interaction: discord.Interaction, token: str) -> None:
        """The token from the modal: checked with Discogs, stored encrypted, then the collection read."""
        register_secret(token)
        await interaction.response.defer(ephemeral=True, thinking=True)
        user = user_key(interaction.user)
        try:
            name = await asyncio.to_thread(self.app.accounts.link_token, user, token)
        except Refusal as exc:
            await interaction.edit_original_response(content=say(exc.message))
            return
        await self.sync_and_train(interaction, user, f"🔐 Linked to Discogs user {name} with your token (stored "
                                                     "encrypted).\n")

    async def sync_and_train(self, interaction: discord.Interaction, user: str, head: str = "") -> None:
        """Read the linked collection (progress in the deferred response), then learn as the policy says."""
        async def busy_now(running: str) -> None:
            await interaction.edit_original_response(content=say(f"{head}I'm still busy with your {running}; try "
                                                                 "again when it's done."))

        await read_collection(self.app, self.busy, user, lambda: self.progress(interaction), busy_now, head)

    async def change_setting(self, interaction: discord.Interaction, what: str, value: str) -> None:
        shown = await asyncio.to_thread(self.app.change_setting, user_key(interaction.user), what, value)
        view = SettingsView(interaction.user.id, shown.buy_pct, shown.currency, round(shown.adventurous * 100))
        head = "" if shown.error else "Saved ✓\n\n"
        await interaction.response.edit_message(content=say(head + shown.text), view=view)

    async def forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await asyncio.to_thread(self.app.forget, user_key(interaction.user))
        await interaction.edit_original_response(content=say(text), view=None)

    async def ask_forget(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(FORGET_ASK, view=ForgetView(interaction.user.id), ephemeral=True)

    async def ask_token(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(TokenModal())

    # -- errors --------------------------------------------------------------------------------------------
    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        """Never a trace and never silence: the collector gets a sentence, the log the trace."""
        if isinstance(error, app_commands.NoPrivateMessage):
            text = SERVER_ONLY
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


__all__ = ["CrateDiscord", "OTHERS_CARD", "user_key"]
