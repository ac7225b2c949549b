"""Scoring: a release (by reference, by id, or a pick already served) as a score card for one collector, behind
the one "do I know you" gate."""
from __future__ import annotations

from core.app.discover import KIND_LABELS
from core.app.replies import CardReply, Notice, Reply
from core.app.words import MORE_LINKS, NOT_KNOWN, NOT_SYNCED
from core.discogs.gateway import DiscogsError
from core.domain.refs import DiscogsRef
from core.recommender import Recommender, ScoreCard, UnknownRelease

#: score cards one message gets at most (a chat of 100 cards helps nobody, and each may ask Discogs)
MAX_CARDS = 3


class Scoring:
    def __init__(self, rec: Recommender) -> None:
        self.rec = rec

    def knows(self, user: str) -> str | None:
        """None when the user has something to be scored against, else what to tell them."""
        store = self.rec.store
        if store.active_model(user) is not None or store.collection(user):
            return None
        acct = store.linked_account(user)
        return NOT_SYNCED.format(name=acct.discogs_username) if acct is not None else NOT_KNOWN

    def score(self, user: str, ref: DiscogsRef | int) -> Reply:
        """One release as a card, or the sentence saying why it cannot be scored (unknown, deleted, Discogs down)."""
        try:
            return CardReply(self.rec.score(user, ref))
        except UnknownRelease as exc:
            return Notice(str(exc))
        except DiscogsError as exc:   # deleted release, Discogs down or rate-limiting: its own message
            return Notice(exc.user_message)

    def score_release(self, user: str, release_id: int) -> Reply:
        """A release by its Discogs id (a pressing picked from a barcode's choice, say)."""
        missing = self.knows(user)
        return Notice(missing) if missing else self.score(user, int(release_id))

    def score_refs(self, user: str, refs: list[DiscogsRef]) -> list[Reply]:
        """The releases a message names, up to :data:`MAX_CARDS` (and a word about the others)."""
        missing = self.knows(user)
        if missing:
            return [Notice(missing)]
        replies = [self.score(user, ref) for ref in refs[:MAX_CARDS]]
        if len(refs) > MAX_CARDS:   # never drop links without a word
            replies.append(Notice(MORE_LINKS.format(n=MAX_CARDS, total=len(refs))))
        return replies

    def served_card(self, user: str, score_id: int) -> ScoreCard | None:
        """A served score (a pick, say) as a card again, for its owner; None when gone or someone else's."""
        if not self.owns_score(user, score_id):
            return None
        served = self.rec.store.get_score(score_id)
        release = self.rec.store.get_release(served.release_id) if served else None
        if served is None or release is None:
            return None
        kind = served.score_type.split(":", 1)[-1]
        return ScoreCard(release, served.probability, served.label, KIND_LABELS.get(kind, kind), served.reasons_list,
                         served.model_version is None, served.model_version, served.id)

    def owns_score(self, user: str, score_id: int) -> bool:
        """Whether the served score ``score_id`` was served to ``user``."""
        served = self.rec.store.get_score(score_id)
        return served is not None and any(s.id == score_id for s in self.rec.store.scores(user, served.created_at))

    def release_of(self, score_id: int) -> int | None:
        """The release a served score is about (None when the score is gone)."""
        served = self.rec.store.get_score(score_id)
        return served.release_id if served is not None else None

    def why(self, score_id: int) -> str | None:
        """Every reason of a served score, as text (None when the score is gone)."""
        served = self.rec.store.get_score(score_id)
        if served is None:
            return None
        return "\n".join([f"Why {served.probability:.0%}:"] + [f"• {r}" for r in served.reasons_list])
