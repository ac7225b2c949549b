"""The recommender service: import, train and score for one user. Knows no chat platform.

Adapters (terminal chat, Telegram, Discord, the CLI) call this and render what it returns.
"""
from __future__ import annotations

import ctypes
import gc
import logging
import os
import pickle
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, TypedDict

import numpy as np

from core.audio.neighbours import SoundIndexes
from core.config import Config, as_config, get_config, private_dir, resolve_path
from core.discogs.gateway import DiscogsError, DiscogsGateway, PriceLater
from core.domain.refs import DiscogsRef
from core.domain.release import CollectionItem, ImportResult, Release, album_key, others_pool, stable_sample
from core.domain.verdict import verdict_emoji, verdict_for
from core.ingest.readers import read_collection
from core.ingest.readers.catalogue import enrich_from_catalogue, load_catalogue
from core.learning.retrain import build_training_set, self_split
from core.model.embeddings import EmbeddingCache, default_cache
from core.model.reasons import YOU, Voice, explain
from core.model.scorers.base import Scorer, TrainingSet
from core.model.scorers.catboost_model import CatBoostScorer
from core.model.scorers.cold_start import ColdStartScorer
from core.secrets import SecretBox, SecretError
from core.storage import ModelVersion, Store

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
# what ``model_for`` serves: the user's personal model, or the cold-start scorer until there is one
ServingScorer = CatBoostScorer | ColdStartScorer


#: a stored token the bot cannot read (the key file damaged, missing or unsafe, or CRATE_SECRET_KEY changed)
TOKEN_UNREADABLE = ("I can't read your saved Discogs token, so I stopped rather than carry on without it (a private "
                    "collection would look empty and your rate limit would be halved). What is wrong: {detail}. "
                    "Restore the secret key (the key file from your backup, or the CRATE_SECRET_KEY it was made "
                    "with), or link your token again.")


class TokenUnreadable(SecretError, DiscogsError):
    """The user's stored credentials cannot be decrypted: a Discogs look-up must not go on anonymously."""


class _RegisterOptions(TypedDict, total=False):
    """Keyword options of ``Store.register_model`` that ``train`` passes on."""
    activate: bool
    status: str
    note: str | None


class UnknownRelease(LookupError):
    """A reference that the local catalogue (and cache) cannot resolve."""


@dataclass
class ScoreCard:
    release: Release
    probability: float
    verdict: str            # "buy" | "maybe" | "skip"
    score_type: str
    reasons: list[str]
    cold_start: bool
    model_version: str | None
    score_id: int | None = None
    notes: list[str] = field(default_factory=list)
    # share of records others bought (that the model never trained on) scoring below this one; None: cold start
    percentile: float | None = None
    # the collector already owns this album: "this very pressing" or "another pressing (2003, UK)"; None: not
    owned: str | None = None
    # the chance a typical record (the median of those records others bought) gets; None: cold start
    typical: float | None = None
    # the shares of those records a 🟢 buy and a 🟡 maybe must beat (the collector's setting or the default)
    shares: tuple[float, float] | None = None
    # a 30-second preview to hear: (what it is, "“Track” on Deezer", the service's page for the track, not the file)
    preview: tuple[str, str] | None = None

    @property
    def emoji(self) -> str:
        return verdict_emoji(self.verdict)


@dataclass
class TrainReport:
    user: str
    version: str | None
    n_positives: int
    n_negatives: int
    seconds: float
    cold_start: bool
    log: list[str]


def _catalogue_paths(cfg: Mapping[str, Any]) -> tuple[Path, Path, Path]:
    p = cfg["paths"]
    return resolve_path(p["catalogue"]), resolve_path(p["catalogue_labels"]), resolve_path(p["catalogue_community"])


