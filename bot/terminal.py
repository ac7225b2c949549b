"""Terminal chat adapter: the same conversation the Telegram and Discord bots speak, on stdin/stdout."""
from __future__ import annotations

import sys
from typing import TextIO

from core.app import CrateApp, PickPage


def run_chat(app: CrateApp, user: str, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    stdin = sys.stdin if stdin is None else stdin      # looked up per call: a default bound at import time
    stdout = sys.stdout if stdout is None else stdout  # would ignore later redirection of sys.stdin/stdout
    stdout.write(f"Crate Digger — chatting as {user}. Paste a Discogs link, 👍 / 👎 / bought, /discover [words] "
                 "(then /more), or 'quit'.\n")
    stdout.flush()
    page: PickPage | str | None = None
    for line in stdin:
        text = line.strip()
        if text.lower() in {"quit", "exit", "/quit"}:
            break
        if text.lower().startswith(("/discover", "/more")):
            page = _discover(app, user, text, page)
            stdout.write((page if isinstance(page, str) else page.text) + "\n\n")
            stdout.flush()
            continue
        for reply in app.handle(user, text):
            stdout.write(reply.text + "\n\n")
        stdout.flush()
    stdout.write("bye\n")


def _discover(app: CrateApp, user: str, text: str, last: PickPage | str | None) -> PickPage | str:
    """/discover [words]: a first page of picks; /more: the next page of the last list."""
    if text.lower().startswith("/more"):
        if not isinstance(last, PickPage):
            return "Send /discover first."
        return app.discover_turn(user, last.session, last.page + 1)
    return app.discover(user, text[len("/discover"):].strip() or None)
