"""The Telegram adapter: python-telegram-bot 22 (asyncio) in front of ``core``; it only translates."""
