"""Linked Discogs accounts (secrets only encrypted)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, delete, select

if TYPE_CHECKING:
    from core.secrets import SecretBox

from core.storage.database import Database
from core.storage.schema import (
    AUTH_KINDS,
    LinkedAccount,
    User,
    _dumps,
    utcnow,
)

log = logging.getLogger("core.storage")


class LinkedAccounts(Database):
    """Linked Discogs accounts (secrets only encrypted)."""


    @staticmethod
    def _find_link(s: Session, user_id: int | None) -> LinkedAccount | None:
        return s.exec(select(LinkedAccount).where(col(LinkedAccount.user_id) == user_id)).first()

    def link_account(self, user_name: str, discogs_username: str, auth_kind: str, *, token: str | None = None,
                     oauth_token: str | None = None, oauth_secret: str | None = None,
                     box: SecretBox | None = None, currency: str | None = None) -> LinkedAccount:
        """Link (or re-link) the user's Discogs account, replacing any previous link; returns the stored row.

        ``auth_kind``: ``username`` (no secrets), ``token`` (needs ``token``) or ``oauth`` (needs ``oauth_token``
        and ``oauth_secret``). Secrets are encrypted with ``box`` before anything is written (required whenever a
        secret is given); credentials of the previous link are dropped. Re-linking the same Discogs username keeps
        the sync state and currency; another username starts afresh. ``currency`` (ISO code) defaults to the
        previous link's, else EUR.
        """
        if auth_kind not in AUTH_KINDS:
            raise ValueError(f"auth_kind must be one of {AUTH_KINDS}, got {auth_kind!r}")
        discogs_username = (discogs_username or "").strip()
        if not discogs_username:
            raise ValueError("discogs_username must be non-empty")
        given = {k: (v.strip() if isinstance(v, str) else v)
                 for k, v in (("token", token), ("oauth_token", oauth_token), ("oauth_secret", oauth_secret))}
        needed = {"username": set(), "token": {"token"}, "oauth": {"oauth_token", "oauth_secret"}}[auth_kind]
        missing = sorted(k for k in needed if not given[k])
        extra = sorted(k for k, v in given.items() if v is not None and k not in needed)
        if missing:
            raise ValueError(f"auth_kind {auth_kind!r} needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"auth_kind {auth_kind!r} takes no {', '.join(extra)}")
        if needed and box is None:
            raise ValueError("a SecretBox is needed to store Discogs credentials")
        enc = {k: (box.encrypt(v) if k in needed and box is not None and v else None) for k, v in given.items()}
        if currency is not None and not currency.strip():
            raise ValueError("currency must be non-empty")
        replaced_secrets = False
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            row = self._find_link(s, user.id)
            if row is None:
                row = LinkedAccount(user_id=self._uid(user), discogs_username=discogs_username, auth_kind=auth_kind)
            else:
                replaced_secrets = row.has_secrets
                if row.discogs_username.casefold() != discogs_username.casefold():
                    row.sync_state, row.last_sync_at = "{}", None
            row.discogs_username, row.auth_kind = discogs_username, auth_kind
            row.token_enc, row.oauth_token_enc, row.oauth_secret_enc = (
                enc["token"], enc["oauth_token"], enc["oauth_secret"])
            if currency is not None:
                row.currency = currency.strip().upper()
            row.linked_at = utcnow()
            s.add(row)
            s.flush()
        if replaced_secrets:
            self._scrub_sqlite()
        log.info("linked %s to Discogs user %s (%s)", user_name, discogs_username, auth_kind)
        return row

    def any_secrets(self) -> bool:
        """Whether any linked account holds encrypted credentials (then the key that encrypted them must not be
        replaced by a new one)."""
        with self._session() as s:
            rows = s.exec(select(LinkedAccount)).all()
            return any(r.has_secrets for r in rows)

    def linked_account(self, user_name: str) -> LinkedAccount | None:
        """The user's linked Discogs account (credentials still encrypted), or ``None``."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            return self._find_link(s, user.id) if user else None

    def linked_users(self) -> list[str]:
        """Names of users with a linked Discogs account, sorted (e.g. for a periodic sync)."""
        with self._session() as s:
            q = (select(col(User.name)).join(LinkedAccount, col(LinkedAccount.user_id) == col(User.id))
                 .order_by(col(User.name)))
            return list(s.exec(q).all())

    def account_secrets(self, user_name: str, box: SecretBox) -> dict[str, str | None]:
        """Decrypted credentials: ``{"token", "oauth_token", "oauth_secret"}`` (``None`` where absent, all
        ``None`` if not linked). Raises :class:`core.secrets.SecretError` if ``box`` holds the wrong key."""
        row = self.linked_account(user_name)
        out: dict[str, str | None] = {"token": None, "oauth_token": None, "oauth_secret": None}
        if row is None:
            return out
        for key, value in (("token", row.token_enc), ("oauth_token", row.oauth_token_enc),
                           ("oauth_secret", row.oauth_secret_enc)):
            out[key] = box.decrypt(value) if value else None
        return out

    def unlink_account(self, user_name: str, *, keep_username: bool = False) -> bool:
        """Remove the user's Discogs credentials; returns whether there was a link.

        ``keep_username=False`` deletes the link entirely; ``True`` keeps the username (and sync state) as a
        public-data-only link (``auth_kind="username"``). Either way no ciphertext remains in the row, and on
        SQLite the zeroed pages are checkpointed out of the WAL.
        """
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            row = self._find_link(s, user.id) if user else None
            if row is None:
                return False
            if keep_username:
                row.token_enc = row.oauth_token_enc = row.oauth_secret_enc = None
                row.auth_kind = "username"
                s.add(row)
            else:
                s.exec(delete(LinkedAccount).where(col(LinkedAccount.id) == row.id))
        self._scrub_sqlite()
        log.info("unlinked Discogs account of %s%s", user_name, " (username kept)" if keep_username else "")
        return True

    def set_account_currency(self, user_name: str, currency: str) -> bool:
        """Prices for the linked account in ``currency`` (its secrets untouched); returns whether there was a link."""
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            row = self._find_link(s, user.id) if user else None
            if row is None:
                return False
            row.currency = currency.upper()
            s.add(row)
        return True

    def set_sync_state(self, user_name: str, state: dict[str, Any], last_sync_at: datetime | None = None) -> None:
        """Replace the linked account's sync state (JSON) and set ``last_sync_at`` (default now).

        Raises ``ValueError`` if the user has no linked account.
        """
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            row = self._find_link(s, user.id) if user else None
            if row is None:
                raise ValueError(f"{user_name!r} has no linked Discogs account")
            row.sync_state = _dumps(state)
            row.last_sync_at = last_sync_at or utcnow()
            s.add(row)

    def _forget_accounts(self, s: Session, uid: int, user_name: str) -> dict[str, int]:
        """Erase the user's linked Discogs account and its encrypted secrets."""
        res = s.exec(delete(LinkedAccount).where(col(LinkedAccount.user_id) == uid))
        return {"linked_accounts": int(res.rowcount or 0)}
