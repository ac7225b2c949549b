"""The terminal chat: the conversation the bots speak, on stdin/stdout, with the same features through the same
calls — /link, /import a file, /sync; links and barcodes scored, 👍 / 👎 / bought on the card last shown, a pick's
number opening it, /discover and /more, /stats, /settings, /digest, /forget, /help."""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

from core.app import (
    SETTING_NAMES,
    CardReply,
    Choice,
    Context,
    CrateApp,
    Notice,
    PicksReply,
    Refusal,
    Reply,
    SettingsReply,
    render_card,
    render_picks,
)

GREETING = ("Crate Digger — chatting as {user}. Paste a Discogs link (or a barcode's digits), then 👍 / 👎 / bought; "
            "/discover [words] for picks (a number opens one, /more turns the page); /help for the rest; 'quit' to "
            "leave.")
HELP = ("What I understand here:\n"
        "• /link USERNAME: your public Discogs collection, read and trained at once · /import FILE: your Discogs "
        "CSV export · /sync: read what changed\n"
        "• a Discogs release or master link, or a release id, or the digits under a barcode: a score card\n"
        "• 👍 / 👎 / bought (\"👎 too expensive\"): feedback on the card last shown\n"
        "• /discover [words]: picks of what to buy next; a pick's number opens it as a card; /more: the next page\n"
        "• /watch LINK [MAX PRICE]: watch its price · /watch: the list · /unwatch N · /watch quiet 22-8\n"
        "• /stats what I know about you · /settings [buy 5 | currency USD | adventurous 40] · /digest what changed"
        "\n• /forget deletes everything about you (asks first) · quit")
_BEAT = re.compile(r"…? \d+ s$")   # the seconds core's heartbeat adds to a step that goes on
SETTINGS_HINT = "Change with /settings buy 5 · /settings currency USD · /settings adventurous 40"
PICKS_HINT = "Send a pick's number to open it as a card (then 👍 / 👎 / bought)."
CHOICE_HINT = "Send the number of yours."


def render(reply: Reply) -> str:
    """A typed reply as terminal text."""
    if isinstance(reply, CardReply):
        return render_card(reply.card)
    if isinstance(reply, PicksReply):
        return render_picks(reply.page.picks, reply.page.page, hint=PICKS_HINT)
    if isinstance(reply, SettingsReply):
        return f"{reply.text}\n{SETTINGS_HINT}"
    if isinstance(reply, Choice):
        return f"{reply.text}\n{CHOICE_HINT}"
    return reply.text


class TerminalChat:
    def __init__(self, app: CrateApp, user: str, say: Callable[[str], None] | None = None) -> None:
        self.app, self.user = app, user
        self.say = say or (lambda _line: None)   # progress of long work (a sync, a training), as it goes
        self.context = Context()
        self.confirming = False
        self._shown = self._stem = ""
        self._at = 0.0

    def _progress(self, text: str) -> None:
        """A new step gets a line; the same step going on (core's heartbeat, "… 12 s") one every 15 s at most:
        a terminal keeps every line, where a chat edits one message."""
        line = text.strip().splitlines()[-1] if text.strip() else ""
        stem, now = _BEAT.sub("…", line), time.monotonic()
        if not line or line == self._shown or (stem == self._stem and now - self._at < 15.0):
            return
        self._shown, self._stem, self._at = line, stem, now
        self.say(f"  … {line}")

    def turn(self, text: str) -> list[Reply]:
        """One line typed: commands here, everything else through the conversation."""
        low = text.lower()
        if self.confirming:
            self.confirming = False
            if low in ("yes", "y"):
                self.context = Context()
                return [Notice(self.app.forget(self.user))]
            return [Notice("OK — nothing deleted.")]
        command, _, rest = low.partition(" ")
        try:
            if command == "/help":
                return [Notice(HELP)]
            if command in ("/link", "/import", "/sync"):
                return [self._account(command, text[len(command):].strip())]
            if command == "/discover":
                replies: list[Reply] = [self.app.picks.discover(self.user, text[len("/discover"):].strip() or None)]
            elif command == "/more":
                if self.context.picks is None:
                    return [Notice("Send /discover first.")]
                replies = [self.app.picks.turn(self.user, self.context.picks, self.context.page + 1)]
            elif command == "/stats":
                return [Notice(self.app.accounts.stats(self.user))]
            elif command == "/settings":
                return [self._settings(rest.split())]
            elif command == "/digest":
                return [Notice(self.app.digest(self.user).text)]
            elif command == "/forget":
                self.confirming = True
                return [Notice(f"{self.app.forget_question} (yes / no)")]
            else:
                return self.app.handle(self.user, text, context=self.context)
        except Refusal as exc:
            return [Notice(exc.message)]
        self.context.seen(replies)
        return replies

    def _account(self, command: str, arg: str) -> Reply:
        """/link USERNAME, /import FILE, /sync: the collection read (then trained), progress said as it goes."""
        accounts = self.app.accounts
        if command == "/import":
            path = Path(arg).expanduser()
            if not arg or not path.is_file():
                return Notice("Give the path of your Discogs CSV export: /import ~/Downloads/collection.csv")
            result = accounts.import_upload(self.user, path.name, path.read_bytes())
            head = f"📥 Imported {result.n_items} records from {path.name}."
            return Notice(f"{head}\n{accounts.train(self.user, self._progress, head)}")
        head = ""
        if command == "/link":
            if not arg or " " in arg:
                return Notice("Tell me your Discogs username: /link your_username")
            head = f"🔗 Linked to Discogs user {accounts.link_username(self.user, arg)}.\n"
        return Notice(accounts.sync(self.user, self._progress, head).summary(head))

    def _settings(self, args: list[str]) -> Reply:
        if len(args) == 2 and args[0] in SETTING_NAMES:
            return self.app.change_setting(self.user, SETTING_NAMES[args[0]], args[1])
        return self.app.settings(self.user, "Use /settings buy 5, /settings currency USD or /settings adventurous 40."
                                 if args else None)


def run_chat(app: CrateApp, user: str, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    stdin = sys.stdin if stdin is None else stdin      # looked up per call: a default bound at import time
    stdout = sys.stdout if stdout is None else stdout  # would ignore later redirection of sys.stdin/stdout
    stdout.write(GREETING.format(user=user) + "\n")
    stdout.flush()
    def say(line: str) -> None:
        stdout.write(line + "\n")
        stdout.flush()

    chat = TerminalChat(app, user, say)
    for line in stdin:
        text = line.strip()
        if text.lower() in {"quit", "exit", "/quit"}:
            break
        if not text:
            continue
        for reply in chat.turn(text):
            stdout.write(render(reply) + "\n\n")
        stdout.flush()
    stdout.write("bye\n")
