"""The use cases every chat adapter shares (see :mod:`core.app`). Synchronous: adapters with an event loop run
them in a worker thread (``asyncio.to_thread``)."""
from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.app.conversation import Conversation, Reply
from core.app.discover import EXPIRED, KIND_LABELS, DiscoverPages, PickPage
from core.app.inbox import DurableInbox
from core.app.jobs import InProcessJobs, Jobs, WorkerDied, WorkerJobs
from core.barcode import NO_BARCODE_HINT, PhotoError
from core.discogs.gateway import DiscogsGateway
from core.discogs.sync import CollectionSync, SyncReport
from core.ingest.readers import ReaderError
from core.learning.digest import add_picks, build_digest, mark_sent
from core.picks import Discoverer
from core.picks.service import NothingToGoOn  # (matplotlib loads only when a digest is drawn)
from core.recommender import Recommender, ScoreCard
from core.storage import ForgetReport

log = logging.getLogger(__name__)

#: the currencies Discogs quotes prices in
CURRENCIES = ("EUR", "USD", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "NZD", "MXN", "BRL", "ZAR")

NOT_KNOWN = ("I don't know your collection yet. /link your Discogs username (I read it at once), or send me your "
             "Discogs CSV export (see /import), then paste the link again.")
NOT_SYNCED = "You're linked to Discogs as {name}, but I haven't read your collection yet: send /sync first."
OFFLINE = "Live Discogs look-ups are switched off on this bot, so I can't reach Discogs for that."
FORGET_ASK = ("This deletes everything I know about you: your imported collection and wantlist, your Discogs link "
              "and token, every score, your 👍/👎 and your models. Are you sure?")

Progress = Callable[[str], None]


@dataclass
class SyncOutcome:
    """What a sync read, and the lines that say so (the training line last when it trained)."""

    reports: list[SyncReport]
    lines: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(r.added for r in self.reports)