def give_back_memory() -> None:
    """Hand the heap a big job freed back to the system (glibc keeps it otherwise: a 250k-record training left
    the bot gigabytes larger for good). A no-op where there is no ``malloc_trim``."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Recommender:
    def __init__(self, store: Store | None = None, catalogue: dict[int, Release] | None = None,
                 cfg: Mapping[str, Any] | None = None, embeddings: EmbeddingCache | None = None,
                 models_dir: Path | None = None) -> None:
        self.cfg: Config = as_config(cfg) if cfg is not None else get_config()
        self.store = store or Store()
        self._catalogue = catalogue
        self.embeddings = embeddings or default_cache()
        self.models_dir = models_dir or resolve_path(self.cfg.paths.models_dir)
        # the users' loaded models, least recently used first: bounded (scoring.models_in_memory), or a bot
        # serving thousands of collectors would end up holding every model it ever loaded
        self._models: OrderedDict[str, tuple[str, ServingScorer]] = OrderedDict()
        self._models_max = max(1, int(getattr(self.cfg.scoring, "models_in_memory", 64) or 64))
        self._models_lock = threading.Lock()
        self._gateways: dict[str, Any] = {}
        self._secret_box = None
        # trainings at once in this process (chat trainings and scheduled retrains together): each takes a core
        # and a few hundred MB, and a score waiting on the CPU is what a collector notices
        self.training_slots = threading.BoundedSemaphore(max(1, int(self.cfg.learning.training_workers)))
        #: each collector's records that have a sound, for "sounds like" (core/audio/neighbours.py)
        self.sound_indexes = SoundIndexes()

    # -- data ---------------------------------------------------------------------------------------
    @property
    def loaded_catalogue(self) -> dict[int, Release] | None:
        """The catalogue if it is in memory (given, or loaded already), else None (it loads on first use)."""
        return self._catalogue

    @property
    def catalogue(self) -> dict[int, Release]:
        if self._catalogue is None:
            self._catalogue = load_catalogue(*_catalogue_paths(self.cfg))
        return self._catalogue

    def embed(self, releases: list[Release]) -> np.ndarray:
        return self.embeddings.embed_releases(releases)

    def import_file(self, user: str, path: str | Path) -> ImportResult:
        """Read a collection/wantlist file, enrich it from the catalogue and store it (atomically)."""
        result = read_collection(path, catalogue=self.catalogue)
        items = enrich_from_catalogue(result.items, self.catalogue)
        for list_name in ("collection", "wantlist"):
            part = [it for it in items if it.list_name == list_name]
            if part:
                self.store.replace_collection(user, part, list_name=list_name, source=result.source)
        give_back_memory()
        return result

    def owned(self, user: str) -> list[CollectionItem]:
        return self.store.collection(user)

    # -- training -----------------------------------------------------------------------------------
    def negatives(self, owned: list[Release], n: int, seed: int) -> list[Release]:
        return stable_sample(others_pool(self.catalogue, owned), n, seed)

    def positives(self, user: str, before: date | None = None) -> tuple[list[Release], list]:
        seen: dict[int, CollectionItem] = {}
        for it in self.owned(user):
            if before is not None and (it.date_added is None or it.date_added >= before):
                continue
            seen.setdefault(it.release.id, it)
        rel, dates = [], []
        for it in seen.values():
            r = it.release
            if r.id in self.catalogue:
                r = r.merged_with(self.catalogue[r.id])
            rel.append(r)
            dates.append(it.date_added if it.list_name == "collection" else None)
        return rel, dates

    def train(self, user: str, progress: Progress | None = None, before: date | None = None, *,
              activate: bool = True, status: str = "active", note: str | None = None,
              extra_metrics: dict | None = None, first: bool = False) -> TrainReport:
        """Train a new model version on the collection, wantlist and feedback, and (by default) activate it.

        ``before`` trains on records added before that day only. ``first``: a new collector's first model, in
        seconds — one seed instead of a small collection's ensemble and no time-split figure of its own — to
        be followed by a full training in the background (:meth:`core.app.accounts.Accounts.learn`). The
        artefact is written atomically before the version is registered, so a crash mid-training leaves the
        current model in place.
        """

        say = progress or (lambda msg: None)
        if not self.training_slots.acquire(blocking=False):
            say("waiting for another collector's training to finish…")
            self.training_slots.acquire()
        try:
            return self._train(user, say, before, activate=activate, status=status, note=note,
                               extra_metrics=extra_metrics, first=first)
        finally:
            self.training_slots.release()
            give_back_memory()

    def _train(self, user: str, say: Progress, before: date | None, *, activate: bool, status: str,
               note: str | None, extra_metrics: dict | None, first: bool = False) -> TrainReport:
        t0 = time.perf_counter()
        self.sweep_model_files(user)
        mcfg = dict(self.cfg.model)
        positives, _ = self.positives(user, before)
        if not positives:
            raise LookupError(f"no collection imported for {user!r} yet")
        ts = build_training_set(self, user, before=before)
        if ts is not None and first:
            ts.config = {**dict(self.cfg.model), "ensemble": {"size": 1, "below_positives": 0}}
            extra_metrics = {**(extra_metrics or {}), "first": True}
        elif ts is not None and "holdout" not in (extra_metrics or {}):
            # every version records its own time-split figure: the next retrain compares like with like
            own, record = self_split(self, user, before=before, progress=say)
            extra_metrics = {**(extra_metrics or {}), "holdout": {**record, "challenger": own.__dict__ if own else None,
                                                                 "champion": None}}
        if ts is None:
            return TrainReport(user, None, len(positives), 0, time.perf_counter() - t0, True,
                               [f"{len(positives)} records is below {mcfg['min_records']}: "
                                "scores come from content neighbours until there are more"])
        self._embed_with_progress(ts.positives + ts.extra_positives + ts.negatives, say)
        sound = self.sound_presence(ts.positives + ts.extra_positives, ts.negatives)
        if sound:
            ts.log.append(sound)
        liked = f", {len(ts.extra_positives)} you liked or bought" if ts.extra_positives else ""
        say(f"learning your taste from {len(ts.positives)} of your records{liked} and {len(ts.negatives):,} "
            "records other collectors bought…")
        scorer = CatBoostScorer().fit(ts)
        scorer.weights = None   # not needed after training; keeps the artefact small
        version = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = self._save(user, version, scorer)
        model, calibrator = scorer.fitted()
        metrics = {"log": ts.log, "calibration": calibrator.to_dict(), "features": scorer.columns,
                   "importance": dict(zip(scorer.columns, map(float, model.get_feature_importance())))}
        metrics.update(extra_metrics or {})
        n_pos = len(ts.positives) + len(ts.extra_positives)
        kwargs: _RegisterOptions = {"activate": activate, "status": status, "note": note} \
            if (not activate or note) else {}
        self.store.register_model(user, version, str(path), metrics, n_pos, len(ts.negatives), **kwargs)
        if activate:
            self._keep_model(user, version, scorer)
        return TrainReport(user, version, n_pos, len(ts.negatives), time.perf_counter() - t0, False, ts.log)

    def _embed_with_progress(self, releases: list[Release], say: Progress, every_s: float = 3.0) -> None:
        """Embed what is not embedded yet, saying "reading N of M records" at least every ``every_s``."""
        todo = self.embeddings.missing(releases)
        if todo:
            t, step = time.monotonic(), 64
            say(f"looking closely at {len(todo):,} records (0 done)…")
            for i in range(0, len(todo), step):
                self.embed(todo[i:i + step])
                if time.monotonic() - t >= every_s:
                    t = time.monotonic()
                    say(f"looking closely at {len(todo):,} records "
                        f"({min(i + step, len(todo)):,} done)…")
        self.embeddings.save()

    def resolve_local(self, release_id: int) -> Release | None:
        """A release from the cache and/or the catalogue, never from the network."""
        cached, local = self.store.get_release(release_id), self.catalogue.get(release_id)
        if cached is not None and local is not None:
            return cached.merged_with(local)
        return cached or local

    def sweep_model_files(self, user: str, older_than_s: float = 600.0, now: float | None = None) -> list[Path]:
        """Delete what killed trainings left in the user's model folder — temp files and artefacts no model
        version names — once older than ``older_than_s`` (a training running now is younger). Returns them."""
        folder = self.models_dir / safe_name(user)
        if not folder.is_dir():
            return []
        now = time.time() if now is None else now
        registered = {Path(mv.path).resolve() for mv in self.store.models(user)}
        swept = []
        for f in list(folder.glob("*.tmp")) + list(folder.glob("*.pkl")):
            try:
                old = now - f.stat().st_mtime > older_than_s
            except OSError:
                continue
            if old and (f.suffix == ".tmp" or f.resolve() not in registered):
                f.unlink(missing_ok=True)
                swept.append(f)
        if swept:
            log.info("swept %d orphaned model file(s) of %s", len(swept), user)
        return swept

    def _save(self, user: str, version: str, scorer: Scorer) -> Path:
        """Write atomically: a temp file in the same folder, fsync, then rename."""
        folder = self.models_dir / safe_name(user)
        private_dir(folder)
        final = folder / f"{version}.pkl"
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(scorer, fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return final

    def sweep_temp_files(self, older_than_s: float = 3600.0) -> list[Path]:
        """Delete ``*.tmp`` files that a process killed inside :meth:`_save` left in the models folder.

        Only files older than ``older_than_s`` go: a younger one may be another process's save in progress.
        They are never registered, so leaving them is harmless; this only reclaims the disk. Returns what went.
        """
        gone: list[Path] = []
        if not self.models_dir.is_dir():
            return gone
        cutoff = time.time() - older_than_s
        for tmp in self.models_dir.glob("*/*.tmp"):
            try:
                if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    gone.append(tmp)
            except OSError as exc:  # vanished meanwhile, or not ours to delete
                log.debug("could not remove %s: %s", tmp, exc)
        if gone:
            log.info("removed %d stale temporary model file(s) from %s", len(gone), self.models_dir)
        return gone

    def _keep_model(self, user: str, version: str, scorer: ServingScorer) -> None:
        with self._models_lock:
            self._models[user] = (version, scorer)
            self._models.move_to_end(user)
            while len(self._models) > self._models_max:
                self._models.popitem(last=False)

    def model_for(self, user: str,
                  active: ModelVersion | None | Literal[False] = False) -> tuple[str | None, ServingScorer]:
        """The user's active model (loaded lazily), or a cold-start scorer. ``active``: the already looked-up
        active version (``None``: the user has none), to save the query."""
        if active is False:
            active = self.store.active_model(user)
        if active is not None:
            cached = self._models.get(user)
            if cached and cached[0] == active.version:
                with self._models_lock:
                    if user in self._models:
                        self._models.move_to_end(user)
                return cached
            try:
                with open(active.path, "rb") as fh:
                    scorer = pickle.load(fh).attach(self.embed)
                self._keep_model(user, active.version, scorer)
                return active.version, scorer
            except (OSError, pickle.UnpicklingError, EOFError) as exc:
                log.warning("model %s for %s unreadable (%s): falling back to cold start", active.version,
                            user, exc)
        positives, _ = self.positives(user)
        # no model yet (a new collector, minutes in): the static table, so no sentence model has to load first
        from core.catalogue.static import static_embedder

        cold = ColdStartScorer().fit(TrainingSet(positives, [], static_embedder(), dict(self.cfg.model)))
        return None, cold

    # -- scoring ------------------------------------------------------------------------------------
    # -- live Discogs -------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return bool(self.cfg.discogs.live)

    def gateway_for(self, user: str | None = None):
        """The user's gateway (their token's rate budget) or the shared anonymous one; None when offline."""
        if not self.live:
            return None

        secrets: dict[str, str | None] = {}
        acct = self.store.linked_account(user) if user else None
        if user and acct is not None and acct.has_secrets:   # an account implies a user
            try:
                secrets = self.store.account_secrets(user, self.secret_box) or {}
            except SecretError as exc:   # never a silent fall-back to anonymous: say what is wrong and what to do
                log.warning("could not read %s's Discogs credentials: %s", user, exc)
                raise TokenUnreadable(str(exc), TOKEN_UNREADABLE.format(detail=exc)) from exc
        key = secrets.get("token") or secrets.get("oauth_token") or ""
        cache_key = f"{user}:{hash(key)}" if key else "anonymous"
        gw = self._gateways.get(cache_key)
        if gw is None:
            oauth: tuple[str, str, str, str] | None = None
            oauth_token = secrets.get("oauth_token")
            if oauth_token:
                # the store keeps an OAuth token only together with its secret
                oauth = (os.environ.get("DISCOGS_CONSUMER_KEY", ""),
                         os.environ.get("DISCOGS_CONSUMER_SECRET", ""), oauth_token,
                         secrets.get("oauth_secret") or "")
            gw = DiscogsGateway(token=secrets.get("token"), oauth=oauth, cfg=self.cfg)
            self._gateways[cache_key] = gw
        return gw

    @property
    def secret_box(self):
        if self._secret_box is None:   # never a fresh key while tokens encrypted with the old one are stored
            self._secret_box = SecretBox(create=not self.store.any_secrets())
        return self._secret_box

    def resolve(self, ref: DiscogsRef | int, user: str | None = None, *, own: bool = True) -> Release:
        """A release from the local catalogue or cache, else (live) from Discogs, cached for next time. ``own``:
        the user's own file's version may answer when nothing shared knows the release (never where others see
        it, as in a server's ranking)."""
        return self._resolve(ref, user, own)[0]

    def _resolve(self, ref: DiscogsRef | int, user: str | None, own: bool = True) -> tuple[Release, bool]:
        """(release, shared): ``shared`` is False when only the user's own file describes it — then it is theirs
        alone and never goes into the shared cache."""
        if isinstance(ref, int):
            ref = DiscogsRef("release", ref)
        if ref.kind == "release":
            local = self.resolve_local(ref.id)
            if local is not None:
                return local, True
            mine = self.store.own_release(user, ref.id) if user and own else None
            if mine is not None:   # known only from the user's own file: theirs to see, nobody else's
                return mine, False
        elif ref.kind == "master":
            mains = sorted((r for r in self.catalogue.values() if r.master_id == ref.id), key=lambda r: r.id)
            if mains:
                return mains[0], True
        gw = self.gateway_for(user)
        if gw is None:
            what = {"release": f"release {ref.id}", "master": f"master {ref.id}",
                    "listing": f"marketplace listing {ref.id}"}[ref.kind]
            raise UnknownRelease(f"I don't know {what} offline, and live Discogs look-ups are switched off.")
        release = gw.resolve(ref)   # DiscogsError subclasses carry a user-facing message
        self.store.cache_releases([release], source="discogs-api")
        return release, True

    def with_price(self, user: str, release: Release, *, wait: bool = True) -> Release:
        """The release priced in the user's currency (the lowest marketplace price) when Discogs can tell; never
        fatal. A price in another currency is dropped rather than shown (one currency per card and page).
        ``wait=False``: only a price that can be had at once (see :meth:`DiscogsGateway.price`)."""
        gw = self.gateway_for(user)
        acct = self.store.linked_account(user)
        currency = (getattr(acct, "currency", None) or "EUR").upper()
        if release.lowest_price is not None and (release.price_currency or "").upper() == currency:
            return release   # already priced in the user's currency (a /releases price has no currency)
        price = None
        if gw is not None:
            try:
                price = gw.price(release.id, currency, wait=wait)
            except PriceLater:
                log.debug("price of %s later: the rate-limit window is busy", release.id)
            except DiscogsError as exc:
                log.info("no price for %s: %s", release.id, type(exc).__name__)
        if price:
            return Release.from_dict({**release.to_dict(), "lowest_price": price[0], "price_currency": price[1]})
        if release.lowest_price is not None:
            return Release.from_dict({**release.to_dict(), "lowest_price": None, "price_currency": None})
        return release

    def score(self, user: str, ref: DiscogsRef | int | Release, record: bool = True,
              voice: Voice = YOU, *, as_of: date | None = None) -> ScoreCard:
        """The card of ``ref`` for ``user`` (``record``: served, so feedback can refer to it; ``voice``: whom
        the reasons speak of, the collector or, in a server's ranking, the member in the third person)."""
        # a Release handed in may be anyone's version of it: only resolved shared facts go to the shared cache
        release, shared = (ref, False) if isinstance(ref, Release) else self._resolve(ref, user)
        if self.live and self.cfg.discogs.prices:
            release = self.with_price(user, release, wait=False)
        active, settings = self.store.serving_state(user)
        version, scorer = self.model_for(user, active)
        ff = scorer.features([release])
        row = ff.X.iloc[0]
        if isinstance(scorer, CatBoostScorer):
            scores, contributions = scorer.score_explained(ff.X)
            p, contrib = float(scores[0]), contributions.iloc[0]
        else:
            p, contrib = float(scorer.score_frame(ff.X)[0]), None
        exp = explain(release, scorer.profile, row, ff.neighbours[0], contrib,
                      int(self.cfg.scoring.max_reasons), voice)
        sounds, preview = self.sound_of(user, release, voice)
        if sounds:   # second: after the strongest reason from the collection, before the rest
            exp.reasons = (exp.reasons[:1] + [sounds] + exp.reasons[1:])[:max(int(self.cfg.scoring.max_reasons), 2)]
        buy, maybe = self.thresholds(user, scorer, settings)
        verdict = verdict_for(p, buy, maybe)
        pct = scorer.percentile(np.array([p]))[0] if hasattr(scorer, "percentile") else float("nan")
        notes = []
        if version is None and scorer.profile.n >= int(self.cfg.model.min_records):
            notes.append("A first estimate from records like yours: your personal model isn't ready yet.")
        elif version is None:
            notes.append(f"A first estimate: I only know {scorer.profile.n} of your records, so this comes from "
                         f"similar records (a personal model comes at {self.cfg.model.min_records}).")
        reference = getattr(scorer, "reference_scores", None)
        typical = float(np.median(reference)) if reference is not None and len(reference) else None
        card = ScoreCard(release, p, verdict, exp.score_type, exp.reasons, version is None, version, None, notes,
                         None if np.isnan(pct) else float(pct),
                         self.owned_as(user, release, scorer.profile, as_of),
                         typical, self.shares(user, settings) if typical is not None else None, preview)
        if record and shared:
            self.store.cache_releases([release], source="scored")
            card.score_id = self.store.record_score(user, release.id, p, verdict, exp.score_type, exp.reasons,
                                                    version)
        return card

    def sound_presence(self, positives: list[Release], negatives: list[Release]) -> str | None:
        """The presence rule for sound (as for every feature, ``model.presence_gap``): the model may only learn
        from what is known for the collector's records and for the records others bought alike, or it learns
        which records were heard rather than taste. Sound is heard for the records of collectors who enrich, not
        for the market's: it stays out of the model, and the training's notes say so with the shares."""
        if not positives:
            return None
        heard = self.store.audio_rows([r.id for r in positives + negatives])
        pos = sum(r.id in heard for r in positives) / len(positives)
        neg = sum(r.id in heard for r in negatives) / max(len(negatives), 1)
        if pos == 0 and neg == 0:
            return None
        gap = abs(pos - neg) > float(self.cfg.model.presence_gap)
        why = ("it would tell heard records from unheard ones, not your taste" if gap else
               "sound serves the cards' \"sounds like\" and /discover's moods, not the score")
        return (f"left out sound: heard for {pos:.0%} of your records and {neg:.0%} of the records other "
                f"collectors bought — {why}")

    def sound_of(self, user: str, release: Release, voice: Voice = YOU) -> tuple[str | None, tuple[str, str] | None]:
        """(the "sounds like" reason, the preview link) of ``release`` for ``user``, from stored audio only (never
        a look-up on the reply path): the reason when the collection's nearest record in sound is at least
        ``audio.sounds_like_at`` alike (the similarity said as it is), the link when a preview was heard."""
        row = self.store.audio(release.id)
        if row is None or row.status != "ok":
            return None, None
        refs = row.track_refs_list
        service = {"deezer": "Deezer", "itunes": "Apple Music"}.get(row.source, row.source)
        preview = (f"“{refs[0]['title']}” on {service}", refs[0]["page"]) if refs and refs[0].get("page") else None
        vec = row.vector_array
        if vec.size == 0:
            return None, preview
        owned = [it.release for it in self.store.collection(user, "collection")]
        index = self.sound_indexes.get(user, owned, self.store.audio_vectors)
        near = index.nearest(release, vec) if index is not None else None
        if near is None or near[1] < float(self.cfg.audio.sounds_like_at):
            return None, preview
        other, sim = near
        return (f"sounds like {other.display}, which {voice.subject} own{'s' if voice.subject != 'you' else ''} "
                f"({round(sim * 100)} % alike in tempo, energy and tone)"), preview

    def owned_as(self, user: str, release: Release, profile, as_of: date | None = None) -> str | None:
        """How the collector already owns ``release``'s album, in words, or None: "this very pressing", or
        "another pressing (2003, UK)". The profile says whether any record shares the album (a dict look-up);
        only then is the collection read, to tell owned from wanted. ``as_of``: what was owned before that day
        (the demo scores records bought after its training cut-off as they looked then)."""
        key = album_key(release)   # the very pressing shares it too
        if not profile.album_positions.get(key):
            return None
        mine = [it.release for it in self.store.collection(user, "collection")
                if (it.release.id == release.id or album_key(it.release) == key)
                and (as_of is None or (it.date_added is not None and it.date_added < as_of))]
        if not mine:
            return None
        if any(r.id == release.id for r in mine):
            return "this very pressing"
        other = mine[0]
        about = ", ".join(str(x) for x in (other.year, other.country) if x)
        return "another pressing" + (f" ({about})" if about else "")

    def shares(self, user: str, settings: dict | None = None) -> tuple[float, float]:
        """(buy, maybe): the share of records others bought that a 🟢 buy, a 🟡 maybe must beat — the
        collector's own ``buy_share`` setting (``/settings buy 5``: their top 5 %) or ``model.verdicts``."""
        v = self.cfg.model.verdicts
        buy, maybe = float(v.buy_share), float(v.maybe_share)
        own = (settings if settings is not None else self.store.get_settings(user)).get("buy_share")
        if isinstance(own, (int, float)) and 0.0 < float(own) < 1.0:
            buy = float(own)
        return buy, max(maybe, buy)

    def thresholds(self, user: str, scorer: Scorer | None = None,
                   settings: dict | None = None) -> tuple[float, float]:
        """(buy, maybe) probability thresholds for the user. With a personal model they are read off its
        reference scores (records others bought that it never trained on) at the collector's shares
        (:meth:`shares`): a 🟢 buy is a record in their top 2 % (or the share they chose), whatever its chance —
        so the verdict and "top N % for you" can never disagree. Without a model (a first estimate) the fixed
        ``scoring.*_threshold`` probabilities. The maybe threshold never exceeds the buy threshold."""
        sc = self.cfg.scoring
        buy, maybe = float(sc["buy_threshold"]), float(sc["maybe_threshold"])
        settings = settings if settings is not None else self.store.get_settings(user)
        if scorer is None:
            scorer = self.model_for(user)[1]
        buy_share, maybe_share = self.shares(user, settings)
        at_buy, at_maybe = self.chance_at(scorer, buy_share), self.chance_at(scorer, maybe_share)
        if at_buy is not None and at_maybe is not None:
            buy, maybe = at_buy, at_maybe
        return buy, min(maybe, buy)

    @staticmethod
    def chance_at(scorer: Scorer | ServingScorer, share: float) -> float | None:
        """The chance that puts a record in the collector's top ``share`` of records others bought (read off the
        model's reference scores); None without a personal model."""
        ref = getattr(scorer, "reference_scores", None)
        return float(np.quantile(ref, 1 - share)) if ref is not None and len(ref) else None

    def forget_user(self, user: str):
        """Delete everything stored about the user (store rows in one transaction, then model files and the
        loaded model). Returns the store's :class:`~core.storage.ForgetReport`."""
        report = self.store.forget_user(user)
        with self._models_lock:
            self._models.pop(user, None)
        for path in report.model_paths:
            try:
                Path(path).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not delete model file of %s: %s", user, type(exc).__name__)
        folder = self.models_dir / safe_name(user)
        if folder.is_dir():
            for leftover in folder.glob("*"):
                if leftover.is_file() and leftover.suffix in (".pkl", ".tmp"):
                    leftover.unlink(missing_ok=True)
            try:
                folder.rmdir()
            except OSError:
                pass   # something else lives there: leave it
        return report

    def feedback(self, user: str, kind: str, score_id: int | None = None, reason: str | None = None,
                 source: str = "chat", event_id: str | int | None = None) -> tuple[str, Release | None]:
        """Store 👍/👎/bought for the given (or the last) score served to this user, exactly once per event."""
        served = self.store.get_score(score_id) if score_id else self.store.last_score(user)
        if served is None:
            raise LookupError("nothing scored yet")
        buy, maybe = self.thresholds(user)
        self.store.record_feedback(user, kind, score_id=served.id, release_id=served.release_id, reason=reason,
                                   source=source, event_id=event_id, buy_threshold=buy, maybe_threshold=maybe)
        return kind, self.store.get_release(served.release_id) or self.catalogue.get(served.release_id)


def safe_name(name: str) -> str:
    """The user's name as a file or folder name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "user"
