"""``crate run telegram discord``: both bots in one process, over one database and one learning scheduler.

Telegram's application is started by hand (``initialize``, ``post_init``, ``start``, polling) instead of
``run_polling``, so that the Discord client shares its event loop; the Telegram side's scheduler serves both
(Discord users' digests go to the Discord client, Discord feedback schedules retrains on it).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from core.app import CrateApp, build_app, install_redaction, register_secret

log = logging.getLogger(__name__)


def run(platforms: list[str], *, database: str | None = None, app: CrateApp | None = None) -> int:
    """Run every bot named in ``platforms`` until interrupted; returns an exit status."""
    from bot.discord import app as dapp
    from bot.telegram import app as tapp

    platforms = list(dict.fromkeys(platforms))
    tokens = {}
    for p, env in (("telegram", tapp.TOKEN_ENV), ("discord", dapp.TOKEN_ENV)):
        if p in platforms:
            tokens[p] = os.environ.get(env, "").strip()
            if not tokens[p]:
                print(f"Set {env} to the bot token (see README).", file=sys.stderr)
                return 2
    if platforms == ["telegram"]:
        return tapp.run(database=database, app=app)
    if getattr(logging.getLogRecordFactory(), "_crate_redactor", None) is None:
        install_redaction()
    for t in tokens.values():
        register_secret(t)
    try:
        asyncio.run(_serve(platforms, tokens, app or build_app(database, workers=True)))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(platforms: list[str], tokens: dict[str, str], app: CrateApp) -> None:
    """Both bots over one application: one database, one set of workers, one learning scheduler."""
    from bot.discord.app import build_client
    from bot.telegram.app import BASE_URL_ENV, build_application
    from bot.telegram.handlers import ALLOWED_UPDATES, post_init, post_shutdown

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    tg_base = os.environ.get(BASE_URL_ENV, "").strip() or None
    tg = build_application(tokens["telegram"], app, base_url=tg_base) if "telegram" in platforms else None
    dc = build_client(app, start_learning=tg is None) if "discord" in platforms else None
    tasks = []
    try:
        if tg is not None:
            await tg.initialize()
            crate = tg.bot_data["crate"]
            if dc is not None:
                crate.other_digests = dc.send_digest
                crate.other_alerts = dc.send_alert
            await post_init(tg)
            await tg.start()
            assert tg.updater is not None
            await tg.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            print("Crate Digger on Telegram: polling for updates", flush=True)
        if dc is not None:
            tasks.append(asyncio.create_task(dc.start(tokens["discord"])))
            print("Crate Digger on Discord: connecting to the gateway", flush=True)
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not waiter and t.exception() is not None:
                log.error("a bot stopped", exc_info=t.exception())
    finally:
        if dc is not None:
            await dc.close()
        if tg is not None:
            if tg.updater is not None and tg.updater.running:
                await tg.updater.stop()
            if tg.running:
                await tg.stop()
            await post_shutdown(tg)
            await tg.shutdown()
