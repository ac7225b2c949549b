"""Users and their settings."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.storage.database import Database
from core.storage.schema import (
    DIGEST_SETTING,
    User,
    _as_utc,
    _dumps,
    utcnow,
)

log = logging.getLogger("core.storage")


class Users(Database):
    """Users and their settings."""


    def get_or_create_user(self, name: str) -> User:
        """The user called ``name``, created if new."""
        try:
            with self._session() as s, s.begin():
                return self._ensure_user(s, name)
        except IntegrityError:  # created concurrently by someone else
            with self._session() as s:
                user = self._find_user(s, name)
                if user is None:
                    raise
                return user

    def users(self) -> list[str]:
        """All user names, sorted."""
        with self._session() as s:
            return list(s.exec(select(col(User.name)).order_by(col(User.name))).all())

    def get_settings(self, user_name: str) -> dict[str, Any]:
        """The user's settings (empty for unknown users)."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            return user.settings_dict if user else {}

    def set_settings(self, user_name: str, settings: dict[str, Any]) -> None:
        """Replace the user's settings."""
        with self._session() as s, s.begin():
            self._ensure_user(s, user_name).settings = _dumps(settings)

    def last_digest_at(self, user_name: str) -> datetime | None:
        """When the user's last digest was sent (setting ``last_digest_at``), aware UTC; ``None`` if never."""
        raw = self.get_settings(user_name).get(DIGEST_SETTING)
        if not raw:
            return None
        try:
            when = datetime.fromisoformat(str(raw))
        except ValueError:
            log.warning("unreadable %s setting for %s: %.40r", DIGEST_SETTING, user_name, raw)
            return None
        return _as_utc(when)

    def set_last_digest_at(self, user_name: str, when: datetime | None = None) -> None:
        """Record when a digest was sent (default now), keeping the other settings (one transaction)."""
        stamp = _as_utc(when or utcnow())
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            settings = user.settings_dict
            settings[DIGEST_SETTING] = stamp.isoformat()
            user.settings = _dumps(settings)
            s.add(user)
