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

from core.barcode import NO_BARCODE_HINT, PhotoError, PhotoLookup, decode_photo, lookup_codes, typed_code
from core.catalogue import BuildReport
from core.discogs.gateway import DiscogsError, DiscogsGateway
from core.discogs.sync import CollectionSync, Enricher, SyncReport
from core.domain.refs import NotDiscogsLink, parse_ref_strict
from core.domain.release import ImportResult
from core.ingest.readers import ReaderError
from core.learning.retrain import RetrainResult
from core.picks import Discoverer, Picks
from core.picks.service import NothingToGoOn
from core.recommender import Recommender, ScoreCard, TrainReport, UnknownRelease, safe_name
from core.storage import ModelVersion

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class Refusal(Exception):
    """A use case that cannot be done as asked: ``message`` says why (and what to do); ``code`` is the exit
    status a shell adapter returns (2: the request, 3: the release or photo, 4: Discogs)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


#: what a command tells when another process holds the database's write lock past the busy timeout
DATABASE_BUSY = ("The database is busy (another import or training is writing to it); try again in a moment.")


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is the database being locked by another writer (SQLite's "database is locked")."""
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()


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
        rec = self.ops.rec
        try:
            username = DiscogsGateway(oauth=(self.key, self.secret, token, token_secret), cfg=rec.cfg).identity()
        except DiscogsError as exc:
            raise _discogs(exc) from exc
        rec.store.link_account(self.user, username, "oauth", oauth_token=token, oauth_secret=token_secret,
                               box=rec.secret_box)
        return username


@dataclass
class BarcodeAnswer:
    """What a barcode look-up found: the codes read, whether they could be looked up, and the lines to show."""

    found: list[Any]
    lines: list[str]
    looked_up: bool


class Operations:
    """The shell's use cases over one :class:`~core.recommender.Recommender`."""

    def __init__(self, recommender: Recommender) -> None:
        self.rec = recommender
        self._discoverer: Discoverer | None = None

    @property
    def discoverer(self) -> Discoverer:
        if self._discoverer is None:
            self._discoverer = Discoverer(self.rec)
        return self._discoverer

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
            return self.rec.import_file(user, path)
        except ReaderError as exc:
            why = str(exc).removeprefix(f"{path}: ").removeprefix(f"{Path(path).name}: ")
            raise Refusal(f"Could not import {path}: {why}") from exc

    def train(self, user: str, progress: Progress | None = None) -> TrainReport:
        try:
            return self.rec.train(user, progress=progress)
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
        try:
            DiscogsGateway(cfg=self.rec.cfg).collection_page(username, 1, per_page=1)
        except DiscogsError as exc:
            raise _discogs(exc) from exc
        self.store.link_account(user, username, "username", box=self.rec.secret_box)
        return username

    def link_token(self, user: str, token: str, expected: str | None = None) -> str:
        """Link with a personal token (stored encrypted); ``expected`` is the Discogs name the caller meant."""
        if not token:
            raise Refusal("No token given.")
        box = self.rec.secret_box   # a key problem is said before the token goes anywhere
        try:
            username = DiscogsGateway(token=token, cfg=self.rec.cfg).identity()
        except DiscogsError as exc:
            raise _discogs(exc) from exc
        if expected and expected.lower() != username.lower():
            raise Refusal(f"That token belongs to {username}, not {expected}.")
        self.store.link_account(user, username, "token", token=token, box=box)
        return username

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
        """Prices for the linked account in ``currency`` (its stored secrets kept)."""
        store, box = self.store, self.rec.secret_box
        acct = store.linked_account(user)
        if acct is not None:
            store.link_account(user, acct.discogs_username, acct.auth_kind, **store.account_secrets(user, box),
                               box=box, currency=currency.upper())

    def unlink(self, user: str) -> None:
        self.store.unlink_account(user)

    def sync(self, user: str, full: bool = False,
             progress: Callable[[str, int, int], None] | None = None) -> list[SyncReport]:
        """Read the linked collection and wantlist (only what changed unless ``full``)."""

        if self.store.linked_account(user) is None:
            raise Refusal(f"{user} is not linked to Discogs: run `crate link USERNAME --user {user}` first.")
        gw = self.rec.gateway_for(user)
        if gw is None:
            raise Refusal("Live Discogs is switched off (discogs.live: false).")
        try:
            return CollectionSync(gw, self.store, self.rec.cfg.discogs.per_page).sync_linked(user, full, progress)
        except DiscogsError as exc:
            raise _discogs(exc) from exc

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
        typed = None if path.is_file() else typed_code(photo)
        data = b""
        if typed is None:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise Refusal(f"Cannot read {photo}: {exc.strerror or exc} (give a photo, or the digits under the "
                              "bars in quotes: \"0 75720 00325 9\")") from exc
        gw = self.rec.gateway_for(user)
        how: str | None
        try:
            if typed is not None:
                found, how = [typed], "typed"
            else:
                res = decode_photo(data)
                if not res.codes:
                    raise PhotoError("no barcode", NO_BARCODE_HINT)
                found, how = res.found, res.strategy
            if gw is None or not (gw.token or gw.oauth):
                lines = []
                for f in found:
                    note = " — read from the printed digits, check them" if f.from_digits else ""
                    lines.append(f"Barcode {f.printed} ({f.format}){note}")
                if gw is None:
                    lines.append("Live Discogs look-ups are off (discogs.live: false), so I can't look the pressings "
                                 "up.")
                else:
                    lines.append("Discogs only answers barcode searches for a linked account: run "
                                 f"`crate link --token-stdin --user {user}` first.")
                return BarcodeAnswer(found, lines, looked_up=False)
            matches = lookup_codes(found, gw, limit=limit)
        except PhotoError as exc:
            raise Refusal(exc.user_message, 3) from exc
        except DiscogsError as exc:
            raise _discogs(exc) from exc
        log.info("barcode %s", how)
        return BarcodeAnswer(found, PhotoLookup(None, matches).lines(), looked_up=True)

    # -- models ---------------------------------------------------------------------------------------------
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
        from core.learning.scheduler import LearningScheduler  # APScheduler: only when asked for

        return LearningScheduler(self.rec, announce=announce)

    def digest_path(self, user: str, out: str | None) -> Path:
        return Path(out) if out else self.rec.models_dir / f"{safe_name(user)}-digest.png"

    def has_user(self, user: str) -> bool:
        return user in self.store.users()
