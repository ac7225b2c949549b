"""Which chat message shows which score card, for every chat platform.

A chat adapter sends a score card as a message; buttons, emoji reactions and replies later arrive carrying only the
message's id. :class:`CardRegistry` keeps ``(platform, chat id, message id) → (user, score id, card text, why text)``
in its own table of the store's database, so reactions keep working after a restart. Rows are removed with the
user (:meth:`CardRegistry.forget_user`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, delete, select

from .storage import Store, UTCDateTime, utcnow

log = logging.getLogger(__name__)


class ChatCard(SQLModel, table=True):
    """One score card as sent in a chat."""

    __tablename__ = "chat_cards"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "message_id", name="uq_chat_card_message"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    chat_id: str
    message_id: str
    user_name: str = Field(index=True)
    score_id: int | None = Field(default=None, index=True)
    text: str = Field(default="", sa_type=Text)
    why: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


@dataclass(frozen=True)
class CardRef:
    user: str
    score_id: int | None
    text: str
    why: str


class CardRegistry:
    def __init__(self, store: Store) -> None:
        self.store = store
        ChatCard.__table__.create(store.engine, checkfirst=True)   # type: ignore[attr-defined]

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
            res = s.exec(delete(ChatCard).where(ChatCard.user_name == user))
            return int(res.rowcount or 0)
