"""How records sound: enrich a collector's records with previews (``crate audio enrich``; the bots after a sync
and after each nightly retrain, in the background) and tell what one release sounds like (``crate audio show``)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from core.app.jobs import Jobs
from core.app.replies import Refusal
from core.audio import build_enricher
from core.audio.enrich import EnrichReport, Progress
from core.audio.features import mood_words
from core.discogs.gateway import DiscogsError
from core.domain.refs import NotDiscogsLink, parse_ref_strict
from core.domain.release import Release
from core.recommender import Recommender, UnknownRelease

log = logging.getLogger(__name__)

SERVICE_NAMES = {"deezer": "Deezer", "itunes": "Apple Music"}


@dataclass
class AudioFacts:
    """What one release sounds like (``tracks`` 0: no preview was heard; ``status`` says why)."""

    release: Release
    status: str                    # ok | none | later | off
    source: str = ""
    tracks: int = 0
    features: dict[str, Any] = field(default_factory=dict)
    previews: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        f = self.features
        return {"release_id": self.release.id, "title": self.release.display, "status": self.status,
                "source": self.source or None, "tracks": self.tracks,
                "tempo_bpm": f.get("tempo_bpm"), "energy": f.get("energy"), "brightness": f.get("brightness"),
                "valence": f.get("valence"), "arousal": f.get("arousal"), "found_by": f.get("how"),
                "previews": [p.get("page") for p in self.previews]}

    @property
    def text(self) -> str:
        name = self.release.display
        if self.tracks == 0:
            if self.status == "later":
                return (f"Deezer and Apple Music didn't answer for {name} just now, so I couldn't hear it yet. "
                        "Try again in a few minutes.")
            if self.status == "off":
                return f"I haven't heard {name} yet (listening to previews is switched off here)."
            return f"Neither Deezer nor Apple Music has a preview of {name}, so I can't say how it sounds."
        f = self.features
        where = SERVICE_NAMES.get(self.source, self.source)
        lines = [f"🎧 {name} — heard in {self.tracks} preview{'s' * (self.tracks != 1)} on {where}",
                 f"Tempo about {f['tempo_bpm']:.0f} beats a minute · energy {f['energy']:.0%} · "
                 f"brightness {f['brightness']:.0%}",
                 f"Mood: {mood_words(float(f['valence']), float(f['arousal']))} "
                 f"(valence {f['valence']:.2f}, arousal {f['arousal']:.2f}, from 0 to 1)"]
        lines += [f"▶ {p.get('title') or 'preview'}: {p['page']}" for p in self.previews if p.get("page")]
        return "\n".join(lines)


class Sound:
    def __init__(self, rec: Recommender, jobs: Jobs) -> None:
        self.rec = rec
        self.jobs = jobs
        self._running: set[str] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.rec.cfg.audio.enabled)

    def enrich(self, user: str, limit: int | None = None, progress: Progress | None = None) -> EnrichReport:
        """Previews for the user's records, now, in this process (the shell)."""
        if not self.enabled:
            raise Refusal("Listening to previews is switched off (audio.enabled in the configuration).")
        if not self.rec.store.collection(user) and not self.rec.store.scores(user):
            raise Refusal(f"No records for {user} yet: import or link a collection first.")
        return build_enricher(self.rec.store, self.rec.cfg).run_user(user, limit, progress)

    def show(self, text: str, listen: bool = True, progress: Callable[[str], None] | None = None) -> AudioFacts:
        """What the release ``text`` names sounds like; heard now (``listen``) if it never was (someone is
        waiting: each service is tried twice at most, and ``progress`` hears that it is being listened to)."""
        try:
            ref = parse_ref_strict(text)
        except (NotDiscogsLink, ValueError) as exc:
            raise Refusal(str(exc)) from exc
        try:
            release = self.rec.resolve(ref, own=False)
        except UnknownRelease as exc:
            raise Refusal(str(exc), 3) from exc
        except DiscogsError as exc:
            raise Refusal(exc.user_message, 3) from exc
        enricher = build_enricher(self.rec.store, self.rec.cfg, attempts=2)
        if listen and self.enabled and enricher.due([release]):
            if progress:
                progress(f"listening to previews of {release.display} (Deezer, then Apple Music)…")
            enricher.enrich_one(release, EnrichReport())
        row = self.rec.store.audio(release.id)
        if row is None:
            return AudioFacts(release, "off" if not self.enabled else "none")
        return AudioFacts(release, row.status, row.source, row.tracks if row.status == "ok" else 0,
                          row.features_dict, row.track_refs_list)

    def in_background(self, user: str, start: Callable[[Callable[[], None]], None] | None = None,
                      delay_s: float | None = None, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Enrich the user's records after the reply (the bots, after a sync): in the jobs' audio worker, one run
        per user at a time, ``audio.start_after_s`` after the sync (a new collector's first model and its
        refinement train meanwhile: on two cores the analysis would slow them); False when it is off or already
        running."""
        cfg = self.rec.cfg.audio
        delay = float(cfg.start_after_s if delay_s is None else delay_s)
        if not (cfg.enabled and cfg.in_bot):
            return False
        with self._lock:
            if user in self._running:
                return False
            self._running.add(user)

        def work() -> None:
            try:
                if delay > 0:
                    sleep(delay)
                report = self.jobs.audio_enrich(user, int(cfg.per_run))
                log.info("audio for a collector: %s", report.text)
            except Exception as exc:   # a background extra: logged, never a failure of the chat
                log.warning("audio enrichment stopped: %s", exc)
            finally:
                with self._lock:
                    self._running.discard(user)

        if start is not None:
            start(work)
        else:
            threading.Thread(target=work, name="audio-enrich", daemon=True).start()
        return True
