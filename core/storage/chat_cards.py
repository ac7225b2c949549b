"""Which chat message shows which score card (see :mod:`core.app.chat_cards`)."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from core.storage.database import Database
from core.storage.schema import ChatCard


class ChatCards(Database):
    """``(platform, chat id, message id) → (user, score id, card text, why text)``; rows go with their user."""

    def card_remember(self, platform: str, chat_id: str, message_id: str, user: str, score_id: int | None,
                      text: str, why: str) -> None:
        """Map the message to the card (a message id seen again replaces the old mapping)."""
        for attempt in (1, 2):
            try:
                with self._session() as s, s.begin():
                    row = s.exec(select(ChatCard).where(ChatCard.platform == platform, ChatCard.chat_id == chat_id,
                                                        ChatCard.message_id == message_id)).first()
                    if row is None:
                        row = ChatCard(platform=platform, chat_id=chat_id, message_id=message_id, user_name=user)
                    row.user_name, row.score_id, row.text, row.why = user, score_id, text, why
                    s.add(row)
                return
            except IntegrityError:   # the same message remembered concurrently: the second try updates it
                if attempt == 2:
                    raise

    def card_at(self, platform: str, chat_id: str, message_id: str) -> ChatCard | None:
        with self._session() as s:
            return s.exec(select(ChatCard).where(ChatCard.platform == platform, ChatCard.chat_id == chat_id,
                                                 ChatCard.message_id == message_id)).first()

    def cards_forget(self, user: str) -> int:
        """Delete every card of the user; returns how many."""
        with self._session() as s, s.begin():
            res = s.exec(delete(ChatCard).where(col(ChatCard.user_name) == user))
            return int(res.rowcount or 0)
