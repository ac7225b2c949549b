"""Hearing records: free 30-second previews (Deezer, iTunes), librosa features, what a record sounds like.

* :mod:`core.audio.features` — decode a preview and describe it (tempo, brightness, energy, valence, arousal, a
  standardised vector);
* :mod:`core.audio.services` — the two services' APIs, each behind its own rate limiter;
* :mod:`core.audio.enrich` — previews for a collector's records, analysed and stored one release at a time;
* :mod:`core.audio.neighbours` — "sounds like": the nearest record of the collection by sound (FAISS).
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from core.audio.enrich import AudioEnricher, EnrichReport
from core.audio.services import Deezer, ITunes, base_urls
from core.config import AudioConfig, Config, section
from core.discogs.ratelimit import limiter_for
from core.storage import Store

__all__ = ["AudioEnricher", "EnrichReport", "build_enricher"]


def build_enricher(store: Store, cfg: Config, env: Mapping[str, str] | None = None, *,
                   attempts: int | None = None) -> AudioEnricher:
    """An enricher over both services, at the configured pace (limiters shared by everything in the process);
    ``attempts`` fewer than configured where someone waits for the answer."""
    a = section(AudioConfig, cfg.audio)
    tries = int(attempts if attempts is not None else a.attempts)
    deezer_url, itunes_url = base_urls(dict(os.environ) if env is None else dict(env))
    services = [Deezer(deezer_url, limiter_for(f"deezer:{deezer_url}", a.deezer_limit, a.deezer_window_s),
                       timeout=a.timeout_s, attempts=tries, backoff_s=a.backoff_s),
                ITunes(itunes_url, limiter_for(f"itunes:{itunes_url}", a.itunes_limit, a.itunes_window_s),
                       timeout=a.timeout_s, attempts=tries, backoff_s=a.backoff_s)]
    return AudioEnricher(store, services, tracks_per_release=a.tracks_per_release,
                         retry_after_days=a.retry_after_days)
