"""Build and run the Telegram bot (python-telegram-bot 22, asyncio).

    TELEGRAM_BOT_TOKEN=123:abc crate run telegram                 # long polling
    TELEGRAM_BOT_TOKEN=123:abc crate run telegram --webhook https://bot.example.org/crate

``TELEGRAM_API_BASE_URL`` points the bot at a self-hosted Bot API server (or, in the tests, a local fake):
requests go to ``{url}/bot<token>/<method>``, file downloads to ``{url}/file/bot<token>/<path>``.
The token is registered with the log redaction and never printed.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from urllib.parse import urlsplit

from telegram.ext import Application
from telegram.request import BaseRequest

from core.app import CrateApp, Recommender, build_app, install_redaction, register_secret

from .durable import DurableApplication, JournalQueue
from .handlers import ALLOWED_UPDATES, CrateBot, post_init, post_shutdown, register
from .limits import FitToLimits

log = logging.getLogger(__name__)

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
BASE_URL_ENV = "TELEGRAM_API_BASE_URL"


def build_application(token: str, recommender: Recommender | CrateApp, *, base_url: str | None = None,
                      request: BaseRequest | None = None, get_updates_request: BaseRequest | None = None,
                      concurrent_updates: bool | int = True, progress_interval: float = 1.0) -> Application:
    """An Application with every handler wired to the application (or one built over ``recommender``, with
    worker processes as configured); ``base_url``: a self-hosted Bot API server.

    ``request`` / ``get_updates_request`` replace python-telegram-bot's HTTP layer (the tests' fake).
    Updates are handled concurrently (``concurrent_updates``), blocking work runs in worker threads.
    """
    register_secret(token)
    app_ = recommender if isinstance(recommender, CrateApp) else build_app(recommender=recommender, workers=True)
    bot = CrateBot(app_, progress_interval=progress_interval)
    inbox = bot.app.inbox("telegram")
    builder = (Application.builder().token(token).concurrent_updates(concurrent_updates)
               .application_class(DurableApplication).update_queue(JournalQueue(inbox))
               .rate_limiter(FitToLimits()))
    if base_url:
        url = base_url.rstrip("/")
        builder = builder.base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    app = builder.post_init(post_init).post_shutdown(post_shutdown).build()
    assert isinstance(app, DurableApplication)
    app.inbox = inbox
    register(app, bot)
    return app


def _redaction_installed() -> bool:
    return getattr(logging.getLogRecordFactory(), "_crate_redactor", None) is not None


def run(*, webhook: str | None = None, listen: str = "0.0.0.0", port: int = 8443,
        database: str | None = None, app: CrateApp | None = None) -> int:
    """Run the bot until interrupted; returns an exit status."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"Set {TOKEN_ENV} to the token BotFather gave you (see README, 'Telegram bot').", file=sys.stderr)
        return 2
    register_secret(token)
    if webhook:
        try:
            import tornado  # noqa: F401  (python-telegram-bot's webhook server)
        except ImportError:
            print("Webhooks need python-telegram-bot's webhook extra: pip install 'python-telegram-bot[webhooks]'. "
                  "Without --webhook the bot uses long polling, which needs nothing more.", file=sys.stderr)
            return 2
    if not _redaction_installed():
        install_redaction()
    for noisy in ("httpx", "httpcore"):   # request lines carry the token in their URL (masked anyway)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    base_url = os.environ.get(BASE_URL_ENV, "").strip() or None
    tg = build_application(token, app or build_app(database, workers=True), base_url=base_url)
    if webhook:
        path = urlsplit(webhook).path.strip("/")
        secret = secrets.token_urlsafe(32)   # Telegram sends it back with every update: others can't post to us
        register_secret(secret)
        print(f"Crate Digger on Telegram: webhook {webhook} (listening on {listen}:{port})", flush=True)
        tg.run_webhook(listen=listen, port=port, url_path=path, webhook_url=webhook, secret_token=secret,
                        allowed_updates=ALLOWED_UPDATES)
    else:
        print("Crate Digger on Telegram: polling for updates (Ctrl-C stops)", flush=True)
        tg.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.telegram.app [--webhook URL]``; ``crate run telegram`` is the same."""
    ap = argparse.ArgumentParser(prog="crate run telegram")
    ap.add_argument("--webhook", help="public HTTPS URL Telegram posts updates to (default: long polling)")
    ap.add_argument("--listen", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--database")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(webhook=args.webhook, listen=args.listen, port=args.port, database=args.database)


if __name__ == "__main__":
    sys.exit(main())
