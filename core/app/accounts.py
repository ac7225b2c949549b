"""The collector's account: linking (username, token, OAuth) and reading the collection (sync, a file), training,
what the bot knows (stats), settings, and forgetting. One place decides when reading the collection trains a model
and through which gate: the first model is trained at once; later ones are challengers that replace the current
model only when not worse on held-out data (:func:`core.learning.retrain.retrain`)."""
from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from core.app.cards import ATTRIBUTION
from core.app.jobs import Jobs, WorkerDied
from core.app.replies import Refusal, SettingsReply
from core.app.words import BUY_SHARES, CURRENCIES, FORGOTTEN, NOT_LINKED, NOTHING_TO_FORGET, OFFLINE
from core.discogs.gateway import DiscogsError, DiscogsGateway
from core.discogs.sync import CollectionSync, SyncReport
from core.domain.release import ImportResult
from core.ingest.readers import ReaderError
from core.recommender import Recommender
from core.storage import ForgetReport

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
T = TypeVar("T")
#: a sync's own progress: (list name, done, total)
Counted = Callable[[str, int, int], None]


@dataclass
class SyncOutcome:
    """What a sync read, and the lines that say so (the training line last when it trained)."""

    reports: list[SyncReport]
    lines: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(r.added for r in self.reports)

    def summary(self, head: str = "") -> str:
        """What every platform says when a sync is done."""
        return f"{head}✅ Synced.\n" + "\n".join(self.lines) + f"\n{ATTRIBUTION}"


class Heartbeat:
    """Progress that never goes quiet: the last step is said again with the seconds it has taken ("… 12 s") every
    ``every`` seconds until the block ends, so a collector sees the work move even inside one long step."""

    def __init__(self, say: Progress, every: float = 4.0) -> None:
        self._say, self.every = say, every
        self._last, self._since = "", 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="progress-heartbeat", daemon=True)

    def say(self, text: str) -> None:
        with self._lock:
            self._last, self._since = text, time.monotonic()
        self._say(text)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            with self._lock:
                text, since = self._last, self._since
            if text:
                self._say(f"{text.rstrip('…')}… {time.monotonic() - since:.0f} s")

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)


def in_a_thread(work: Callable[[], None]) -> None:
    """Run ``work`` in a daemon thread (the bots: the training itself happens in the worker process)."""
    threading.Thread(target=work, name="refine-model", daemon=True).start()


