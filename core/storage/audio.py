"""What releases sound like (:class:`ReleaseAudio`): written by the audio enrichment, read by cards, the model
and /discover."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import col, select

from core.storage.database import Database
from core.storage.schema import ReleaseAudio, _chunks, _dumps, _loads, utcnow


class AudioStore(Database):
    """Audio features per release."""

    def put_audio(self, release_id: int, status: str, *, source: str = "", album_id: str = "",
                  features: dict[str, Any] | None = None, vector: Iterable[float] | None = None,
                  track_refs: list[dict[str, str]] | None = None, note: str = "",
                  now: datetime | None = None) -> None:
        """Store (or replace) one release's result; committed at once, so an enrichment killed part-way keeps
        everything it finished."""
        vec = [round(float(x), 5) for x in vector] if vector is not None else []
        with self._session() as s, s.begin():
            row = s.get(ReleaseAudio, int(release_id))
            if row is None:
                row = ReleaseAudio(release_id=int(release_id))
            row.status, row.source, row.album_id = status, source, album_id
            row.tracks = len(track_refs or [])
            row.features = _dumps(features or {})
            row.vector = _dumps(vec)
            row.track_refs = _dumps(track_refs or [])
            row.note = note[:500]
            row.checked_at = now or utcnow()
            s.add(row)

    def audio(self, release_id: int) -> ReleaseAudio | None:
        with self._session() as s:
            return s.get(ReleaseAudio, int(release_id))

    def audio_rows(self, release_ids: Iterable[int], status: str | None = "ok") -> dict[int, ReleaseAudio]:
        """The rows of these releases (only ``status`` ones unless None)."""
        out: dict[int, ReleaseAudio] = {}
        with self._session() as s:
            for chunk in _chunks(list({int(r) for r in release_ids})):
                q = select(ReleaseAudio).where(col(ReleaseAudio.release_id).in_(chunk))
                if status is not None:
                    q = q.where(ReleaseAudio.status == status)
                for row in s.exec(q):
                    out[row.release_id] = row
        return out

    def audio_vectors(self, release_ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Standardised audio vectors of those releases that have one."""
        return {rid: np.asarray(_loads(row.vector, []), dtype=np.float32)
                for rid, row in self.audio_rows(release_ids).items() if row.vector not in ("", "[]")}

    def audio_features(self, release_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """tempo_bpm, energy, brightness, valence, arousal of those releases that have them."""
        return {rid: _loads(row.features, {}) for rid, row in self.audio_rows(release_ids).items()}

    def audio_count(self) -> dict[str, int]:
        """How many releases are in each status."""
        out: dict[str, int] = {}
        with self._session() as s:
            for st in s.exec(select(ReleaseAudio.status)):
                out[st] = out.get(st, 0) + 1
        return out
