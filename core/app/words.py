"""The wording every platform shares: what the collector reads whichever chat they use. Platform words (a
command only one platform has, "tap" or "click", how a file is sent) belong to that platform's renderer."""
from __future__ import annotations

#: the currencies Discogs quotes prices in
#: the 🟢 buy choices offered in /settings: the collector's top 1, 2, 5 or 10 % (of records other collectors bought)
BUY_SHARES = (1, 2, 5, 10)
CURRENCIES = ("EUR", "USD", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "NZD", "MXN", "BRL", "ZAR")

HELP = ("Paste a Discogs release or master link (or a release id, or the digits under a barcode) and I'll tell "
        "you how well it fits your collection. React 👍 / 👎 to a score, or say \"bought\" when you buy it.")
NOT_KNOWN = ("I don't know your collection yet. /link your Discogs username (I read it at once), or /import your "
             "Discogs CSV export, then paste the link again.")
NOT_SYNCED = "You're linked to Discogs as {name}, but I haven't read your collection yet: send /sync first."
NOT_LINKED = "You're not linked to Discogs yet: /link your username (or /token), then /sync."
OFFLINE = "Live Discogs look-ups are switched off on this bot, so I can't reach Discogs for that."
FORGET_ASK = ("This deletes everything I know about you: your imported collection and wantlist, your Discogs link "
              "and token, every score, your 👍/👎, your models and the records you watch. Are you sure?")
FORGOTTEN = ("🗑 Done. I deleted your {collection} collection and wantlist records, {scores} scores, {feedback} "
             "reactions, {models} models, {watches} watched records and your Discogs link. /link or /import "
             "whenever you want to start again.")
NOTHING_TO_FORGET = "I had nothing stored about you. Nothing to delete."
NO_CARD_YET = "Paste a Discogs link first — then I'll take your 👍 / 👎 on it."
BUSY = "I'm still busy with your {what}; I'll tell you when it's done."
SYNC_STOPPED = "Sync stopped: {why} Nothing was lost; try /sync again later."
NEEDS_LOGIN = ("Barcode {shown}: Discogs only searches barcodes for a signed-in account, and you haven't linked one "
               "with a token. Link yours with /token (a personal token: Discogs → Settings → Developers), then send "
               "the barcode again — or paste the record's Discogs link.")
BAD_CHECK_DIGIT = ("That looks like a barcode, but its digits don't add up (the last one is a check digit). Check "
                   "them against the sleeve and type them again, or paste the record's Discogs link.")
MORE_LINKS = ("That message has {total} Discogs links; I scored the first {n}. Send the others a few at a time "
              "(up to {n} per message).")
NO_LINK = "I couldn't find a Discogs link or release id in that. " + HELP
SORRY = "Sorry — something went wrong on my side while scoring that. Please try again."
NO_SUCH_PICK = "There's no pick {n} on that page: pick a number from the list."
NO_PICKS_YET = "Send /discover first: then a number opens that pick."
GONE = "I don't have that score any more."
#: the words a collector may use for each setting (``/settings buy 5``): the setting's key for ``change_setting``
SETTING_NAMES = {"buy": "buy", "threshold": "buy", "currency": "cur", "cur": "cur", "adventurous": "adv",
                 "adv": "adv", "explore": "adv"}
SERVER_ONLY = "That one works in a server (it's about the members there)."
