"""The use cases of whoever runs Crate Digger from a shell (the ``crate`` command): import a file, train, score a
reference, link (username, token, OAuth) and sync, look a barcode up, retrain and roll models back, run the
learning scheduler. Like :class:`~core.app.service.CrateApp` they return plain results and raise
:class:`Refusal` with the text to show (and an exit status) when they cannot do what was asked; the adapter only
prints."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from discogs_client.exceptions import HTTPError as ClientHTTPError
from sqlalchemy.exc import OperationalError

from core.app.barcodes import BarcodeAnswer
from core.app.replies import Refusal
from core.app.service import CrateApp
from core.app.watching import AlertOut, Watching, WatchRefused, WatchRow
from core.barcode import typed_code
from core.catalogue import BuildReport
from core.discogs.gateway import DiscogsError, DiscogsGateway
from core.discogs.sync import Enricher, SyncReport
from core.domain.refs import NotDiscogsLink, parse_ref_strict
from core.domain.release import ImportResult
from core.ingest.readers import ReaderError
from core.learning.retrain import RetrainResult
from core.picks import Discoverer, Picks
from core.picks.service import NothingToGoOn
from core.recommender import ScoreCard, TrainReport, UnknownRelease, safe_name
from core.storage import ModelVersion
from core.watch import PollReport

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


#: what a command tells when another process holds the database's write lock past the busy timeout
DATABASE_BUSY = ("The database is busy (another import or training is writing to it); try again in a moment.")


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is the database being locked by another writer (SQLite's "database is locked")."""
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()


def database_unreachable(exc: BaseException) -> str | None:
    """A sentence when ``exc`` is the database server refusing or not answering (PostgreSQL down, wrong port or
    user), else None."""
    if not isinstance(exc, OperationalError) or database_busy(exc):
        return None
    first = (str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__])[0]
    if not any(w in first.lower() for w in ("connect", "connection", "server closed", "timeout expired")):
        return None
    return f"Cannot reach the database ({first}). Is the server running, and is DATABASE_URL right?"


def upgrade_database(database: str | None = None) -> str:
    """``crate db upgrade``: bring the database's schema to this program's (Alembic), say what was done."""
    from core.config import database_url
    from core.storage import Store
    from core.storage.migrate import SchemaTooNew

    try:
        store = Store(database or database_url())
    except SchemaTooNew as exc:
        raise Refusal(str(exc), 2) from exc
    try:
        return store.schema_upgrade.text()
    finally:
        store.close()


def _discogs(exc: DiscogsError) -> Refusal:
    return Refusal(exc.user_message, 4)


@dataclass
class OAuthFlow:
    """OAuth 1.0a, out of band: open ``url``, allow the app, then :meth:`finish` with the code Discogs shows."""

    ops: "Operations"
    user: str
    key: str
    secret: str
    gateway: DiscogsGateway
    url: str

    def finish(self, verifier: str) -> str:
        """Exchange the code for the access token, store it encrypted; returns the Discogs user name."""
        try:
            token, token_secret = self.gateway.client.get_access_token(verifier)
        except ClientHTTPError as exc:
            raise Refusal("Discogs didn't accept that verification code. Run `crate link --oauth` again and paste "
                          "the code shown after you allow access.", 4) from exc
        try:
            username = DiscogsGateway(oauth=(self.key, self.secret, token, token_secret),
                                      cfg=self.ops.rec.cfg).identity()
        except DiscogsError as exc:
            raise _discogs(exc) from exc
        self.ops.app.accounts.link_oauth(self.user, username, token, token_secret)
        return username


