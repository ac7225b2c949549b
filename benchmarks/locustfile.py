"""Locust: Telegram posting real Update JSON to the bot's webhook (benchmarks/bench_webhook.py drives it).

Each simulated chat posts "is <release link> worth it?" for a cached release at a constant pace, so the total is
``CRATE_LOAD_RATE`` updates a second; the secret token header is the one the bot was started with. Every post's
send time (``time.perf_counter``, the machine's monotonic clock, shared with the other processes) and chat id
are appended to ``CRATE_LOAD_SENT`` so the card's arrival at the fake Bot API can be matched to it.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import time

from locust import HttpUser, constant_throughput, events, task

RATE = float(os.environ.get("CRATE_LOAD_RATE", "167"))
USERS = int(os.environ.get("CRATE_LOAD_USERS", "50"))
SECRET = os.environ.get("CRATE_LOAD_SECRET", "")
PATH = os.environ.get("CRATE_LOAD_PATH", "/tg-hook")
RELEASES = [int(x) for x in os.environ.get("CRATE_LOAD_RELEASES", "1").split(",")]
CHATS = [int(x) for x in os.environ.get("CRATE_LOAD_CHATS", "1").split(",")]
SENT = os.environ.get("CRATE_LOAD_SENT", "sent.jsonl")
_update_ids = itertools.count(10_000_000 + os.getpid() * 100_000)
_chats = itertools.cycle(CHATS)
_log = open(SENT, "a", buffering=1, encoding="utf-8")


class Telegram(HttpUser):
    wait_time = constant_throughput(RATE / USERS)

    def on_start(self) -> None:
        self.chat = next(_chats)
        self.rng = random.Random(self.chat)

    @task
    def paste_a_link(self) -> None:
        rid = self.rng.choice(RELEASES)
        uid = next(_update_ids)
        user = {"id": self.chat, "is_bot": False, "first_name": f"User{self.chat}", "language_code": "en"}
        link = f"https://www.discogs.com/release/{rid}"
        text = f"is {link} worth it?"
        update = {"update_id": uid, "message": {
            "message_id": uid, "from": user, "date": int(time.time()),
            "chat": {"id": self.chat, "type": "private", "first_name": user["first_name"]},
            "text": text, "entities": [{"type": "url", "offset": 3, "length": len(link)}]}}
        t0 = time.perf_counter()
        with self.client.post(PATH, data=json.dumps(update), catch_response=True, name="webhook",
                              headers={"Content-Type": "application/json",
                                       "X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
        _log.write(json.dumps({"t": t0, "chat": self.chat, "update": uid, "status": resp.status_code}) + "\n")


@events.quitting.add_listener
def _close(**_kw: object) -> None:
    _log.flush()
