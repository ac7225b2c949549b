"""Served scores, feedback and the implicit evidence derived from them."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    func,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from core.storage.database import Database
from core.storage.schema import (
    FEEDBACK_KINDS,
    FEEDBACK_SLOTS,
    FEEDBACK_SOURCES,
    IMPLICIT_KINDS,
    MAX_EVENT_ID_CHARS,
    MAX_REASON_CHARS,
    PURCHASE_KINDS,
    CollectionEntry,
    Feedback,
    ScoreServed,
    _clean_text,
    _dumps,
    utcnow,
)

log = logging.getLogger("core.storage")


class ScoresAndFeedback(Database):
    """Served scores, feedback and the implicit evidence derived from them."""


    def record_score(self, user_name: str, release_id: int, probability: float, label: str, score_type: str,
                     reasons: list[str], model_version: str | None = None) -> int:
        """Log a served score; returns its id (for feedback to refer to)."""
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            row = ScoreServed(user_id=self._uid(user), release_id=int(release_id), probability=float(probability),
                              label=label, score_type=score_type, reasons=_dumps(list(reasons)),
                              model_version=model_version)
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

    def get_score(self, score_id: int) -> ScoreServed | None:
        """A served score by id."""
        with self._session() as s:
            return s.get(ScoreServed, int(score_id))

    def last_score(self, user_name: str) -> ScoreServed | None:
        """The most recent score served to the user."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None
            q = (select(ScoreServed).where(col(ScoreServed.user_id) == user.id)
                 .order_by(col(ScoreServed.created_at).desc(), col(ScoreServed.id).desc()).limit(1))
            return s.exec(q).first()

    def scores(self, user_name: str, since: datetime | None = None) -> list[ScoreServed]:
        """Scores served to the user (at or after ``since`` if given), oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = select(ScoreServed).where(col(ScoreServed.user_id) == user.id)
            if since is not None:
                q = q.where(col(ScoreServed.created_at) >= since)
            return list(s.exec(q.order_by(col(ScoreServed.created_at), col(ScoreServed.id))).all())

    def record_feedback(self, user_name: str, kind: str, *, score_id: int | None = None,
                        release_id: int | None = None, reason: str | None = None, source: str = "chat",
                        event_id: str | int | None = None, buy_threshold: float | None = None,
                        maybe_threshold: float | None = None) -> tuple[Feedback, bool]:
        """Record feedback exactly once, in one transaction (call it before acknowledging the event).

        Returns ``(row, changed)``; ``changed`` is False when nothing was written. Rules:

        * ``event_id`` (the platform's update/interaction id): an event already recorded for this user is a
          no-op returning its row. A row keeps the id of the event that created it (an update fills it only
          when empty), so an in-order replay of redelivered events ends in the same state.
        * with ``score_id`` (this user's served score; ``release_id``, if given, must match it): one row per
          (user, score, slot). 👍 then 👎 updates the one "vote" row to the latest kind (``updated_at`` bumped,
          ``disagreement`` recomputed, the reason replaced); the same kind again is a no-op unless a new reason
          comes with it. "bought" is its own slot, so a 👍 and a purchase coexist.
        * without ``score_id``, ``release_id`` is required; implicit kinds (implicit_bought, weak_negative) are
          then unique per (user, release, slot); explicit kinds without a score are stored as given.

        ``probability`` is copied from the score (without one: the latest score served for the release, if any);
        disagreement thresholds default to the store's (see :class:`Store`). Raises ``ValueError`` for an unknown
        kind/source, a missing release id, or a score that does not exist or was not served to this user.
        """
        if kind not in FEEDBACK_KINDS:
            raise ValueError(f"feedback kind must be one of {FEEDBACK_KINDS}, got {kind!r}")
        if source not in FEEDBACK_SOURCES:
            raise ValueError(f"feedback source must be one of {FEEDBACK_SOURCES}, got {source!r}")
        if score_id is None and release_id is None:
            raise ValueError("feedback without a score_id needs a release_id")
        reason = _clean_text(reason, MAX_REASON_CHARS)
        event = _clean_text(event_id, MAX_EVENT_ID_CHARS)
        for attempt in (1, 2):
            try:
                with self._session() as s, s.begin():
                    return self._write_feedback(s, user_name, kind, score_id, release_id, reason, source, event,
                                                buy_threshold, maybe_threshold)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.debug("feedback for %s written concurrently; re-reading", user_name)
        raise AssertionError("unreachable")

    def _write_feedback(self, s: Session, user_name: str, kind: str, score_id: int | None,
                        release_id: int | None, reason: str | None, source: str, event_id: str | None,
                        buy_threshold: float | None, maybe_threshold: float | None) -> tuple[Feedback, bool]:
        user = self._ensure_user(s, user_name)
        if event_id is not None:
            seen = s.exec(select(Feedback).where(col(Feedback.user_id) == user.id,
                                                 col(Feedback.event_id) == event_id)).first()
            if seen is not None:
                return seen, False
        slot = FEEDBACK_SLOTS[kind]
        target = None
        probability: float | None
        if score_id is not None:
            score = s.get(ScoreServed, int(score_id))
            if score is None:
                raise ValueError(f"no served score {score_id}")
            if score.user_id != user.id or (release_id is not None and score.release_id != int(release_id)):
                raise ValueError(f"score {score_id} was not served to {user_name!r} for release {release_id}")
            rid, sid, probability = score.release_id, score.id, score.probability
            target = s.exec(select(Feedback).where(col(Feedback.user_id) == user.id, col(Feedback.score_id) == sid,
                                                   col(Feedback.slot) == slot)).first()
        else:
            rid, sid = int(release_id), None  # type: ignore[arg-type]
            probability = self._latest_probability(s, user.id, rid)
            if kind in IMPLICIT_KINDS:
                target = s.exec(select(Feedback).where(
                    col(Feedback.user_id) == user.id, col(Feedback.release_id) == rid, col(Feedback.slot) == slot,
                    col(Feedback.score_id).is_(None), col(Feedback.kind).in_(IMPLICIT_KINDS))).first()
        now = utcnow()
        if target is None:
            row = Feedback(user_id=self._uid(user), release_id=rid, score_id=sid, kind=kind, reason=reason,
                           source=source,
                           event_id=event_id, slot=slot, probability=probability, created_at=now, updated_at=now,
                           disagreement=self._disagrees(kind, probability, buy_threshold, maybe_threshold))
            s.add(row)
            s.flush()
            return row, True
        if event_id is not None and target.event_id is None:
            target.event_id = event_id  # a redelivery of this event is then recognised as such
            s.add(target)
        if target.kind == kind and (reason is None or reason == target.reason):
            s.flush()
            return target, False
        target.kind, target.reason, target.source, target.updated_at = kind, reason, source, now
        if probability is not None:
            target.probability = probability
        target.disagreement = self._disagrees(kind, target.probability, buy_threshold, maybe_threshold)
        s.add(target)
        s.flush()
        return target, True

    @staticmethod
    def _latest_probability(s: Session, user_id: int | None, release_id: int) -> float | None:
        return s.exec(select(col(ScoreServed.probability))
                      .where(col(ScoreServed.user_id) == user_id, col(ScoreServed.release_id) == release_id)
                      .order_by(col(ScoreServed.created_at).desc(), col(ScoreServed.id).desc()).limit(1)).first()

    def _disagrees(self, kind: str, probability: float | None, buy: float | None = None,
                   maybe: float | None = None) -> bool:
        """👎 on a score >= buy threshold, or 👍 on a score < maybe threshold."""
        if probability is None or kind not in ("like", "dislike"):
            return False
        buy, maybe = self._thresholds(buy, maybe)
        return probability >= buy if kind == "dislike" else probability < maybe

    def add_feedback(self, user_name: str, release_id: int, kind: str, score_id: int | None = None) -> Feedback:
        """Record feedback (see :meth:`record_feedback`); ``score_id`` must be this user's score for the release."""
        return self.record_feedback(user_name, kind, score_id=score_id, release_id=release_id)[0]

    @staticmethod
    def _feedback_query(user_id: int | None, since: datetime | None) -> Any:
        q = select(Feedback).where(col(Feedback.user_id) == user_id)
        if since is not None:
            q = q.where(func.coalesce(col(Feedback.updated_at), col(Feedback.created_at)) >= since)
        return q

    def feedback(self, user_name: str, since: datetime | None = None) -> list[Feedback]:
        """The user's feedback, oldest first; ``since``: rows created or changed at or after that time."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            q = self._feedback_query(user.id, since).order_by(col(Feedback.created_at), col(Feedback.id))
            return list(s.exec(q).all())

    def feedback_counts(self, user_name: str, since: datetime | None = None) -> dict[str, int]:
        """Rows per kind (every kind present, zeros included); ``since`` as in :meth:`feedback`."""
        counts = dict.fromkeys(FEEDBACK_KINDS, 0)
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return counts
            sub = self._feedback_query(user.id, since).subquery()
            for kind, n in s.exec(select(sub.c.kind, func.count()).group_by(sub.c.kind)).all():
                counts[kind] = int(n)
        return counts

    def disagreements(self, user_name: str, since: datetime | None = None) -> int:
        """How many of the user's feedback rows disagree with the served score; ``since`` as in :meth:`feedback`."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return 0
            sub = self._feedback_query(user.id, since).where(col(Feedback.disagreement).is_(True)).subquery()
            return int(s.exec(select(func.count()).select_from(sub)).one())

    @staticmethod
    def _unbought_query(user_id: int | None, min_times: int) -> Any:
        purchased = select(col(Feedback.release_id)).where(col(Feedback.user_id) == user_id,
                                                      col(Feedback.kind).in_(PURCHASE_KINDS))
        listed = select(col(CollectionEntry.release_id)).where(col(CollectionEntry.user_id) == user_id)
        return (select(col(ScoreServed.release_id))
                .where(col(ScoreServed.user_id) == user_id, col(ScoreServed.release_id).not_in(purchased),
                       col(ScoreServed.release_id).not_in(listed))
                .group_by(col(ScoreServed.release_id)).having(func.count() >= int(min_times))
                .order_by(col(ScoreServed.release_id)))

    def score_counts_without_purchase(self, user_name: str, min_times: int = 3) -> list[int]:
        """Release ids scored for the user at least ``min_times`` times that were never bought (no bought /
        implicit_bought feedback) and are in neither of the user's lists (collection or wantlist), ascending."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            return list(s.exec(self._unbought_query(user.id, min_times)).all())

    def record_implicit_purchases(self, user_name: str) -> int:
        """Turn scored releases that have since appeared in the user's collection into ``implicit_bought``
        feedback (source ``implicit``), once per release, in one transaction; returns how many rows are new.

        A release counts when its collection entry was first stored at or after the first time it was scored
        (so a record scored while already owned is not a purchase) and it has no bought/implicit_bought row yet.
        """
        for attempt in (1, 2):
            try:
                with self._session() as s, s.begin():
                    user = self._find_user(s, user_name)
                    if user is None:
                        return 0
                    purchased = select(col(Feedback.release_id)).where(col(Feedback.user_id) == user.id,
                                                                  col(Feedback.kind).in_(PURCHASE_KINDS))
                    q = (select(col(CollectionEntry.release_id), col(CollectionEntry.created_at),
                                func.min(col(ScoreServed.created_at)))
                         .join(ScoreServed, and_(col(ScoreServed.user_id) == col(CollectionEntry.user_id),
                                                 col(ScoreServed.release_id) == col(CollectionEntry.release_id)))
                         .where(col(CollectionEntry.user_id) == user.id, col(CollectionEntry.list_name) == "collection",
                                col(CollectionEntry.created_at).is_not(None),
                                col(CollectionEntry.release_id).not_in(purchased))
                         .group_by(col(CollectionEntry.release_id), col(CollectionEntry.created_at))
                         .order_by(col(CollectionEntry.release_id)))
                    new = [rid for rid, added, first_scored in s.exec(q).all()
                           if added is not None and first_scored is not None and added >= first_scored]
                    return self._add_implicit(s, self._uid(user), new, "implicit_bought")
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def record_weak_negatives(self, user_name: str, min_times: int = 3) -> int:
        """Turn releases of :meth:`score_counts_without_purchase` into ``weak_negative`` feedback (source
        ``implicit``), once per release, in one transaction; returns how many rows are new. Releases the user
        already voted on (👍/👎) are left alone: an explicit vote says more."""
        for attempt in (1, 2):
            try:
                with self._session() as s, s.begin():
                    user = self._find_user(s, user_name)
                    if user is None:
                        return 0
                    voted = set(s.exec(select(col(Feedback.release_id)).where(
                        col(Feedback.user_id) == user.id,
                        col(Feedback.kind).in_(("like", "dislike", "weak_negative")))).all())
                    ids = [rid for rid in s.exec(self._unbought_query(user.id, min_times)).all() if rid not in voted]
                    return self._add_implicit(s, self._uid(user), ids, "weak_negative")
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _add_implicit(self, s: Session, user_id: int, release_ids: list[int], kind: str) -> int:
        now = utcnow()
        for rid in release_ids:
            s.add(Feedback(user_id=user_id, release_id=rid, score_id=None, kind=kind, source="implicit",
                           slot=FEEDBACK_SLOTS[kind], probability=self._latest_probability(s, user_id, rid),
                           created_at=now, updated_at=now))
        s.flush()
        if release_ids:
            log.info("recorded %d %s feedback rows", len(release_ids), kind)
        return len(release_ids)

    def _forget_scores(self, s: Session, uid: int, user_name: str) -> dict[str, int]:
        """Erase the user's feedback and served scores (part of :meth:`Store.forget_user`'s transaction)."""
        own_scores = select(col(ScoreServed.id)).where(col(ScoreServed.user_id) == uid)
        # defensive: another user's feedback pointing at this user's scores loses the reference, not the row
        s.exec(update(Feedback).where(col(Feedback.user_id) != uid, col(Feedback.score_id).in_(own_scores))
               .values(score_id=None))
        return {table: int(s.exec(delete(model).where(col(model.user_id) == uid)).rowcount or 0)
                for table, model in (("feedback", Feedback), ("scores_served", ScoreServed))}