class CrateApp:
    """The use cases, over one :class:`~core.recommender.Recommender` (and its store)."""

    def __init__(self, recommender: Recommender, conversation: Conversation | None = None,
                 jobs: Jobs | None = None) -> None:
        self.rec = recommender
        self.conv = conversation or Conversation(recommender)
        #: where imports, trainings and photos run (the bots: worker processes, see core.app.jobs)
        self.jobs: Jobs = jobs or InProcessJobs(recommender)
        self._pages: DiscoverPages | None = None

    @property
    def pages(self) -> DiscoverPages:
        if self._pages is None:
            self._pages = DiscoverPages(Discoverer(self.rec))
        return self._pages

    # -- what the user has ---------------------------------------------------------------------------------
    def knows(self, user: str) -> str | None:
        """None when the user has something to be scored against, else what to tell them."""
        store = self.rec.store
        if store.active_model(user) is not None or store.collection(user):
            return None
        acct = store.linked_account(user)
        return NOT_SYNCED.format(name=acct.discogs_username) if acct is not None else NOT_KNOWN

    @property
    def live(self) -> bool:
        return bool(self.rec.live)

    # -- messages ------------------------------------------------------------------------------------------
    def handle(self, user: str, text: str, score_id: int | None = None, *, event_id: str | int | None = None,
               source: str = "chat") -> list[Reply]:
        """A message: links, release ids and typed barcodes become score cards; 👍 / 👎 / bought is feedback."""
        return self.conv.handle(user, text, score_id, event_id=event_id, source=source)

    def photo(self, user: str, data: bytes) -> list[Reply]:
        """A photo of a barcode: the pressing's card, the pressings to choose from, or what to try instead."""
        try:
            result = self.jobs.decode_photo(data)
        except PhotoError as exc:
            return [Reply(exc.user_message)]
        except WorkerDied as exc:
            return [Reply(str(exc))]
        if not result.codes:
            return [Reply(NO_BARCODE_HINT)]
        return self.conv.pressings(user, result.found)

    # -- linking and reading the collection ---------------------------------------------------------------
    def link_username(self, user: str, name: str) -> None:
        """Link a public collection (raises ``DiscogsError`` with its user message when Discogs says no)."""
        gw = self.rec.gateway_for(None)
        gw.collection_page(name, 1, per_page=1)   # exists and public? (else a DiscogsError with its message)
        currency = self.rec.store.get_settings(user).get("currency")
        self.rec.store.link_account(user, name, "username", currency=currency)

    def link_token(self, user: str, token: str) -> str:
        """Link with a personal token (stored encrypted); returns the Discogs user name it belongs to."""
        box = self.rec.secret_box   # a key problem is said before the token goes anywhere
        name = DiscogsGateway(token=token, cfg=self.rec.cfg).identity()
        currency = self.rec.store.get_settings(user).get("currency")
        self.rec.store.link_account(user, name, "token", token=token, box=box, currency=currency)
        return name

    def linked_name(self, user: str) -> str | None:
        acct = self.rec.store.linked_account(user)
        return acct.discogs_username if acct is not None else None

    def sync(self, user: str, progress: Progress | None = None, head: str = "") -> SyncOutcome:
        """Read the linked collection and wantlist, then retrain when something was added or there is no model
        yet (the policy). ``progress`` gets every step's text, led by ``head``."""
        say = progress or (lambda _msg: None)
        store = self.rec.store
        if store.linked_account(user) is None:
            raise LookupError("not linked")
        reports = CollectionSync(self.rec.gateway_for(user), store, self.rec.cfg.discogs.per_page).sync_linked(
            user, progress=lambda list_name, done, total: say(f"{head}🔄 Reading your {list_name}: {done} of {total}…"))
        out = SyncOutcome(reports, [f"{'📀' if r.list_name == 'collection' else '⭐'} {r.list_name}: {r.total} on "
                                    f"Discogs, {r.added} new" for r in reports])
        if out.added or store.active_model(user) is None:
            out.lines.append(self.train(user, progress, head + "\n".join(out.lines)))
        else:
            out.lines.append("Nothing new, so your model stays as it is.")
        return out

    def import_upload(self, user: str, name: str, data: bytes) -> Any:
        """Import an uploaded file's bytes (kept under a temp name with its own suffix): the ``ImportResult``,
        or a string saying what went wrong."""
        suffix = "".join(c for c in Path(name).suffix if c.isalnum() or c == ".")[:10]
        with tempfile.TemporaryDirectory(prefix="crate-upload-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                result = self.jobs.import_file(user, path)
            except ReaderError as exc:
                why = str(exc).replace(f"{path}: ", "").replace(str(path), name)
                return (f"I couldn't read {name}: {why}. Send the CSV file of your Discogs collection export "
                        "(Discogs → Collection → Export).")
            except WorkerDied as exc:
                return f"I couldn't finish reading {name}. {exc}"
        if not result.n_items:
            return f"I found no records in {name}. Is it the Discogs collection export (a CSV file)?"
        return result

    def train(self, user: str, progress: Progress | None = None, head: str = "") -> str:
        """Train the user's model (progress under ``head``); returns the line saying how it went."""
        say = progress or (lambda _msg: None)
        say(f"{head}\n🧠 Training your model…")
        try:
            report = self.jobs.train(user, lambda msg: say(f"{head}\n🧠 {msg}"))
        except LookupError:
            return "There's nothing to train on yet."
        except WorkerDied as exc:
            return f"🧠 Training stopped: {exc}"
        if report.cold_start:
            return (f"🧠 {report.n_positives} records is below {self.rec.cfg['model']['min_records']}: scores are "
                    "rough estimates from similar records until you have more.")
        return f"🧠 Your model is ready: trained on {report.n_positives} records in {report.seconds:.0f} s."

    # -- what the bot knows, and settings ------------------------------------------------------------------
    def stats(self, user: str) -> str:
        store = self.rec.store
        n_coll, n_want = len(store.collection(user, "collection")), len(store.collection(user, "wantlist"))
        acct, mv = store.linked_account(user), store.active_model(user)
        fb = store.feedback_counts(user)
        n_scores = len(store.scores(user))
        buy, _ = self.rec.thresholds(user)
        lines = ["📊 What I know about you"]
        if acct is None:
            lines.append("Discogs: not linked (/link or /token)")
        else:
            how = {"username": "public collection", "token": "personal token", "oauth": "OAuth"}.get(acct.auth_kind,
                                                                                                     acct.auth_kind)
            synced = f", last synced {acct.last_sync_at:%Y-%m-%d %H:%M} UTC" if acct.last_sync_at else ", never synced"
            lines.append(f"Discogs: linked as {acct.discogs_username} ({how}){synced}")
        lines.append(f"Records: {n_coll} in your collection, {n_want} in your wantlist")
        if mv is not None:
            lines.append(f"Model: version {mv.version}, trained on {mv.n_positives} records on "
                         f"{mv.created_at:%Y-%m-%d}")
        elif n_coll or n_want:
            lines.append(f"Model: none yet — rough estimates from similar records (a personal model comes at "
                         f"{self.rec.cfg['model']['min_records']} records)")
        else:
            lines.append("Model: none yet — nothing imported")
        lines.append(f"Scores: {n_scores} served")
        implicit = fb.get("implicit_bought", 0)
        lines.append(f"Feedback: {fb.get('like', 0)} 👍 · {fb.get('dislike', 0)} 👎 · {fb.get('bought', 0)} 🛒 bought"
                     + (f" · {implicit} bought after a score" if implicit else ""))
        lines.append(f"Settings: buy at ≥ {buy:.0%} · prices in {self.currency(user)}")
        lines.append("/forget deletes all of it.")
        return "\n".join(lines)

    def currency(self, user: str) -> str:
        acct = self.rec.store.linked_account(user)
        if acct is not None and acct.currency:
            return acct.currency.upper()
        return str(self.rec.store.get_settings(user).get("currency") or "EUR").upper()

    def settings(self, user: str) -> tuple[str, float, str]:
        """(the settings text, the buy threshold, the currency)."""
        buy, _ = self.rec.thresholds(user)
        currency = self.currency(user)
        adventurous = self.adventurous(user)
        text = (f"⚙️ Settings\nBuy threshold: {buy:.0%} (🟢 buy at or above it)\nCurrency for prices: {currency}\n"
                f"Adventurous picks: {adventurous:.0%} of /discover is genre exploration\n"
                "Tap to change, or /settings buy 70 · /settings currency USD · /settings adventurous 40")
        return text, buy, currency

    def set_buy_threshold(self, user: str, value: str) -> str | None:
        """Set the buy threshold from a percentage ("70", "70%"); returns what is wrong with it, or None."""
        try:
            pct = float(value.strip().rstrip("%"))
        except ValueError:
            return "The buy threshold is a percentage, like /settings buy 70."
        if not 5 <= pct <= 95:
            return "Pick a buy threshold between 5 and 95 %."
        settings = self.rec.store.get_settings(user)
        settings["buy_threshold"] = round(pct / 100, 4)
        self.rec.store.set_settings(user, settings)
        return None

    def set_currency(self, user: str, value: str) -> str | None:
        """Set the price currency (a linked account's prices follow it); returns what is wrong, or None."""
        cur = value.strip().upper()
        if cur not in CURRENCIES:
            return f"Discogs prices come in {', '.join(CURRENCIES)}."
        store = self.rec.store
        settings = store.get_settings(user)
        settings["currency"] = cur
        store.set_settings(user, settings)
        acct = store.linked_account(user)
        if acct is not None:   # prices follow the linked account's currency
            secrets = store.account_secrets(user, self.rec.secret_box) if acct.has_secrets else {}
            given = {k: v for k, v in secrets.items() if v}
            store.link_account(user, acct.discogs_username, acct.auth_kind, **given,
                               box=self.rec.secret_box if given else None, currency=cur)
        return None

    # -- discover ------------------------------------------------------------------------------------------
    def discover(self, user: str, words: str | None = None, progress: Progress | None = None) -> PickPage | str:
        """A first page of picks (``words``: a style or mood, optional), or what to tell the collector instead."""
        missing = self.knows(user)
        if missing is not None:
            return missing
        try:
            return self.pages.start(user, (words or "").strip() or None, progress=progress)
        except NothingToGoOn as exc:
            return str(exc)

    def discover_turn(self, user: str, session: str, page: int, progress: Progress | None = None) -> PickPage | str:
        """Another page of a pick list (the next one is fresh picks), or why it cannot be shown."""
        try:
            got = self.pages.turn(user, session, page, progress)
        except NothingToGoOn as exc:
            return str(exc)
        return got if got is not None else EXPIRED

    def served_card(self, user: str, score_id: int) -> ScoreCard | None:
        """A served score (a pick, say) as a card again, for its owner; None when gone or someone else's."""
        if not self.owns_score(user, score_id):
            return None
        served = self.rec.store.get_score(score_id)
        release = self.rec.store.get_release(served.release_id) if served else None
        if served is None or release is None:
            return None
        kind = served.score_type.split(":", 1)[-1]
        return ScoreCard(release, served.probability, served.label, KIND_LABELS.get(kind, kind), served.reasons_list,
                         served.model_version is None, served.model_version, served.id)

    def adventurous(self, user: str) -> float:
        return self.pages.discoverer.adventurous(user)

    def set_adventurous(self, user: str, value: str) -> str | None:
        """Set the share of exploration picks from a percentage ("40", "40%"); returns what is wrong, or None."""
        try:
            pct = float(str(value).strip().rstrip("%"))
        except ValueError:
            return "Adventurous is a percentage of exploration picks, like /settings adventurous 40."
        if not 0 <= pct <= 100:
            return "Pick an adventurous share between 0 and 100 %."
        self.pages.discoverer.set_adventurous(user, pct / 100)
        return None

    # -- the bot's own life ---------------------------------------------------------------------------------
    def inbox(self, platform: str) -> DurableInbox:
        """The platform's updates in flight (stored before the platform is told they arrived; see
        :mod:`core.app.inbox`)."""
        return DurableInbox(self.rec.store, self.rec.secret_box, platform)

    def warm_up(self) -> None:
        """Load what the first score needs (catalogue, embedding cache) before users arrive concurrently; the
        photo worker starts meanwhile (in the background: a bot's start never waits on it)."""
        if isinstance(self.jobs, WorkerJobs):
            threading.Thread(target=self.jobs.warm, args=("photo",), name="warm-photo-worker", daemon=True).start()
        _ = self.rec.catalogue
        self.rec.embed([])

    def start_learning(self, send_digest: Callable[[str, Any], Any] | None = None) -> Any:
        """Start the learning scheduler (retrains after feedback or nightly, weekly digests) in the running event
        loop when ``learning.schedule_in_bot`` says so; feedback then schedules retrains. Returns it, or None."""
        if not self.rec.cfg.learning.schedule_in_bot:
            return None
        from core.learning.scheduler import LearningScheduler  # APScheduler: only in a bot process

        scheduler = LearningScheduler(self.rec, send_digest=send_digest)
        scheduler.start()
        self.conv.on_feedback = scheduler.on_feedback
        return scheduler

    def why(self, score_id: int) -> str | None:
        """Every reason of a served score, as text (None when the score is gone)."""
        served = self.rec.store.get_score(score_id)
        if served is None:
            return None
        return "\n".join([f"Why {served.probability:.0%}:"] + [f"• {r}" for r in served.reasons_list])

    # -- digest and forgetting -----------------------------------------------------------------------------
    def digest(self, user: str) -> Any:
        return add_picks(self.rec, user, build_digest(self.rec, user), discoverer=self.pages.discoverer)

    def digest_sent(self, user: str, until: Any) -> None:
        mark_sent(self.rec, user, until)

    def owns_score(self, user: str, score_id: int) -> bool:
        """Whether the served score ``score_id`` was served to ``user``."""
        served = self.rec.store.get_score(score_id)
        return served is not None and any(s.id == score_id for s in self.rec.store.scores(user, served.created_at))

    def forget(self, user: str) -> tuple[ForgetReport, str]:
        """Delete everything about the user (one transaction, then the model files); the report and the text."""
        report = self.rec.forget_user(user)
        d = report.deleted
        if not report.found:
            return report, "I had nothing stored about you. Nothing to delete."
        return report, (f"🗑 Done. I deleted your {d.get('collection_entries', 0)} collection and wantlist records, "
                        f"{d.get('scores_served', 0)} scores, {d.get('feedback', 0)} reactions, "
                        f"{d.get('model_versions', 0)} models and your Discogs link. /start to begin again.")
