"""The fake Discord (``fakes.discord_server``) driven by the real discord.py client, in-process.

One client for the module: a ``discord.Client`` without the message content intent, a ``CommandTree`` synced in
``setup_hook`` (``/ping`` defers and edits its original response into "pong" with a persistent view; ``/upload``
takes an attachment and answers with a file and an ephemeral followup; ``/note`` opens a modal; a "Save record"
message command), its own event loop in a thread. Every wait has a deadline; only 127.0.0.1 is touched.
"""
from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import discord
import discord.gateway
import discord.http
import pytest
import yarl
from discord import app_commands

from fakes.discord_server import PRIVILEGED_INTENTS, FakeDiscord

GUILD_ID = 700000000000000000
CHANNEL_ID = GUILD_ID + 1


class DigView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Dig", custom_id="dig", style=discord.ButtonStyle.primary)
    async def dig(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="dug", view=None)

    @discord.ui.button(label="Keep", custom_id="keep", style=discord.ButtonStyle.secondary)
    async def keep(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message(f"kept for {interaction.user.name}", ephemeral=True)


class NoteModal(discord.ui.Modal, title="A note"):
    note: discord.ui.TextInput = discord.ui.TextInput(label="Note", custom_id="note", max_length=200)

    def __init__(self) -> None:
        super().__init__(custom_id="note-modal", timeout=60)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.note.value}")


class GenreView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.select(custom_id="pick", options=[discord.SelectOption(label=g, value=g.lower())
                                                  for g in ("Jazz", "Soul", "Funk")], max_values=2)
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.edit_message(content=f"picked {', '.join(select.values)}", view=None)


class Bot(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = False
        super().__init__(intents=intents)
        self.tree = app_commands.CommandTree(self)
        self.seen: list[tuple[str, Any]] = []
        self.seen_cond = threading.Condition()
        self.synced: list[app_commands.AppCommand] = []

        @self.tree.command(name="ping", description="Are you there?")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content="pong", view=DigView())

        @self.tree.command(name="upload", description="Send a collection export")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(f"{file.filename}: {len(data)} bytes",
                                                    file=discord.File(io.BytesIO(b"report"), "report.txt"))
            await interaction.followup.send("done", ephemeral=True)

        @self.tree.command(name="note", description="Leave a note")
        async def note(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(NoteModal())

        @app_commands.context_menu(name="Save record")
        async def save(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"saved {message.id} by {message.author.id}", ephemeral=True)

        self.tree.add_command(save)

        @app_commands.context_menu(name="Crate of")
        async def crate_of(interaction: discord.Interaction, user: discord.Member) -> None:
            await interaction.response.send_message(f"{user.display_name}'s crate ({type(user).__name__})",
                                                    ephemeral=True)

        self.tree.add_command(crate_of)

        @self.tree.command(name="genre", description="Records of a genre")
        async def genre(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"genre {name}", view=GenreView())

        @genre.autocomplete("name")
        async def genre_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=g, value=g.lower()) for g in ("Jazz", "Jungle", "Soul")
                    if g.lower().startswith(current.lower())]

        @self.tree.command(name="announce", description="Record of the day")
        async def announce(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("on it", ephemeral=True)
            msg = await interaction.channel.send("Record of the day", file=discord.File(io.BytesIO(b"png"), "a.png"))
            await msg.add_reaction("🔥")
            await interaction.user.send("psst: the record of the day is out")

        @self.tree.command(name="long", description="Too much to say")
        async def long(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("x" * 2001)
            except discord.HTTPException as exc:
                await interaction.response.send_message(f"error {exc.code}: {exc.text}")

    async def setup_hook(self) -> None:
        self.add_view(DigView())                       # persistent: clicks on old messages still land
        self.synced = await self.tree.sync()

    def record(self, kind: str, value: Any) -> None:
        with self.seen_cond:
            self.seen.append((kind, value))
            self.seen_cond.notify_all()

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.record("raw_reaction_add", payload)

    def wait_seen(self, kind: str, predicate: Any = None, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        with self.seen_cond:
            while True:
                for k, v in self.seen:
                    if k == kind and (predicate is None or predicate(v)):
                        return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind} within {timeout} s; seen {self.seen}")
                self.seen_cond.wait(min(left, 0.1))


class Harness:
    def __init__(self, server: FakeDiscord) -> None:
        self.server = server
        self.bot = Bot()
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="discord-client", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.bot.start(self.server.token))
        except BaseException as exc:   # noqa: BLE001 - reported by the fixture
            self.error = exc
        finally:   # discord.py can leave tasks behind (its ready delay, view timeouts): cancel them first
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.wait(pending, timeout=5))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def stop(self) -> None:
        if self.thread.is_alive() and not self.loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self.bot.close(), self.loop).result(10)
            except Exception:   # noqa: BLE001 - the thread is joined below either way
                pass
        self.thread.join(10)


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    server = FakeDiscord().start()
    server.add_guild(GUILD_ID)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(discord.http.Route, "BASE", f"{server.base_url}/api/v10")
        mp.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
        h = Harness(server)
        h.thread.start()
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    server.wait_ready(0.2)
                    break
                except TimeoutError:
                    if h.error is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the client did not get READY: {h.error!r}") from h.error
            yield h
        finally:
            h.stop()
            server.stop()
    assert not h.thread.is_alive()
    assert not server.errors, server.errors[0]


