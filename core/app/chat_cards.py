"""Which chat message shows which score card, for every chat platform.

A chat adapter sends a score card as a message; buttons, emoji reactions and replies later arrive carrying only the
message's id. :class:`CardRegistry` keeps ``(platform, chat id, message id) → (user, score id, card text, why text)``
in the store's ``chat_cards`` table (:class:`core.storage.ChatCard`), so reactions keep working after a restart.
Rows go with the user: :meth:`core.storage.Store.forget_user` deletes them in the same transaction as the rest.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from core.storage import ChatCard, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardRef:
    user: str
    score_id: int | None
    text: str
    why: str


class CardRegistry:
    def __init__(self, store: Store) -> None:
        self.store = store

    def remember(self, platform: str, chat_id: int | str, message_id: int | str, user: str, score_id: int | None,
                 text: str = "", why: str = "") -> None:
        """Map the message to the card (a message id seen again replaces the old mapping)."""
        key = (platform, str(chat_id), str(message_id))
        for attempt in (1, 2):
            try:
                with Session(self.store.engine) as s, s.begin():
                    row = s.exec(select(ChatCard).where(ChatCard.platform == key[0], ChatCard.chat_id == key[1],
                                                        ChatCard.message_id == key[2])).first()
                    if row is None:
                        row = ChatCard(platform=key[0], chat_id=key[1], message_id=key[2], user_name=user)
                    row.user_name, row.score_id, row.text, row.why = user, score_id, text, why
                    s.add(row)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def lookup(self, platform: str, chat_id: int | str, message_id: int | str) -> CardRef | None:
        with Session(self.store.engine) as s:
            row = s.exec(select(ChatCard).where(ChatCard.platform == platform, ChatCard.chat_id == str(chat_id),
                                                ChatCard.message_id == str(message_id))).first()
            return CardRef(row.user_name, row.score_id, row.text, row.why) if row else None

    def forget_user(self, user: str) -> int:
        """Delete every card of the user; returns how many."""
        with Session(self.store.engine) as s, s.begin():
            res = s.exec(delete(ChatCard).where(col(ChatCard.user_name) == user))
            return int(res.rowcount or 0)
