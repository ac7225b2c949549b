"""Telegram webhook mode with N worker processes behind one port.

    crate run telegram --webhook https://bot.example.org/crate --port 8443 --workers 4

The parent process starts ``--workers`` processes and supervises them (a worker that dies is started again;
SIGTERM/SIGINT stop them all). Each worker is a whole bot: its own python-telegram-bot ``Application`` (handlers,
journal, learning scheduler), its own connections to the shared database, and an aiohttp server listening on the
same port with ``SO_REUSEPORT``, so the kernel spreads Telegram's connections over the workers — the "custom
webhook" pattern of python-telegram-bot's examples: the server puts each update on ``application.update_queue``
(journalled before the 200 goes back, :class:`bot.telegram.durable.JournalQueue`).

Shared state is in the database only: cards, feedback, the inbox, the scheduler's jobs. One worker leads the
scheduled jobs (:mod:`core.learning.leader`); worker 0 registers the webhook and replays updates journalled
before the last stop. Telegram's secret token (``X-Telegram-Bot-Api-Secret-Token``) is the same for every worker:
``TELEGRAM_WEBHOOK_SECRET`` if set, else made by the parent and handed to the workers (never logged).
Many workers want PostgreSQL (``DATABASE_URL``): SQLite takes one writer at a time.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import secrets
import signal
import sys
import time
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

SECRET_ENV = "TELEGRAM_WEBHOOK_SECRET"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def serve_updates(app: Any, *, listen: str, port: int, path: str, secret: str) -> Any:
    """Accept Telegram's POSTs on ``/path`` (the secret checked) and queue them on the application; returns the
    aiohttp runner (``await runner.cleanup()`` stops it)."""
    from aiohttp import web
    from telegram import Update

    async def receive(request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, app.bot)
        except Exception:
            return web.Response(status=400, text="not an Update")
        if update is None:
            return web.Response(status=400, text="not an Update")
        await app.update_queue.put(update)   # journalled first: a 200 means it is kept
        return web.Response(status=200)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application(client_max_size=1 << 20)
    web_app.router.add_post(f"/{path}", receive)
    web_app.router.add_get("/healthz", health)
    runner = web.AppRunner(web_app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, listen, port, reuse_port=True).start()
    return runner


def _worker(index: int, n: int, webhook: str, listen: str, port: int, database: str | None, secret: str,
            ready: Any = None) -> None:
    """One worker process: a whole bot behind the shared port."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s w{index} %(name)s: %(message)s")
    from core.app import build_app, install_redaction, register_secret

    from .app import BASE_URL_ENV, TOKEN_ENV, build_application
    from .handlers import ALLOWED_UPDATES

    install_redaction()
    token = os.environ[TOKEN_ENV].strip()
    register_secret(token)
    register_secret(secret)
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    base_url = os.environ.get(BASE_URL_ENV, "").strip() or None
    tg = build_application(token, build_app(database, workers=True), base_url=base_url)
    tg.replays_pending = index == 0   # type: ignore[attr-defined]   # one worker replays the journal
    path = urlsplit(webhook).path.strip("/")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await tg.initialize()
        if tg.post_init is not None:
            await tg.post_init(tg)
        if index == 0:
            await tg.bot.set_webhook(webhook, secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        await tg.start()
        runner = await serve_updates(tg, listen=listen, port=port, path=path, secret=secret)
        print(f"worker {index + 1} of {n} ready (pid {os.getpid()})", flush=True)
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await tg.stop()
            if tg.post_shutdown is not None:
                await tg.post_shutdown(tg)
            await tg.shutdown()

    asyncio.run(main())


def run_workers(*, webhook: str, listen: str, port: int, workers: int, database: str | None) -> int:
    """Start ``workers`` worker processes on one port and supervise them until SIGTERM/SIGINT."""
    secret = os.environ.get(SECRET_ENV, "").strip() or secrets.token_urlsafe(32)
    ctx = multiprocessing.get_context("spawn")
    procs: dict[int, Any] = {}
    readies: dict[int, Any] = {}
    stopping = False
    failed: int | None = None

    def start(i: int) -> None:
        readies[i] = ctx.Event()
        p = ctx.Process(target=_worker, args=(i, workers, webhook, listen, port, database, secret, readies[i]),
                        name=f"crate-webhook-{i}", daemon=False)
        p.start()
        procs[i] = p

    def stop(_sig: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"Crate Digger on Telegram: webhook {webhook}, {workers} workers on {listen}:{port}", flush=True)
    for i in range(workers):
        start(i)
    restarts: dict[int, float] = {}
    while not stopping:
        time.sleep(0.5)
        for i, p in list(procs.items()):
            if not p.is_alive() and not readies[i].is_set():   # it never started: a restart would fail the same
                failed, stopping = i, True
                print(f"worker {i + 1} could not start (code {p.exitcode}); stopping. See the lines above.",
                      file=sys.stderr, flush=True)
                break
            if not p.is_alive() and not stopping:
                wait = 1.0 if time.monotonic() - restarts.get(i, 0.0) > 30 else 10.0   # a crash loop slows down
                log.warning("webhook worker %d exited (code %s): starting it again in %.0f s", i, p.exitcode, wait)
                print(f"worker {i + 1} exited (code {p.exitcode}); starting it again", file=sys.stderr, flush=True)
                time.sleep(wait)
                restarts[i] = time.monotonic()
                start(i)
    for p in procs.values():
        if p.is_alive() and p.pid is not None:
            os.kill(p.pid, signal.SIGTERM)
    for p in procs.values():
        p.join(30)
        if p.is_alive():
            p.kill()
    print("stopped", flush=True)
    return 1 if failed is not None else 0
