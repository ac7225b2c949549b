"""Discover: a page of personal picks for one collector.

1. Retrieval (static embeddings, the catalogue index): probes at the collection's clusters, recent additions,
   liked or bought records and the query; plus a seeded random sample of the catalogue, so the model can find
   records no probe is near (exploration).
2. Never what the collector owns or wants, another pressing of an album they have (same master or same artist and
   title), or a release shown to them (picked or scored) in the last ``discover.recent_days``.
3. The best ``discover.rerank`` by retrieval similarity (or by the words) are scored by the collector's own model.
4. MMR picks the page: ``adventurous`` of it from "genre exploration" candidates, no artist twice, labels and
   styles spread. Each pick is recorded like a card (a score id, so 👍 / 👎 / bought work on it).
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np

from core.catalogue import Catalogue
from core.domain.release import Release, album_key, norm_text
from core.domain.verdict import verdict_emoji, verdict_for
from core.model.reasons import EXPLORATION, RARE, SIMILAR, explain, rarity_ratio
from core.model.scorers.catboost_model import CatBoostScorer
from core.picks.mmr import mmr
from core.picks.query import QueryIntent, read_query
from core.picks.retrieval import make_probes, retrieve
from core.ports import PickSource

log = logging.getLogger(__name__)

#: a pick's kind → how a card says it (the same words as a scored card's type, core/model/reasons.py)
KIND_LABELS = {"similar": SIMILAR, "exploration": EXPLORATION, "rare": RARE}


class NothingToGoOn(LookupError):
    """No collection to pick for (the message says what to do)."""


@dataclass
class Pick:
    release: Release
    probability: float
    verdict: str
    kind: str                 # "similar" | "exploration" | "rare"
    reasons: list[str]
    match: str | None = None  # how it matches the words, when there were words
    score_id: int | None = None

    @property
    def emoji(self) -> str:
        return verdict_emoji(self.verdict)

    @property
    def best_reason(self) -> str:
        """The strongest reason after the kind line (the one a list of picks has room for)."""
        return next((r for r in self.reasons[1:] if r), "")


@dataclass
class Picks:
    user: str
    picks: list[Pick]
    query: str | None
    adventurous: float
    considered: int           # candidates retrieved
    reranked: int             # of them scored by the model
    seconds: float
    cold_start: bool
    notes: list[str] = field(default_factory=list)
    intent: QueryIntent | None = None

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "query": self.query, "adventurous": self.adventurous,
                "considered": self.considered, "reranked": self.reranked, "seconds": round(self.seconds, 3),
                "cold_start": self.cold_start, "notes": self.notes,
                "query_styles": sorted(self.intent.tags) if self.intent else [],
                "picks": [{"release_id": p.release.id, "title": p.release.display, "kind": p.kind,
                           "probability": round(p.probability, 4), "verdict": p.verdict, "reasons": p.reasons,
                           "match": p.match, "score_id": p.score_id, "styles": p.release.styles,
                           "url": f"https://www.discogs.com/release/{p.release.id}"} for p in self.picks]}


def _utc(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


class Discoverer:
    """Picks for a collector from ``catalogue`` with the recommender's per-user model."""

    def __init__(self, rec: PickSource, catalogue: Catalogue | None = None) -> None:
        self.rec = rec
        self.catalogue = catalogue or Catalogue(rec.cfg)
        self.cfg = rec.cfg.discover
        self._vector_cache: dict[str, tuple[tuple[int, int], np.ndarray, np.ndarray]] = {}

    # -- settings -----------------------------------------------------------------------------------
    def adventurous(self, user: str) -> float:
        v = self.rec.store.get_settings(user).get("adventurous")
        return float(v) if isinstance(v, (int, float)) and 0 <= v <= 1 else float(self.cfg.adventurous)

    def set_adventurous(self, user: str, value: float) -> None:
        settings = self.rec.store.get_settings(user)
        settings["adventurous"] = round(min(1.0, max(0.0, float(value))), 2)
        self.rec.store.set_settings(user, settings)

    # -- picks --------------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Join what the bot has seen since last time (and the bundled catalogue) to the candidates."""
        return self.catalogue.join_seen(self.rec.catalogue, self.rec.store)

    def excluded(self, user: str, owned: list[Release], now: datetime) -> tuple[set[int], set[str]]:
        """(release ids, album keys) never to pick: owned or wanted, other pressings of those albums, and what
        was shown to the collector in the last ``recent_days``."""
        ids = {r.id for r in owned}
        albums = {album_key(r) for r in owned}
        masters = {r.master_id for r in owned if r.master_id}
        # the catalogue may know an owned release's master where the collection file did not say it
        masters |= {m for _, m in self.catalogue.store.brief(ids).values() if m}
        ids |= self.catalogue.store.other_pressings(masters, albums)
        since = now - timedelta(days=float(self.cfg.recent_days))
        shown = {s.release_id for s in self.rec.store.scores(user, since=since)}
        ids |= shown
        # an album shown lately (any pressing) is not picked again: one album once across a list's pages
        albums |= {album for album, _ in self.catalogue.store.brief(shown).values()}
        return ids, albums

    def discover(self, user: str, k: int | None = None, query: str | None = None,
                 adventurous: float | None = None, *, record: bool = True, now: datetime | None = None,
                 progress: Callable[[str], None] | None = None, prices: bool = True) -> Picks:
        t0 = time.perf_counter()
        now = _utc(now)
        k = int(k or self.cfg.page_size)
        a = self.adventurous(user) if adventurous is None else min(1.0, max(0.0, float(adventurous)))
        items = self.rec.owned(user)
        if not items:
            raise NothingToGoOn("I need your collection first: link your Discogs username or upload your export, "
                                "then ask me for picks.")
        self.refresh()
        if progress:
            progress("🔎 Looking through the catalogue…")
        owned = [it.release for it in items]
        exclude, albums = self.excluded(user, owned, now)
        emb = self.catalogue.embedder
        owned_vecs, recent_vecs = self._collection_vectors(user, items)
        liked_ids = [f.release_id for f in self.rec.store.feedback(user) if f.kind in ("like", "bought")][-10:]
        liked = list(self.catalogue.store.get(liked_ids).values())
        liked_vecs = emb.embed_releases(liked)
        intent = read_query(query) if query and query.strip() else None
        if intent is not None and not intent.tags:
            # words that name no style, genre or mood: say so rather than invent "close in meaning" picks
            return Picks(user, [], query, a, 0, 0, time.perf_counter() - t0, False,
                         [f"I don't know “{intent.text}” as a style, a genre or a mood, so I won't guess. Try a "
                          "style (/discover krautrock, /discover dark ambient), a mood (/discover calm), or "
                          "/discover alone for picks from your taste."], intent)
        carriers_total = 0
        qvec = None
        if intent is not None:
            tags = sorted(intent.tags)
            qvec = emb.embed_texts([intent.text + (". Styles: " + ", ".join(tags) if tags else "")])[0]
        probes = make_probes(owned_vecs, recent_vecs, liked_vecs, qvec)
        found = retrieve(self.catalogue.search, probes, int(self.cfg.candidates), exclude)
        for rid in self._explore_sample(user, now, exclude):
            found.setdefault(rid, (0.0, "explore"))
        if intent is not None and intent.tags:   # releases carrying the words' styles are candidates (a sample)
            carriers_all = self.catalogue.store.tagged(intent.tags, 500_000)
            carriers_total = len(carriers_all)
            carriers = [r for r in carriers_all if r not in exclude]
            rng = random.Random(f"{user}:{now.date().isoformat()}:{intent.text}")
            n = int(self.cfg.candidates)
            for rid in (carriers if len(carriers) <= n else rng.sample(carriers, n)):
                found.setdefault(rid, (0.0, "query"))
        brief = self.catalogue.store.brief(found)
        ids = [rid for rid, (album, _) in brief.items() if album not in albums]
        if intent is not None and intent.tags:   # the words name styles: only records that carry them
            carrying = self.catalogue.store.tagged_among(intent.tags, ids)
            if intent.sound_moods:   # mood words: a heard sound decides, the styles stand in where none was
                carrying = self._sound_matches(intent, ids, carrying)
            ids = [rid for rid in ids if rid in carrying]
        considered = len(ids)
        if not ids:
            why = (f"Only {carriers_total} record{'s' * (carriers_total != 1)} in the catalogue carry "
                   f"{', '.join(sorted(intent.tags))}, and you own or have seen them all lately."
                   if intent is not None and intent.tags else
                   "The catalogue has nothing new near your collection yet (try `crate catalogue build`).")
            return Picks(user, [], query, a, 0, 0, time.perf_counter() - t0, False, [why], intent)
        vecs = self.catalogue.store.vectors(ids)
        prior = np.array([found[rid][0] for rid in ids])
        qscore = hit = None
        if intent is not None and qvec is not None:
            tagged = self.catalogue.store.tagged_among(intent.tags, ids) if intent.tags else set()
            tagged |= set(intent.by_sound)
            hit = np.array([rid in tagged for rid in ids])
            qscore = self._query_score(hit, vecs @ qvec, bool(intent.tags))
            # within the words, closeness to the collection decides who the model weighs
            centroids = np.stack([p.vector for p in probes if p.kind == "cluster"])
            personal = (vecs @ centroids.T).max(axis=1)
            prior = qscore + 0.3 * (personal - personal.min()) / max(float(np.ptp(personal)), 1e-9)
        explore = np.array([found[rid][1] == "explore" for rid in ids])
        m = int(self.cfg.rerank)
        top = list(np.argsort(-prior, kind="stable")[:m])
        in_top = set(top)
        top += [i for i in np.flatnonzero(explore)[: m // 4] if i not in in_top]
        got = self.catalogue.store.get([ids[i] for i in top])
        top = [i for i in top if ids[i] in got]
        short = [got[ids[i]] for i in top]
        svecs, sq = vecs[top], (qscore[top] if qscore is not None else None)
        shit = hit[top] if hit is not None else None
        if progress:
            progress(f"🎯 Weighing {len(short)} records against your taste…")
        version, scorer = self.rec.model_for(user)
        ff = scorer.features(short)
        p = np.asarray(scorer.score_frame(ff.X), dtype=float)
        kinds = self._kinds(short, ff.X)
        rel = p if sq is None else np.sqrt(np.clip(p, 1e-6, 1)) * (0.25 + 0.75 * sq)
        if shit is not None:   # only what carries the words' styles (the ids were filtered above)
            chosen = self._page(short, svecs, rel + 1.0 * shit, kinds, k, a, only=shit)
        else:
            chosen = self._page(short, svecs, rel, kinds, k, a)
        # the page is sorted by what it shows: each pick's chance, best first
        chosen = sorted(chosen, key=lambda i: -p[i])
        picks = self._finish(user, [short[i] for i in chosen], [kinds[i] for i in chosen], intent, scorer,
                             version, record, prices)
        notes = []
        if intent is not None and intent.tags:
            named = ", ".join(sorted(intent.tags))
            if carriers_total < 3 * k:
                notes.append(f"Only {carriers_total} record{'s' * (carriers_total != 1)} in the catalogue carry "
                             f"{named}, so the choice is small" + (": here is what I have." if picks else
                                                                   ", and you own or have seen them all."))
            else:
                notes.append(f"{carriers_total:,} records in the catalogue carry {named}: the best for you first.")
        if version is None:
            notes.append("A first estimate: these picks come from records like yours; a personal model makes them "
                         "sharper.")
        return Picks(user, picks, query, a, considered, len(short), time.perf_counter() - t0, version is None,
                     notes, intent)

    # -- steps --------------------------------------------------------------------------------------
    def _sound_matches(self, intent: QueryIntent, ids: list[int], carrying: set[int]) -> set[int]:
        """The records that fit the query's mood words: by their sound where it was heard (whatever their styles:
        a "calm" record tagged Punk fits, an energetic one tagged Ambient does not), by the mood's styles where
        it was not. Fills ``intent.by_sound`` with how each heard one fits."""
        heard = self.rec.store.audio_features(ids)
        out = {rid for rid in carrying if rid not in heard}
        for rid, f in heard.items():
            if intent.sound_fits(f):
                out.add(rid)
                words = ", ".join(intent.sound_moods)
                intent.by_sound[rid] = (f"sounds {words} ({float(f.get('tempo_bpm', 0)):.0f} beats a minute, "
                                        f"energy {float(f.get('energy', 0)):.0%})")
        return out


    def _collection_vectors(self, user: str, items: list) -> tuple[np.ndarray, np.ndarray]:
        """(the latest 5,000 records' vectors, the 10 latest dated ones'), kept while the collection is the same."""
        key = (len(items), sum(it.release.id for it in items))
        hit = self._vector_cache.get(user)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        emb = self.catalogue.embedder
        latest = sorted((it for it in items if it.list_name == "collection"),
                        key=lambda it: (it.date_added or date.min, it.release.id))
        owned = emb.embed_releases([it.release for it in latest[-5000:]] or [it.release for it in items[:5000]])
        recent = emb.embed_releases([it.release for it in latest[-10:] if it.date_added])
        self._vector_cache[user] = (key, owned, recent)
        while len(self._vector_cache) > 64:
            self._vector_cache.pop(next(iter(self._vector_cache)))
        return owned, recent

    @staticmethod
    def _kinds(short: list[Release], X) -> list[str]:
        """Each candidate's kind, by the rule the card's reasons use (core/model/reasons.py): rare when wanted by
        more than have it; similar with the artist owned, a close owned record or a style collected; else
        exploration."""
        def col(name: str) -> np.ndarray:
            return np.nan_to_num(X[name].to_numpy(dtype=float)) if name in X else np.zeros(len(short))

        similar = (col("artist_count") > 0) | (col("knn_max") >= 0.7) | (col("style_max_share") >= 0.1)
        out = []
        for r, sim in zip(short, similar):
            ratio = rarity_ratio(r)
            out.append("rare" if ratio is not None and ratio >= 1.0 else "similar" if sim else "exploration")
        return out

    def _explore_sample(self, user: str, now: datetime, exclude: set[int]) -> list[int]:
        """A random sample of the catalogue, seeded by collector and day (fresh each day, stable within it)."""
        n = int(self.cfg.explore_sample)
        if n <= 0:
            return []
        rng = random.Random(f"{user}:{now.date().isoformat()}")
        return [i for i in self.catalogue.store.sample_ids(n, rng) if i not in exclude]

    @staticmethod
    def _query_score(hit: np.ndarray, sims: np.ndarray, has_tags: bool) -> np.ndarray:
        """How well each candidate matches the words, 0..1: carrying a style or genre the words name (``hit``)
        counts most (0.6), closeness in meaning (``sims``) the rest."""
        lo, hi = float(sims.min()), float(sims.max())
        close = (sims - lo) / (hi - lo) if hi > lo else np.ones_like(sims)
        return (0.6 * hit.astype(float) + 0.4 * close) if has_tags else close

    def _page(self, short: list[Release], vecs: np.ndarray, rel: np.ndarray, kinds: list[str], k: int,
              a: float, only: np.ndarray | None = None,
              artists_taken: frozenset[str] | set[str] = frozenset()) -> list[int]:
        """MMR with ``round(a·k)`` of the slots kept for exploration picks (when there are any); ``only``: the
        rows that may be picked; ``artists_taken``: artists already on the page."""
        lam = float(self.cfg.mmr_lambda)
        artists = [norm_text(r.artist) for r in short]
        base = np.ones(len(short), dtype=bool) if only is None else only.copy()
        base &= np.array([x not in artists_taken for x in artists])
        explore = np.array([x == "exploration" for x in kinds]) & base
        n_explore = min(int(round(a * k)), k) if explore.any() else 0
        labels = [[norm_text(x) for x in r.labels] for r in short]
        styles = [r.styles for r in short]
        first = mmr(rel, vecs, n_explore, lam, artists, labels, styles, allowed=explore) if n_explore else []
        rest_allowed = (base & ~explore) if n_explore else base.copy()
        used = {artists[i] for i in first}
        rest_allowed &= np.array([x not in used for x in artists])
        rest_allowed[first] = False
        rest = mmr(rel, vecs, k - len(first), lam, artists, labels, styles, allowed=rest_allowed)
        if len(first) + len(rest) < k:   # not enough of one kind: fill from the other
            used |= {artists[i] for i in rest}
            more = base & np.array([x not in used for x in artists])
            more[first + rest] = False
            rest += mmr(rel, vecs, k - len(first) - len(rest), lam, artists, labels, styles, allowed=more)
        order = sorted(first + rest, key=lambda i: -rel[i])
        return order

    def _finish(self, user: str, chosen: list[Release], kinds: list[str], intent: QueryIntent | None, scorer,
                version: str | None, record: bool, prices: bool) -> list[Pick]:
        rec = self.rec
        if prices and rec.live and rec.cfg.discogs.prices and rec.store.linked_account(user) is not None:
            # prices the rate limit allows at once; the page never waits for the rest (see prices_later)
            chosen = [rec.with_price(user, r, wait=False) for r in chosen]
            self.prices_later(user, [r for r in chosen if r.lowest_price is None])
        ff = scorer.features(chosen)
        if isinstance(scorer, CatBoostScorer):
            p, contrib = scorer.score_explained(ff.X)
        else:
            p, contrib = scorer.score_frame(ff.X), None
        buy, maybe = rec.thresholds(user, scorer)
        max_reasons = int(rec.cfg.scoring.max_reasons)
        if record:
            rec.store.cache_releases(chosen, source="pick")   # (one write: a served score's release is cached)
        picks = []
        for i, (r, kind) in enumerate(zip(chosen, kinds)):
            exp = explain(r, scorer.profile, ff.X.iloc[i], ff.neighbours[i],
                          contrib.iloc[i] if contrib is not None else None, max_reasons)
            reasons = [self._kind_line(kind, r, scorer.profile)] + [x for x in exp.reasons if
                                                                   not x.startswith("rare:") or kind != "rare"]
            match = intent.explain(r) if intent is not None else None
            prob = float(p[i])
            verdict = verdict_for(prob, buy, maybe)
            pick = Pick(r, prob, verdict, kind, reasons[:max_reasons], match)
            if record:
                pick.score_id = rec.store.record_score(user, r.id, prob, verdict, f"pick:{kind}",
                                                       ([match] if match else []) + pick.reasons, version)
            picks.append(pick)
        return picks

    def prices_later(self, user: str, releases: list[Release]) -> None:
        """Fetch the prices a page went without, at the rate limit's pace, in the background: the card a pick
        opens (or the next page) has them from the cache."""
        if not releases:
            return

        def fetch() -> None:
            for r in releases:
                try:
                    self.rec.with_price(user, r)
                except Exception:   # a price is never worth a failure
                    log.debug("background price of %s failed", r.id, exc_info=True)

        threading.Thread(target=fetch, name="prices-later", daemon=True).start()

    @staticmethod
    def _kind_line(kind: str, r: Release, profile) -> str:
        if kind == "rare":
            ratio = rarity_ratio(r)
            return f"rare find: {r.have:,} have / {r.want:,} want" if ratio is not None else "rare find"
        if kind == "exploration":
            new = [s for s in r.styles if not profile.style_positions.get(s)]
            return ("genre exploration: " + ", ".join(new[:2]) + " (new to your collection)") if new \
                else "genre exploration: a corner of your taste you rarely buy"
        return SIMILAR
