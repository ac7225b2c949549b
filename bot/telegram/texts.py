"""Telegram's own words: its commands (/start exists only here), "tap", how a file is sent."""
from __future__ import annotations

from telegram import BotCommand

from core.app import ATTRIBUTION

START = (
    "🎛 Crate Digger tells you, in seconds, whether a record is worth buying for you.\n\n"
    "Paste a Discogs release or master link (or send a photo of the barcode) and I'll score it against your own "
    "collection, with reasons. Tap 👍 / 👎 or 🛒 bought (or react 👍 / 👎) and I learn from it.\n\n"
    "First, tell me your collection:\n"
    "• /link <your Discogs username>: I read your public collection and train at once\n"
    "• /token: link with a personal access token (private collection, prices), in a private chat with me\n"
    "• or send me your Discogs CSV export as a file (/import says how)\n\n"
    "/help lists everything. " + ATTRIBUTION)
HELP = (
    "What I understand:\n"
    "• a Discogs release or master link (or several): one score card each\n"
    "• a photo of a sleeve's barcode: I find the pressing and score it\n"
    "• the digits under a barcode, typed (\"0 75720 00325 9\"): the same, when a photo won't do\n"
    "• 👍 / 👎 / 🛒 on a card, or a reply like \"👎 too expensive\"\n\n"
    "/link <username> link your public Discogs collection (read and trained at once)\n"
    "/token link with a personal access token (private chat only)\n"
    "/import how to send your Discogs CSV export\n"
    "/sync read what changed in your collection and wantlist on Discogs, then retrain\n"
    "/stats what I know about you\n"
    "/discover [words] picks of what to buy next (\"/discover dark ambient for late nights\")\n"
    "/settings buy threshold, currency and how adventurous picks are\n"
    "/digest what changed since last time, with a chart\n"
    "/watch a link [max price]: tell me when it is cheap enough (or 👀 on a card); /watch lists, /unwatch stops\n"
    "/forget delete everything I know about you\n\n"
    "In groups I answer commands and messages that mention me. " + ATTRIBUTION)
IMPORT_HELP = (
    "Send me your Discogs collection export as a file (a message with the .csv attached):\n"
    "Discogs → Collection → Export → download the CSV (it also arrives by e-mail). I read it, then train your "
    "model; it takes a few seconds per thousand records. Importing replaces what I had from an earlier import.")
APOLOGY = "Sorry — something went wrong on my side. Please try again in a moment."
TOKEN_IN_GROUP = (
    "For your safety I only take Discogs tokens in a private chat: message me directly and send /token there.{extra}")
TOKEN_PROMPT = (
    "Send me your Discogs personal access token as your next message (Discogs → Settings → Developers → Generate "
    "new token). I delete that message as soon as I've read it and store the token encrypted. /cancel to stop.")
OTHERS_SETTINGS = "These are someone else's settings: send /settings to see and change yours."
OTHERS_PICKS = "These picks are someone else's: send /discover for your own."
OTHERS_CARD = "This card was scored for someone else — paste the link yourself to get your own score."
SETTINGS_HINT = "Tap to change, or /settings buy 5 · /settings currency USD · /settings adventurous 40"
PICKS_HINT = "Tap a number to open that pick as a card (👍 / 👎 / 🛒 bought)."
EXPIRED_BUTTON = "That button has expired."

COMMANDS = [
    BotCommand("start", "what I do and how to link your collection"),
    BotCommand("help", "everything I understand"),
    BotCommand("link", "link your public Discogs collection: /link username"),
    BotCommand("token", "link with a personal access token (private chat)"),
    BotCommand("import", "import your Discogs CSV export"),
    BotCommand("sync", "read your collection from Discogs and train"),
    BotCommand("stats", "what I know about you"),
    BotCommand("discover", "picks of what to buy next: /discover [words or a mood]"),
    BotCommand("settings", "buy threshold, currency, adventurous picks"),
    BotCommand("digest", "what changed since last time"),
    BotCommand("watch", "watch a record's price: /watch link [max price]; /watch lists them"),
    BotCommand("unwatch", "stop watching: /unwatch link or number"),
    BotCommand("forget", "delete everything I know about you"),
]

#: said when a card takes longer than 2.5 s (Discogs slow or rate-limiting, a photo being read); removed when it comes
ONE_MOMENT = "⏳ One moment…"
