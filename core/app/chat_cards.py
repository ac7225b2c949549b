"""Which chat message shows which score card, for every chat platform.

A chat adapter sends a score card as a message; buttons, emoji reactions and replies later arrive carrying only the
message's id. :class:`CardRegistry` keeps ``(platform, chat id, message id) → (user, score id, card text, why text)``
in the store's ``chat_cards`` table (:class:`core.storage.ChatCard`), so reactions keep working after a restart.
Rows go with the user: :meth:`core.storage.Store.forget_user` deletes them in the same transaction as the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.storage import Store


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
        self.store.card_remember(platform, str(chat_id), str(message_id), user, score_id, text, why)

    def lookup(self, platform: str, chat_id: int | str, message_id: int | str) -> CardRef | None:
        row = self.store.card_at(platform, str(chat_id), str(message_id))
        return CardRef(row.user_name, row.score_id, row.text, row.why) if row else None

    def forget_user(self, user: str) -> int:
        """Delete every card of the user; returns how many."""
        return self.store.cards_forget(user)
