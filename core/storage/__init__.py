"""Persistence layer: users, cached releases, collections, served scores, feedback, model versions and linked
Discogs accounts.

SQLModel over SQLite by default (URL from :func:`core.config.database_url`); ``DATABASE_URL`` may select
PostgreSQL, so only portable SQL is used (no dialect-specific upserts; upserts are read-then-write in one
transaction). Every public method uses its own short-lived session; every multi-row write runs in ONE
transaction, so an exception part-way leaves the previous state intact.

Feedback is written exactly once per event and per (user, score, slot) (see :meth:`Store.record_feedback`);
implicit evidence (scored-then-bought, scored-often-never-bought) is derived from served scores and the
collection. The schema is versioned with Alembic (:mod:`core.storage.migrate`, ``crate db upgrade``): every open
brings the database to this version's revision; a database made before schema versions is first brought to the
baseline by the old additive migration (:meth:`Store._migrate`) and stamped.

JSON payloads (release data, settings, reasons, metrics) are stored as text. Timestamps are timezone-aware
UTC on every backend (naive values given to the store are taken as UTC).

Discogs credentials are stored only encrypted (by a :class:`core.secrets.SecretBox` the caller passes in); the
plaintext never reaches the database. On SQLite, ``secure_delete`` is on (deleted/overwritten content is zeroed)
and removing credentials or a user checkpoints and truncates the WAL, so unlinked secrets do not linger in the
file.

Layout: one database object (:class:`Store`) made of repositories, one module each — ``users`` (users and
settings), ``releases`` (the shared release cache), ``collections``, ``scores`` (served scores, feedback and
implicit evidence), ``models`` (model versions), ``accounts`` (linked Discogs accounts), ``inbox`` (updates in
flight), ``sharing`` (who shares their taste in which server), ``chat_cards`` (which chat message shows which
card) — over ``database`` (engine, schema creation and migration, sessions) and ``schema`` (every table, so
creating and migrating the schema never depends on which modules were imported). Forgetting a user is one call:
every repository deletes its rows in the same transaction (:meth:`Store.forget_user`).
"""
from __future__ import annotations

import logging

from sqlalchemy import Column, MetaData, String, Table, inspect
from sqlmodel import Session, col, delete, select

from core.storage.accounts import LinkedAccounts
from core.storage.audio import AudioStore
from core.storage.chat_cards import ChatCards
from core.storage.collections import Collections
from core.storage.database import Database
from core.storage.inbox import Inbox
from core.storage.leases import Leases
from core.storage.models import ModelVersions
from core.storage.releases import ReleaseCache
from core.storage.schema import (
    _CHUNK,
    _IMPLICIT_ROW,
    AUTH_KINDS,
    DIGEST_SETTING,
    EXPLICIT_KINDS,
    FEEDBACK_KINDS,
    FEEDBACK_SLOTS,
    FEEDBACK_SOURCES,
    IMPLICIT_KINDS,
    JOBS_TABLE,
    LIST_NAMES,
    MAX_EVENT_ID_CHARS,
    MAX_REASON_CHARS,
    MODEL_STATUSES,
    PURCHASE_KINDS,
    USER_JOB_PREFIXES,
    CachedRelease,
    ChatCard,
    CollectionEntry,
    Feedback,
    ForgetReport,
    InboxEvent,
    LinkedAccount,
    ModelVersion,
    ReleaseAudio,
    ScoreServed,
    ServerShare,
    User,
    UTCDateTime,
    _as_utc,
    _chunks,
    _clean_text,
    _dumps,
    _json_default,
    _loads,
    _sqlite_pragmas,
    make_engine,
    utcnow,
)
from core.storage.scores import ScoresAndFeedback
from core.storage.sharing import Sharing
from core.storage.users import Users
from core.storage.watches import Check, Watches

log = logging.getLogger(__name__)

__all__ = ["Store", "Check", "AUTH_KINDS", "CachedRelease", "ChatCard", "CollectionEntry", "DIGEST_SETTING",
           "EXPLICIT_KINDS", "FEEDBACK_KINDS", "FEEDBACK_SLOTS", "FEEDBACK_SOURCES", "Feedback", "ForgetReport",
           "IMPLICIT_KINDS", "InboxEvent", "JOBS_TABLE", "LIST_NAMES", "LinkedAccount", "MAX_EVENT_ID_CHARS",
           "MAX_REASON_CHARS",
           "MODEL_STATUSES", "ModelVersion", "ReleaseAudio", "PURCHASE_KINDS", "ScoreServed", "ServerShare",
           "USER_JOB_PREFIXES",
           "UTCDateTime",
           "User", "_CHUNK", "_IMPLICIT_ROW", "_as_utc", "_chunks", "_clean_text", "_dumps", "_json_default",
           "_loads", "_sqlite_pragmas", "make_engine", "utcnow"]


class Store(Users, Collections, ReleaseCache, ScoresAndFeedback, ModelVersions, LinkedAccounts, Inbox, Sharing,
            ChatCards, AudioStore, Leases, Watches, Database):
    """All persistence for the bot. ``Store(url)``, ``Store(engine)`` or ``Store()`` (configured URL)."""

    def users_with_collection(self) -> list[str]:
        """Names of users with at least one record in their collection, sorted."""
        with self._session() as s:
            q = (select(User.name).join(CollectionEntry, col(CollectionEntry.user_id) == User.id)
                 .where(CollectionEntry.list_name == "collection").distinct().order_by(User.name))
            return list(s.exec(q).all())

    # -- erasure

    def _forget_jobs(self, s: Session, user_name: str) -> int:
        """Delete the user's rows of the scheduler's job table (when it exists: the scheduler creates it)."""
        if JOBS_TABLE not in inspect(s.connection()).get_table_names():
            return 0
        table = Table(JOBS_TABLE, MetaData(), Column("id", String, primary_key=True))
        ids = [f"{prefix}{user_name}" for prefix in USER_JOB_PREFIXES]
        return int(s.connection().execute(table.delete().where(table.c.id.in_(ids))).rowcount or 0)

    def forget_user(self, user_name: str) -> ForgetReport:
        """Delete every row of the user (feedback, served scores, collection entries, model versions, linked
        account, the user, the chat messages showing their cards, their scheduled jobs) in ONE transaction.
        Shared cached releases stay. Model artefact files are not touched: their paths are returned in the report
        for the caller to delete."""
        report = ForgetReport(user_name=user_name, found=False)
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            if user is None:
                return report
            uid = self._uid(user)
            report.found = True
            paths = select(col(ModelVersion.path)).where(col(ModelVersion.user_id) == uid)
            report.model_paths = list(s.exec(paths).all())
            for forget in (self._forget_scores, self._forget_collections, self._forget_models,
                           self._forget_accounts, self._forget_sharing,
                           self._forget_watches):   # every repository erases its own rows
                report.deleted.update(forget(s, uid, user_name))
            res = s.exec(delete(User).where(col(User.id) == uid))
            report.deleted["users"] = res.rowcount or 0
            # keyed by name, not id: the chat messages showing the user's cards, the user's scheduled jobs
            res = s.exec(delete(ChatCard).where(col(ChatCard.user_name) == user_name))
            report.deleted["chat_cards"] = res.rowcount or 0
            report.deleted[JOBS_TABLE] = self._forget_jobs(s, user_name)
        self._scrub_sqlite()
        log.info("forgot user %s: %s", user_name, report.deleted)
        return report