class Accounts:
    def __init__(self, rec: Recommender, jobs: Jobs,
                 background: Callable[[Callable[[], None]], None] | None = None,
                 warm: Callable[[], None] | None = None,
                 after_sync: Callable[[str], object] | None = None) -> None:
        """``background`` runs work after the reply (a new collector's full model after their quick first one);
        without it (the shell, tests) the first model is the full one. ``warm`` loads what a first model needs,
        called as a collection starts to arrive."""
        self.rec, self.jobs = rec, jobs
        self.background = background
        self.warm = warm or (lambda: None)
        #: what follows a chat's sync in the background (the bots: hearing the records' previews)
        self.after_sync = after_sync

    @property
    def live(self) -> bool:
        return bool(self.rec.live)

    # -- linking -------------------------------------------------------------------------------------------
    def link_username(self, user: str, name: str) -> str:
        """Link a public collection after checking that it exists and is public (raises :class:`Refusal`)."""
        gw = self._gateway(None)
        try:
            gw.collection_page(name, 1, per_page=1)
        except DiscogsError as exc:
            raise Refusal(exc.user_message, 4) from exc
        self.rec.store.link_account(user, name, "username", currency=self._link_currency(user, gw, name))
        return name

    def link_token(self, user: str, token: str, expected: str | None = None) -> str:
        """Link with a personal token (stored encrypted); ``expected``: the Discogs name the caller meant.
        Returns the Discogs user name the token belongs to (raises :class:`Refusal`)."""
        if not token:
            raise Refusal("No token given.")
        box = self.rec.secret_box   # a key problem is said before the token goes anywhere
        self._gateway(None)
        gw = DiscogsGateway(token=token, cfg=self.rec.cfg)
        try:
            name = gw.identity()
        except DiscogsError as exc:
            raise Refusal(exc.user_message, 4) from exc
        if expected and expected.lower() != name.lower():
            raise Refusal(f"That token belongs to {name}, not {expected}.")
        self.rec.store.link_account(user, name, "token", token=token, box=box,
                                    currency=self._link_currency(user, gw, name))
        return name

    def link_oauth(self, user: str, name: str, token: str, secret: str) -> None:
        gw = self.rec.gateway_for(None)
        self.rec.store.link_account(user, name, "oauth", oauth_token=token, oauth_secret=secret,
                                    box=self.rec.secret_box, currency=self._link_currency(user, gw, name))

    def _link_currency(self, user: str, gw: DiscogsGateway | None, name: str) -> str | None:
        """The currency prices come in: the one the collector chose here, else the one on their Discogs profile
        (``curr_abbr``); None leaves the default. Never fatal: a profile that can't be read changes nothing."""
        chosen = self._currency_setting(user)
        if chosen or gw is None:
            return chosen
        try:
            cur = gw.profile_currency(name)
        except DiscogsError as exc:
            log.info("no profile currency for a link: %s", type(exc).__name__)
            return None
        return cur if cur in CURRENCIES else None

    def linked_name(self, user: str) -> str | None:
        acct = self.rec.store.linked_account(user)
        return acct.discogs_username if acct is not None else None

    def unlink(self, user: str) -> None:
        """Remove the link and its tokens. The wantlist's watches go with it (the link brought them); the records
        the collector marked to watch stay, checked anonymously from now on."""
        self.rec.store.unlink_account(user)
        self.rec.store.sync_wanted(user, [], "EUR")

    def _gateway(self, user: str | None) -> DiscogsGateway:
        gw = self.rec.gateway_for(user)
        if gw is None:
            raise Refusal(OFFLINE, 4)
        return gw

    # -- reading the collection, and learning from it ----------------------------------------------------------
    def sync(self, user: str, progress: Progress | None = None, head: str = "", *, full: bool = False,
             counted: Counted | None = None, learn: bool = True) -> SyncOutcome:
        """Read the linked collection and wantlist (only what changed unless ``full``), then (``learn``) learn
        when something was added or there is no model yet. ``progress`` gets every step's text, led by ``head``;
        ``counted`` the counts. The shell reads only (``crate retrain`` learns)."""
        say = progress or (lambda _msg: None)
        store = self.rec.store
        if store.linked_account(user) is None:
            raise Refusal(NOT_LINKED)
        gw = self._gateway(user)
        if learn and store.active_model(user) is None:
            self.warm()   # a first model is coming: its sentence model loads while the collection is read

        def step(list_name: str, done: int, total: int) -> None:
            say(f"{head}🔄 Reading your {list_name}: {done} of {total}…")
            if counted is not None:
                counted(list_name, done, total)

        try:
            reports = CollectionSync(gw, store, self.rec.cfg.discogs.per_page).sync_linked(user, full, step)
        except DiscogsError as exc:
            raise Refusal(exc.user_message, 4) from exc
        out = SyncOutcome(reports, [f"{'📀' if r.list_name == 'collection' else '⭐'} {r.list_name}: {r.total} on "
                                    f"Discogs, {r.added} new" for r in reports])
        if not learn:
            return out
        if self.after_sync is not None:
            self.after_sync(user)
        if out.added or store.active_model(user) is None:
            out.lines.append(self.learn(user, progress, head + "\n".join(out.lines)))
        else:
            out.lines.append("Nothing new, so your model stays as it is.")
        return out

    def learn(self, user: str, progress: Progress | None = None, head: str = "") -> str:
        """A new model after new records: the first one at once, later ones through the promotion gate. Returns
        the line saying how it went."""
        if self.rec.store.active_model(user) is None:
            return self.first_model(user, progress, head) if self.background else self.train(user, progress, head)
        result = self._training(self.jobs.retrain, user, progress, head)
        if isinstance(result, str):
            return result
        if not result.accepted:
            return "🧠 A new model didn't beat your current one on your latest records, so I kept the current one."
        return f"🧠 Your model is ready: trained on {result.n_positives} records in {result.seconds:.0f} s."

    def train(self, user: str, progress: Progress | None = None, head: str = "") -> str:
        """Train the user's model (progress under ``head``); returns the line saying how it went."""
        report = self._training(self.jobs.train, user, progress, head)
        if isinstance(report, str):
            return report
        if report.cold_start:
            return (f"🧠 {report.n_positives} records is below {self.rec.cfg['model']['min_records']}: scores are "
                    "rough estimates from similar records until you have more.")
        return f"🧠 Your model is ready: trained on {report.n_positives} records in {report.seconds:.0f} s."

    def first_model(self, user: str, progress: Progress | None = None, head: str = "") -> str:
        """A new collector's first model in seconds (one seed), then the full one in the background: it replaces
        the first when done (same records, so no gate), and cards carry on meanwhile."""
        report = self._training(lambda u, p: self.jobs.train(u, p, first=True), user, progress, head)
        if isinstance(report, str):
            return report
        if report.cold_start:
            return (f"🧠 {report.n_positives} records is below {self.rec.cfg['model']['min_records']}: scores are "
                    "rough estimates from similar records until you have more.")
        assert self.background is not None
        self.background(lambda: self._refine(user, report.version))
        return (f"🧠 Your model is ready: trained on {report.n_positives} records in {report.seconds:.0f} s "
                "(I'll keep polishing it for a minute or two in the background).")

    def _refine(self, user: str, first_version: str | None) -> None:
        try:
            active = self.rec.store.active_model(user)
            if active is None or active.version != first_version:
                return   # forgotten, or already replaced (a retrain, a new sync)
            self.jobs.train(user)
        except Exception:   # the first model stays; the nightly retrain tries again
            log.warning("refining %s's first model failed", user, exc_info=True)

    @staticmethod
    def _training(job: Callable[[str, Progress], T], user: str, progress: Progress | None, head: str) -> T | str:
        """Run a training job with its progress under ``head``; the sentence instead when it could not run."""
        say = progress or (lambda _msg: None)
        with Heartbeat(say) as beat:
            beat.say(f"{head}\n🧠 Training your model…")
            try:
                return job(user, lambda msg: beat.say(f"{head}\n🧠 {msg}"))
            except LookupError:
                return "There's nothing to train on yet."
            except WorkerDied as exc:
                return f"🧠 Training stopped: {exc}"

    def import_upload(self, user: str, name: str, data: bytes) -> ImportResult:
        """Import an uploaded file's bytes (kept under a temp name with its own suffix); raises :class:`Refusal`."""
        suffix = "".join(c for c in Path(name).suffix if c.isalnum() or c == ".")[:10]
        with tempfile.TemporaryDirectory(prefix="crate-upload-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            if self.rec.store.active_model(user) is None:
                self.warm()   # a first model is coming (see sync)
            try:
                result = self.jobs.import_file(user, path)
            except ReaderError as exc:
                why = str(exc).replace(f"{path}: ", "").replace(str(path), name)
                raise Refusal(f"I couldn't read {name}: {why}. Send the CSV file of your Discogs collection export "
                              "(Discogs → Collection → Export).") from exc
            except WorkerDied as exc:
                raise Refusal(f"I couldn't finish reading {name}. {exc}") from exc
        if not result.n_items:
            raise Refusal(f"I found no records in {name}. Is it the Discogs collection export (a CSV file)?")
        return result

    # -- what the bot knows, and settings ------------------------------------------------------------------
    def stats(self, user: str) -> str:
        store = self.rec.store
        n_coll, n_want = len(store.collection(user, "collection")), len(store.collection(user, "wantlist"))
        acct, mv = store.linked_account(user), store.active_model(user)
        fb = store.feedback_counts(user)
        buy, _ = self.rec.shares(user)
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
        lines.append(f"Scores: {len(store.scores(user))} served")
        implicit = fb.get("implicit_bought", 0)
        lines.append(f"Feedback: {fb.get('like', 0)} 👍 · {fb.get('dislike', 0)} 👎 · {fb.get('bought', 0)} 🛒 bought"
                     + (f" · {implicit} bought after a score" if implicit else ""))
        lines.append(f"Settings: 🟢 buy for your top {max(1, round(buy * 100))} % · prices in {self.currency(user)}")
        lines.append("/forget deletes all of it.")
        return "\n".join(lines)

    def currency(self, user: str) -> str:
        acct = self.rec.store.linked_account(user)
        if acct is not None and acct.currency:
            return acct.currency.upper()
        return str(self._currency_setting(user) or "EUR").upper()

    def _currency_setting(self, user: str) -> str | None:
        cur = self.rec.store.get_settings(user).get("currency")
        return str(cur) if cur else None

    def settings(self, user: str, adventurous: float, error: str | None = None, recent: int = 20) -> SettingsReply:
        """The settings, with what each 🟢 choice would have made of the collector's last ``recent`` cards."""
        buy, _ = self.rec.shares(user)
        scorer = self.rec.model_for(user)[1]
        pcts = sorted(set(BUY_SHARES) | {max(1, round(buy * 100))})
        at = [(pct, self.rec.chance_at(scorer, pct / 100)) for pct in pcts]
        chances = [(pct, c) for pct, c in at if c is not None]
        if len(chances) < len(at):   # no personal model yet: nothing to count
            return SettingsReply(buy, self.currency(user), adventurous, error)
        last = [s.probability for s in self.rec.store.scores(user)[-recent:]]
        options = tuple((pct, sum(p >= chance for p in last)) for pct, chance in chances)
        return SettingsReply(buy, self.currency(user), adventurous, error, options, len(last))

    def set_buy_threshold(self, user: str, value: str) -> None:
        """🟢 buy for the collector's top N % ("5", "5%": records that suit them better than 95 in 100 others
        bought); raises :class:`Refusal`."""
        try:
            pct = float(str(value).strip().rstrip("%").strip())
        except ValueError as exc:
            raise Refusal("Say how choosy 🟢 buy should be as your top N %, like /settings buy 5.") from exc
        if not 1 <= pct <= 25:
            raise Refusal("Pick a 🟢 buy share between your top 1 % and your top 25 %, like /settings buy 5.")
        settings = self.rec.store.get_settings(user)
        settings.pop("buy_threshold", None)   # the old setting (a chance), which meant different things per model
        settings["buy_share"] = round(pct / 100, 4)
        self.rec.store.set_settings(user, settings)

    def set_currency(self, user: str, value: str) -> None:
        """Set the price currency: the one setting, which a linked account's prices follow (raises
        :class:`Refusal`)."""
        cur = value.strip().upper()
        if cur not in CURRENCIES:
            raise Refusal(f"Discogs prices come in {', '.join(CURRENCIES)}.")
        store = self.rec.store
        settings = store.get_settings(user)
        settings["currency"] = cur
        store.set_settings(user, settings)
        acct = store.linked_account(user)
        if acct is not None:
            store.set_account_currency(user, cur)

    # -- forgetting ----------------------------------------------------------------------------------------
    def forget(self, user: str) -> tuple[ForgetReport, str]:
        """Delete everything about the user (one transaction, then the model files); the report and the text."""
        report = self.rec.forget_user(user)
        d = report.deleted
        if not report.found:
            return report, NOTHING_TO_FORGET
        return report, FORGOTTEN.format(collection=d.get("collection_entries", 0), scores=d.get("scores_served", 0),
                                        feedback=d.get("feedback", 0), models=d.get("model_versions", 0),
                                        watches=d.get("watches", 0))