@pytest.fixture
def server(harness: Harness) -> FakeDiscord:
    return harness.server


def test_commands_are_registered_in_setup_hook(harness: Harness, server: FakeDiscord) -> None:
    cmds = server.wait_commands(5)
    assert {(c["name"], c["type"]) for c in cmds} == {("ping", 1), ("upload", 1), ("note", 1), ("Save record", 3),
                                                      ("Crate of", 2), ("genre", 1), ("announce", 1), ("long", 1)}
    assert all(c["application_id"] == str(server.app_id) and c["id"].isdigit() and c["version"] for c in cmds)
    assert sorted(c.id for c in harness.bot.synced) == sorted(int(c["id"]) for c in cmds)
    upload = next(c for c in cmds if c["name"] == "upload")
    assert upload["options"] == [{"name": "file", "description": "file", "type": 11, "required": True}] or \
        upload["options"][0]["type"] == 11
    put = server.requests_to("PUT", rf"/applications/{server.app_id}/commands")
    assert put and put[0].headers["Authorization"] == f"Bot {server.token}"


def test_identify_asks_for_no_privileged_intents_over_zlib(server: FakeDiscord) -> None:
    assert server.identify is not None and server.identify["token"] == server.token
    intents = server.identify["intents"]
    assert intents & PRIVILEGED_INTENTS == 0
    assert intents & (1 << 15) == 0 and intents & (1 << 1) == 0 and intents & (1 << 8) == 0
    assert intents & 1                                         # GUILDS
    assert server.gateway_queries[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert any(f.get("op") == 1 for f in server.gateway_received)     # the first heartbeat, sent on HELLO
    events = [f["t"] for f in server.dispatched[:2]]
    assert events == ["READY", "GUILD_CREATE"]


def test_slash_command_defers_then_edits_the_original_to_pong(server: FakeDiscord) -> None:
    alice = server.user(5001, "Alice")
    inter = server.slash("ping", alice, guild_id=GUILD_ID)
    assert inter.wait_response() == {"type": 5}
    assert inter.response_ms is not None and inter.response_ms < 3000
    original = inter.wait_original()
    assert original["content"] == "pong"
    assert original["type"] == 20 and original["webhook_id"] == str(server.app_id)
    assert original["interaction_metadata"]["user"]["id"] == alice["id"]
    assert original["edited_timestamp"] is None and not original["flags"]
    buttons = original["components"][0]["components"]
    assert [b["custom_id"] for b in buttons] == ["dig", "keep"]
    callback = server.requests_to("POST", rf"/interactions/{inter.id}/.+/callback")[0]
    assert callback.query == {"with_response": "1"}
    patch = server.requests_to("PATCH", rf"/webhooks/{server.app_id}/{inter.token}/messages/@original")
    assert patch and patch[0].json["content"] == "pong"


def test_buttons_update_the_message_and_reply_ephemerally(server: FakeDiscord) -> None:
    alice = server.user(5002, "Alicia")
    original = server.slash("ping", alice, guild_id=GUILD_ID).wait_original()

    keep = server.click(alice, original, "keep")
    assert keep.wait_response()["type"] == 4
    reply = keep.wait_original()
    assert reply["content"] == "kept for alicia" and reply["flags"] & 64
    assert reply["message_reference"]["message_id"] == original["id"]

    dig = server.click(alice, original, "dig")
    response = dig.wait_response()
    assert response["type"] == 7 and response["data"]["content"] == "dug"
    assert response["data"]["components"] == []
    edited = server.messages[int(original["id"])]
    assert edited["content"] == "dug" and edited["components"] == [] and edited["edited_timestamp"]
    with pytest.raises(LookupError):          # the button is gone from the message
        server.click(alice, edited, "dig")


def test_a_reaction_reaches_on_raw_reaction_add(harness: Harness, server: FakeDiscord) -> None:
    bob = server.user(5003, "Bob")
    original = server.slash("ping", bob, guild_id=GUILD_ID).wait_original()
    seq = server.react(bob, original, "👍")
    assert seq is not None
    payload = harness.bot.wait_seen("raw_reaction_add", lambda p: p.message_id == int(original["id"]))
    assert payload.user_id == 5003 and payload.guild_id == GUILD_ID and payload.channel_id == CHANNEL_ID
    assert str(payload.emoji) == "👍" and payload.member is not None and payload.member.id == 5003
    assert payload.message_author_id == server.bot_id
    assert server.messages[int(original["id"])]["reactions"][0]["count"] == 1


def test_an_attachment_option_a_file_reply_and_an_ephemeral_followup(server: FakeDiscord) -> None:
    carol = server.user(5004, "Carol")
    att = server.attachment("collection.csv", b"artist,title\nMiles,Kind of Blue\n")
    inter = server.slash("upload", carol, guild_id=GUILD_ID, options=[{"name": "file", "type": 11, "value": att["id"]}])
    response = inter.wait_response()
    assert response["type"] == 4 and response["data"]["attachments"] == [{"id": 0, "filename": "report.txt"}]
    assert inter.response_files == [("report.txt", b"report")]
    original = inter.wait_original()
    assert original["content"] == "collection.csv: 32 bytes"
    (served,) = original["attachments"]
    with urllib.request.urlopen(served["url"], timeout=5) as r:
        assert r.read() == b"report"
    followup = inter.wait_followup(1)
    assert followup["content"] == "done" and followup["flags"] & 64
    assert followup["interaction_metadata"]["original_response_message_id"] == original["id"]


def test_a_modal_opened_and_submitted(server: FakeDiscord) -> None:
    dave = server.user(5005, "Dave")
    opened = server.slash("note", dave, guild_id=GUILD_ID)
    modal = opened.wait_response()
    assert modal["type"] == 9 and modal["data"]["custom_id"] == "note-modal"
    submitted = server.submit_modal(dave, "note-modal", {"note": "Blue Note pressing"})
    assert submitted.payload["data"]["components"][0]["components"][0]["value"] == "Blue Note pressing"
    assert submitted.wait_original()["content"] == "noted: Blue Note pressing"


def test_slash_in_a_dm(server: FakeDiscord) -> None:
    erin = server.user(5006, "Erin")
    inter = server.slash("ping", erin)
    assert inter.payload["context"] == 1 and inter.payload["channel"]["type"] == 1 and "member" not in inter.payload
    original = inter.wait_original()
    assert original["content"] == "pong" and "guild_id" not in original
    assert int(original["channel_id"]) == int(server.dm_channel(erin)["id"])


def test_a_message_command_on_a_users_message(server: FakeDiscord) -> None:
    frank = server.user(5007, "Frank")
    msg = server.user_message(frank, "look at this one", guild_id=GUILD_ID)
    inter = server.message_command("Save record", frank, msg)
    reply = inter.wait_original()
    assert reply["content"] == f"saved {msg['id']} by {frank['id']}" and reply["flags"] & 64
    assert reply["type"] == 23


def test_unregistered_commands_and_bad_tokens_are_refused(server: FakeDiscord) -> None:
    with pytest.raises(LookupError):
        server.slash("nope", server.user(5008, "Gus"), guild_id=GUILD_ID)
    req = urllib.request.Request(f"{server.api_url}/users/@me", headers={"Authorization": "Bot wrong"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 401
    assert json.loads(err.value.read()) == {"message": "401: Unauthorized", "code": 0}
    assert err.value.headers["X-RateLimit-Bucket"]


def test_a_user_command_resolves_a_member(server: FakeDiscord) -> None:
    gus, hal = server.user(5009, "Gus"), server.user(5010, "Hal")
    reply = server.user_command("Crate of", gus, hal, guild_id=GUILD_ID).wait_original()
    assert reply["content"] == "Hal's crate (Member)"


def test_autocomplete_and_a_select_menu(server: FakeDiscord) -> None:
    ivy = server.user(5011, "Ivy")
    auto = server.autocomplete("genre", ivy, guild_id=GUILD_ID,
                               options=[{"name": "name", "type": 3, "value": "j", "focused": True}])
    assert auto.wait_response() == {"type": 8, "data": {"choices": [{"name": "Jazz", "value": "jazz"},
                                                                     {"name": "Jungle", "value": "jungle"}]}}
    shown = server.slash("genre", ivy, guild_id=GUILD_ID, options=[{"name": "name", "type": 3, "value": "jazz"}])
    msg = shown.wait_original()
    assert msg["content"] == "genre jazz" and msg["components"][0]["components"][0]["type"] == 3
    pick = server.click(ivy, msg, "pick", values=["jazz", "soul"])
    assert pick.payload["data"] == {"custom_id": "pick", "component_type": 3, "id": 2, "values": ["jazz", "soul"]}
    assert pick.wait_response()["data"]["content"] == "picked jazz, soul"
    assert server.messages[int(msg["id"])]["content"] == "picked jazz, soul"


def test_channel_message_with_a_file_own_reaction_and_a_dm(harness: Harness, server: FakeDiscord) -> None:
    jo = server.user(5012, "Jo")
    server.fail("POST", rf"/channels/{CHANNEL_ID}/messages", 429, retry_after=0.05)   # retried by discord.py
    inter = server.slash("announce", jo, guild_id=GUILD_ID)
    assert inter.wait_original()["content"] == "on it"
    posted = server.wait_message(lambda m: m["content"] == "Record of the day", channel_id=CHANNEL_ID)
    deadline = time.monotonic() + 10   # the request's status is recorded just after its message is stored
    while None in [r.status for r in server.requests_to("POST", rf"/channels/{CHANNEL_ID}/messages")] \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.status for r in server.requests_to("POST", rf"/channels/{CHANNEL_ID}/messages")][-2:] == [429, 200]
    assert posted["attachments"][0]["filename"] == "a.png" and posted["author"]["id"] == str(server.bot_id)
    dm = server.wait_message(lambda m: m["content"].startswith("psst"))
    assert int(dm["channel_id"]) == int(server.dm_channel(jo)["id"])
    reaction = harness.bot.wait_seen("raw_reaction_add", lambda p: p.message_id == int(posted["id"]))
    assert reaction.user_id == server.bot_id and str(reaction.emoji) == "🔥"
    server.wait_request("PUT", rf"/channels/{CHANNEL_ID}/messages/{posted['id']}/reactions/.+/@me")


def test_discords_limits_are_enforced(server: FakeDiscord) -> None:
    reply = server.slash("long", server.user(5013, "Kim"), guild_id=GUILD_ID).wait_original()
    assert reply["content"] == "error 50035: Invalid Form Body\nIn data.content: Must be 2000 or fewer in length."


def test_the_client_resumes_after_a_dropped_connection(server: FakeDiscord) -> None:
    resumes = sum(1 for f in server.gateway_received if f.get("op") == 6)
    server.disconnect(4000)
    server.wait_ready(10)
    assert sum(1 for f in server.gateway_received if f.get("op") == 6) == resumes + 1
    assert server.dispatched[-1]["t"] == "RESUMED"
    assert server.slash("ping", server.user(5014, "Lou"), guild_id=GUILD_ID).wait_original()["content"] == "pong"


def _standalone_client(monkeypatch: pytest.MonkeyPatch, fake: FakeDiscord, intents: discord.Intents,
                       token: str) -> BaseException | None:
    """Run a bare client against ``fake`` until it fails (or 10 s); return what it raised."""
    monkeypatch.setattr(discord.http.Route, "BASE", f"{fake.base_url}/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    client = discord.Client(intents=intents)

    async def run() -> BaseException | None:
        try:
            await asyncio.wait_for(client.start(token), 10)
        except BaseException as exc:   # noqa: BLE001 - returned to the test
            return exc
        finally:
            await client.close()
        return None

    return asyncio.run(run())


def test_privileged_intents_and_bad_tokens_are_refused_at_login(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeDiscord() as fake:
        greedy = discord.Intents.default()
        greedy.message_content = True
        exc = _standalone_client(monkeypatch, fake, greedy, fake.token)
        assert isinstance(exc, discord.PrivilegedIntentsRequired)
        exc = _standalone_client(monkeypatch, fake, discord.Intents.none(), "not-the-token")
        assert isinstance(exc, discord.LoginFailure)