class Operations:
    """The shell's use cases: the application's own (:class:`~core.app.service.CrateApp`), and what only an
    operator does (the catalogue, models, enrichment)."""

    def __init__(self, app: CrateApp) -> None:
        self.app = app
        self.rec = app.rec

    @property
    def discoverer(self) -> Discoverer:
        return self.app.picks.discoverer

    # -- the candidate catalogue and picks -------------------------------------------------------------------
    def build_catalogue(self, dump: str | Path, genres: list[str] | None = None, since: int | None = None,
                        progress: Progress | None = None) -> BuildReport:
        """Stream a Discogs releases dump into the candidate catalogue (resumable), then index it."""
        if not Path(dump).is_file():
            raise Refusal(f"{dump}: no such file. Download the releases dump from https://data.discogs.com/ "
                          "(discogs_YYYYMMDD_releases.xml.gz) and give its path.")
        try:
            report = self.discoverer.catalogue.build(dump, genres or (), since, progress)
        except ReaderError as exc:
            raise Refusal(f"Could not read {dump}: {exc}. Run the same command again to resume.") from exc
        self.discoverer.refresh()   # and the releases the bot has seen
        return report

    @staticmethod
    def distill_static() -> Path:
        """Re-make the catalogue's static embedding from the bundled MiniLM (offline, about 20 s)."""
        from core.catalogue.static import distill

        return distill()

    def bundle_vectors(self) -> Path:
        """Re-make the shipped MiniLM vectors of the bundled catalogue (``models/catalogue-minilm.npz``)."""
        from core.model.embeddings import bundle_catalogue_vectors

        return bundle_catalogue_vectors(self.rec.catalogue.values())

    def catalogue_info(self) -> dict[str, Any]:
        cat = self.discoverer.catalogue
        self.discoverer.refresh()
        index = cat.index
        return {"releases": cat.store.count(), "index": index.kind, "indexed": index.size,
                "index_bytes": index.memory_bytes(), "disk_bytes": cat.store.disk_bytes(),
                "database": str(cat.db_path), "index_file": str(cat.index_path)}

    def discover(self, user: str, k: int | None = None, query: str | None = None,
                 adventurous: float | None = None, progress: Progress | None = None) -> Picks:
        if adventurous is not None and not 0 <= adventurous <= 1:
            raise Refusal("--adventurous is between 0 (familiar) and 1 (exploration).")
        if not self.store.collection(user):
            raise Refusal(f"{user} has no collection yet: `crate import FILE --user {user}` or `crate link` first.")
        try:
            return self.discoverer.discover(user, k, query, adventurous, progress=progress)
        except NothingToGoOn as exc:
            raise Refusal(str(exc)) from exc

    @property
    def store(self) -> Any:
        return self.rec.store

    # -- a collection from a file, and a model -----------------------------------------------------------------
    def import_file(self, user: str, path: str | Path) -> ImportResult:
        try:
            return self.app.jobs.import_file(user, Path(path))
        except ReaderError as exc:
            why = str(exc).removeprefix(f"{path}: ").removeprefix(f"{Path(path).name}: ")
            raise Refusal(f"Could not import {path}: {why}") from exc

    def train(self, user: str, progress: Progress | None = None) -> TrainReport:
        try:
            return self.app.jobs.train(user, progress)
        except LookupError as exc:
            raise Refusal(f"Nothing to train on: {exc}. Run `crate import FILE --user {user}` first.") from exc

    def score(self, user: str, text: str) -> ScoreCard:
        """Score a release URL, master URL, marketplace link or release id for ``user``."""
        try:
            ref = parse_ref_strict(text)
        except (NotDiscogsLink, ValueError) as exc:
            raise Refusal(str(exc)) from exc
        if not self.rec.owned(user):
            raise Refusal(f"No collection for {user}: run `crate import FILE --user {user}` first.")
        try:
            return self.rec.score(user, ref)
        except UnknownRelease as exc:
            raise Refusal(str(exc), 3) from exc
        except DiscogsError as exc:
            raise Refusal(exc.user_message, 3) from exc

    # -- linking and syncing ---------------------------------------------------------------------------------
    def link_username(self, user: str, username: str) -> str:
        """Link a public collection after checking that it exists and is public."""
        return self.app.accounts.link_username(user, username)

    def link_token(self, user: str, token: str, expected: str | None = None) -> str:
        """Link with a personal token (stored encrypted); ``expected`` is the Discogs name the caller meant."""
        return self.app.accounts.link_token(user, token, expected)

    def oauth_start(self, user: str, key: str | None, secret: str | None) -> OAuthFlow:
        """Begin OAuth with the app's consumer key and secret: the page the collector opens to allow access."""
        if not key or not secret:
            raise Refusal("OAuth needs DISCOGS_CONSUMER_KEY and DISCOGS_CONSUMER_SECRET (register an app on "
                          "Discogs → Settings → Developers).")
        gw = DiscogsGateway(oauth=(key, secret, "", ""), cfg=self.rec.cfg)
        try:
            _req_token, _req_secret, url = gw.client.get_authorize_url()
        except ClientHTTPError as exc:
            raise Refusal("Discogs refused the app's consumer key or secret (DISCOGS_CONSUMER_KEY / "
                          "DISCOGS_CONSUMER_SECRET).", 4) from exc
        except DiscogsError as exc:
            raise _discogs(exc) from exc
        return OAuthFlow(self, user, key, secret, gw, url)

    def set_link_currency(self, user: str, currency: str) -> None:
        """Prices for the linked account in ``currency`` (the collector's one currency setting)."""
        self.app.accounts.set_currency(user, currency)

    def unlink(self, user: str) -> None:
        self.app.accounts.unlink(user)

    def sync(self, user: str, full: bool = False,
             progress: Callable[[str, int, int], None] | None = None) -> list[SyncReport]:
        """Read the linked collection and wantlist (only what changed unless ``full``); no training here."""
        if self.store.linked_account(user) is None:
            raise Refusal(f"{user} is not linked to Discogs: run `crate link USERNAME --user {user}` first.")
        return self.app.accounts.sync(user, full=full, counted=progress, learn=False).reports

    def enrich(self, user: str, limit: int, progress: Callable[[int, int], None] | None = None) -> Enricher:
        """Fetch details (have/want, price) of up to ``limit`` collection records at the rate limit's pace."""
        acct = self.store.linked_account(user)
        gw = self.rec.gateway_for(user)
        if acct is None or gw is None:
            raise Refusal(f"{user} is not linked to Discogs: run `crate link USERNAME --user {user}` first.")
        ids = [it.release.id for it in self.store.collection(user)][:limit]
        enr = Enricher(gw, self.store, timedelta(days=float(self.rec.cfg.discogs.refresh_after_days)),
                       currency=getattr(acct, "currency", None))
        enr.run(ids, progress=progress)
        return enr

    # -- barcodes -------------------------------------------------------------------------------------------
    def barcode(self, user: str, photo: str, limit: int = 10) -> BarcodeAnswer:
        """Read the barcode(s) of a photo file — or take the digits typed — and list the pressings carrying them."""
        path = Path(photo)
        data = None
        if path.is_file() or typed_code(photo) is None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise Refusal(f"Cannot read {photo}: {exc.strerror or exc} (give a photo, or the digits under the "
                              "bars in quotes: \"0 75720 00325 9\")") from exc
        return self.app.barcodes.lookup(user, photo, data, limit)

    # -- models ---------------------------------------------------------------------------------------------
    # -- watching prices ------------------------------------------------------------------------------------
    @property
    def watching(self) -> Watching:
        return self.app.watching   # the application's one use case, not a second copy per call

    def watch_add(self, user: str, ref: str, max_price: float | None = None) -> WatchRow:
        """Watch a record (a link or a release id); its row as the list shows it."""
        try:
            w = self.watching.add(user, ref, max_price)
        except WatchRefused as exc:
            raise Refusal(str(exc)) from exc
        return self.watching.rows(user, only=w.release_id)[0]

    def watch_rows(self, user: str) -> list[WatchRow]:
        return self.watching.rows(user)

    def watch_remove(self, user: str, ref: str) -> int:
        try:
            return self.watching.remove(user, ref)
        except WatchRefused as exc:
            raise Refusal(str(exc)) from exc

    def watch_poll(self, user: str, now: datetime | None = None) -> tuple[list[AlertOut], PollReport | None]:
        try:
            return self.watching.run_pass(user, now or datetime.now(timezone.utc))
        except WatchRefused as exc:
            raise Refusal(str(exc)) from exc
        except DiscogsError as exc:
            raise Refusal(exc.user_message, 4) from exc

    def users_with_collection(self) -> list[str]:
        from core.learning.scheduler import users_with_collection

        return users_with_collection(self.store)

    def retrain(self, user: str, progress: Progress | None = None) -> RetrainResult | None:
        """Train a challenger now; it replaces the model only if not worse on the hold-out. None when this
        process is already training the user."""
        from core.learning.scheduler import retrain_now

        try:
            return retrain_now(self.rec, user, progress=progress)
        except LookupError as exc:
            raise Refusal(f"{user}: nothing to train on: {exc}. Run `crate import FILE --user {user}` first.") from exc

    def nothing_new(self, user: str) -> str | None:
        """Why ``user`` need not be retrained now, or None (see :func:`core.learning.retrain.nothing_new`)."""
        from core.learning.retrain import nothing_new

        return nothing_new(self.store, user)

    def retrain_on_cluster(self, users: list[str], scheduler: str, *, changed_only: bool = False,
                           on_result: Callable[[Any], None] | None = None) -> Any:
        """One retrain task per user on the Dask cluster at ``scheduler`` (:func:`core.learning.cluster.fan_out`).
        A database URL with a password is not sent with the tasks: the workers then need ``DATABASE_URL``."""
        from core.app.cluster import worker_recommender
        from core.learning.cluster import ClusterUnreachable, fan_out, task_database

        database = task_database(self.store.engine.url)
        try:
            return fan_out(users, database, self.rec.models_dir, worker_recommender, scheduler=scheduler,
                           skip_unchanged=changed_only, on_result=on_result)
        except ClusterUnreachable as exc:
            raise Refusal(str(exc), 3) from exc

    def models(self, user: str) -> list[ModelVersion]:
        return list(self.store.models(user))

    def rollback(self, user: str, to: str | None = None, now: datetime | None = None) -> tuple[str, str | None]:
        """Activate ``to`` (or the previous once-active version); the current one is marked rejected. Returns
        (the version now active, the one it replaced or None); raises :class:`Refusal` when there is nothing to
        roll back to."""
        store = self.store
        active = store.active_model(user)
        target = store.model_version(user, to) if to else store.previous_model(user)
        if target is None:
            what = f"no model version {to}" if to else "no earlier version that was once active"
            raise Refusal(f"{user}: {what} to roll back to (see `crate models list --user {user}`).")
        if active is not None and target.version == active.version:
            return target.version, target.version
        if not Path(target.path).is_file():
            raise Refusal(f"{user}: the file of {target.version} is gone ({target.path}); not rolled back.")
        store.activate_model(user, target.version)
        if active is not None:
            when = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
            store.set_model_status(user, active.version, "rejected",
                                   note=f"rolled back to {target.version} on {when}"
                                        + (f" (was: {active.note})" if active.note else ""))
        return target.version, active.version if active is not None else None

    def holdout_fraction(self) -> float:
        return float(self.rec.cfg.learning.holdout_fraction)

    def scheduler(self, announce: Progress) -> Any:
        """The learning scheduler (nightly and feedback retrains, digests), not yet started."""
        from core.app.cluster import worker_recommender
        from core.learning.scheduler import LearningScheduler  # APScheduler: only when asked for

        return LearningScheduler(self.rec, announce=announce, make_rec=worker_recommender)

    def digest_path(self, user: str, out: str | None) -> Path:
        return Path(out) if out else self.rec.models_dir / f"{safe_name(user)}-digest.png"

    def has_user(self, user: str) -> bool:
        return user in self.store.users()
