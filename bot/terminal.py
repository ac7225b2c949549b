"""Terminal chat adapter: the same conversation the Telegram and Discord bots speak, on stdin/stdout."""
from __future__ import annotations

import sys
from typing import TextIO

from core.app import CrateApp


def run_chat(app: CrateApp, user: str, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    stdin = sys.stdin if stdin is None else stdin      # looked up per call: a default bound at import time
    stdout = sys.stdout if stdout is None else stdout  # would ignore later redirection of sys.stdin/stdout
    stdout.write(f"Crate Digger — chatting as {user}. Paste a Discogs link, 👍 / 👎 / bought, or 'quit'.\n")
    stdout.flush()
    for line in stdin:
        text = line.strip()
        if text.lower() in {"quit", "exit", "/quit"}:
            break
        for reply in app.handle(user, text):
            stdout.write(reply.text + "\n\n")
        stdout.flush()
    stdout.write("bye\n")
