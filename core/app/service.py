"""The application: one :class:`CrateApp` composes the use cases — accounts (link, sync, import, train, stats,
settings, forget), scoring, barcodes, feedback and learning, discover, groups — over one recommender, and offers
the typed entry points buttons, reactions and numbers call (:meth:`feedback`, :meth:`open_pick`,
:meth:`score_release`) beside the free-text conversation (:meth:`handle`). Synchronous: adapters with an event
loop run it in a worker thread (``asyncio.to_thread``)."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from core.app.accounts import Accounts, in_a_thread
from core.app.barcodes import Barcodes
from core.app.chat_cards import CardRegistry
from core.app.conversation import Context, Conversation
from core.app.feedback import Feedback
from core.app.group import Group
from core.app.inbox import DurableInbox
from core.app.jobs import InProcessJobs, Jobs, WorkerJobs
from core.app.picks import Discover
from core.app.replies import Refusal, Reply, SettingsReply
from core.app.scoring import Scoring
from core.app.sound import Sound
from core.app.watching import Watching
from core.app.words import FORGET_ASK
from core.learning.digest import Digest, add_picks, add_price_drops, build_digest, mark_sent
from core.picks import Discoverer
from core.recommender import Recommender

log = logging.getLogger(__name__)


class CrateApp:
    """The use cases, over one :class:`~core.recommender.Recommender` (and its store)."""

    def __init__(self, recommender: Recommender, jobs: Jobs | None = None,
                 discoverer: Discoverer | None = None) -> None:
        self.rec = recommender
        #: where imports, trainings and photos run (the bots: worker processes, see core.app.jobs)
        self.jobs: Jobs = jobs or InProcessJobs(recommender)
        self.scoring = Scoring(recommender)
        self.learning = Feedback(recommender)
        self.barcodes = Barcodes(self.scoring, self.jobs)
        self.picks = Discover(self.scoring, discoverer)
        self._models_warmed = False
        #: what records sound like (previews heard in the background after a bot's sync)
        self.sound = Sound(recommender, self.jobs)
        bots = isinstance(self.jobs, WorkerJobs)
        self.accounts = Accounts(recommender, self.jobs, background=in_a_thread if bots else None,
                                 warm=self.warm_models, after_sync=self.sound.in_background if bots else None)
        self.watching = Watching(recommender)
        self.conv = Conversation(self.scoring, self.barcodes, self.learning, self.picks, self.watching)
        self._groups: dict[str, Group] = {}
        #: which chat message shows which card, for every platform
        self.cards = CardRegistry(recommender.store)

    # -- typed entry points (buttons, reactions, numbers) ---------------------------------------------------
    def handle(self, user: str, text: str, score_id: int | None = None, *, event_id: str | int | None = None,
               source: str = "chat", context: Context | None = None) -> list[Reply]:
        """Free text: links, release ids and typed barcodes become score cards; 👍 / 👎 / bought is feedback."""
        return self.conv.handle(user, text, score_id, event_id=event_id, source=source, context=context)

    def feedback(self, user: str, kind: str, score_id: int | None, event_id: str | int | None = None, *,
                 reason: str | None = None, source: str = "chat") -> Reply:
        return self.learning.feedback(user, kind, score_id, event_id, reason=reason, source=source)

    def open_pick(self, user: str, list_id: str, n: int) -> Reply:
        return self.picks.open_pick(user, list_id, n)

    def open_card(self, user: str, score_id: int) -> Reply:
        return self.picks.open_card(user, score_id)

    def score_release(self, user: str, release_id: int) -> Reply:
        return self.scoring.score_release(user, release_id)

    def photo(self, user: str, data: bytes) -> list[Reply]:
        return self.barcodes.photo(user, data)

    def knows(self, user: str) -> str | None:
        return self.scoring.knows(user)

    def owns_score(self, user: str, score_id: int) -> bool:
        return self.scoring.owns_score(user, score_id)

    def why(self, score_id: int) -> str | None:
        return self.scoring.why(score_id)

    @property
    def live(self) -> bool:
        return bool(self.rec.live)

    # -- settings ------------------------------------------------------------------------------------------
    def settings(self, user: str, error: str | None = None) -> SettingsReply:
        return self.accounts.settings(user, self.picks.adventurous(user), error)

    def change_setting(self, user: str, what: str, value: str) -> SettingsReply:
        """``what``: buy (threshold), cur (currency) or adv (adventurous); the settings after, with what was wrong
        with the change if anything."""
        setters: dict[str, Callable[[str, str], None]] = {
            "buy": self.accounts.set_buy_threshold, "cur": self.accounts.set_currency,
            "adv": self.picks.set_adventurous}
        try:
            setters[what](user, value)
        except Refusal as exc:
            return self.settings(user, exc.message)
        except KeyError:
            return self.settings(user, "That setting doesn't exist.")
        return self.settings(user)

    # -- digest and groups ---------------------------------------------------------------------------------
    def digest(self, user: str) -> Digest:
        missing = self.knows(user)
        if missing:
            raise Refusal(missing)
        digest = add_price_drops(self.rec, user, build_digest(self.rec, user))
        return add_picks(self.rec, user, digest, discoverer=self.picks.discoverer)

    def digest_sent(self, user: str, until: Any) -> None:
        mark_sent(self.rec, user, until)

    def group(self, platform: str) -> Group:
        if platform not in self._groups:
            self._groups[platform] = Group(self.rec, platform)
        return self._groups[platform]

    #: what to ask before :meth:`forget`
    forget_question = FORGET_ASK

    def forget(self, user: str) -> str:
        """Delete everything about the user; the sentence saying what went."""
        return self.accounts.forget(user)[1]

    # -- the bot's own life ---------------------------------------------------------------------------------
    def inbox(self, platform: str) -> DurableInbox:
        """The platform's events in flight (stored before the platform is told they arrived; see
        :mod:`core.app.inbox`)."""
        return DurableInbox(self.rec.store, self.rec.secret_box, platform)

    def warm_up(self) -> None:
        """Load what the first score needs (catalogue, embedding cache) before users arrive concurrently; the
        photo worker starts meanwhile (in the background: a bot's start never waits on it)."""
        if isinstance(self.jobs, WorkerJobs):
            threading.Thread(target=self.jobs.warm, args=("photo",), name="warm-photo-worker", daemon=True).start()
        _ = self.rec.catalogue
        self.rec.embed([])

    def warm_models(self) -> None:
        """A collector is linking or importing: their first model needs the sentence model in the data worker,
        and their first personal card needs it here — load both now, in the background (seconds each), while
        the collection is read. Once per process."""
        if self._models_warmed or not isinstance(self.jobs, WorkerJobs):
            return
        self._models_warmed = True
        threading.Thread(target=self.jobs.warm, args=("data",), name="warm-data-worker", daemon=True).start()
        threading.Thread(target=self.rec.embeddings.warm, name="warm-sentence-model", daemon=True).start()

    def start_learning(self, send_digest: Callable[[str, Any], Any] | None = None,
                       send_alert: Callable[[str, Any], Any] | None = None) -> Any:
        """Start the learning scheduler (retrains after feedback or nightly, weekly digests) in the running event
        loop when ``learning.schedule_in_bot`` says so; feedback then schedules retrains. Returns it, or None."""
        if not self.rec.cfg.learning.schedule_in_bot:
            return None
        from core.learning.scheduler import LearningScheduler  # APScheduler: only in a bot process

        # the bots hear each collector's newly scored records after their nightly retrain (one at a time: the
        # audio worker is one process)
        hear = ((lambda user: self.sound.in_background(user, delay_s=0.0)) if isinstance(self.jobs, WorkerJobs)
                else None)
        from core.app.cluster import worker_recommender

        scheduler = LearningScheduler(self.rec, send_digest=send_digest, after_nightly=hear,
                                      make_rec=worker_recommender, watchers=self.rec.store.users_watching,
                                      watch_pass=self.watching.poll_quietly, send_alert=send_alert)
        scheduler.start()
        self.learning.on_feedback = scheduler.on_feedback
        return scheduler
