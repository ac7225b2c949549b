"""Each user's trained model versions."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import (
    update,
)
from sqlmodel import Session, col, delete, select

from core.storage.database import Database
from core.storage.schema import (
    MODEL_STATUSES,
    ModelVersion,
    _chunks,
    _clean_text,
    _dumps,
)

log = logging.getLogger("core.storage")


class ModelVersions(Database):
    """Each user's trained model versions."""


    @staticmethod
    def _find_model(s: Session, user_id: int | None, version: str) -> ModelVersion | None:
        return s.exec(select(ModelVersion).where(col(ModelVersion.user_id) == user_id,
                                                 col(ModelVersion.version) == version)
                      .order_by(col(ModelVersion.id).desc()).limit(1)).first()

    @staticmethod
    def _activate(s: Session, user_id: int | None, mv: ModelVersion) -> None:
        s.exec(update(ModelVersion).where(col(ModelVersion.user_id) == user_id, col(ModelVersion.active).is_(True))
               .values(active=False, status="retired"))
        mv.active, mv.was_active, mv.status = True, True, "active"
        s.add(mv)

    def register_model(self, user_name: str, version: str, path: str, metrics: dict[str, Any],
                       n_pos: int, n_neg: int, *, activate: bool | None = None, status: str | None = None,
                       note: str | None = None) -> ModelVersion:
        """Store a trained model (one transaction); when activated it becomes the user's only active one.

        ``activate`` omitted: True unless ``status`` is ``rejected`` or ``candidate``. An activated model's
        status is ``active``; one that is not activated keeps the given status, ``active`` (or none) becoming
        ``candidate`` as it does not serve. Activating a ``rejected`` model, or registering a version the user
        already has, raises ``ValueError``.
        """
        if status is not None and status not in MODEL_STATUSES:
            raise ValueError(f"model status must be one of {MODEL_STATUSES}, got {status!r}")
        if activate is None:
            activate = status in (None, "active")
        if activate and status == "rejected":
            raise ValueError("a rejected model cannot be activated")
        status = "active" if activate else ("candidate" if status in (None, "active") else status)
        with self._session() as s, s.begin():
            user = self._ensure_user(s, user_name)
            if self._find_model(s, user.id, version) is not None:
                raise ValueError(f"model version {version!r} is already registered for {user_name!r}")
            mv = ModelVersion(user_id=self._uid(user), version=version, path=str(path), metrics=_dumps(metrics),
                              n_positives=int(n_pos), n_negatives=int(n_neg), status=status,
                              note=_clean_text(note, 2000))
            if activate:
                self._activate(s, user.id, mv)
            s.add(mv)
            s.flush()
        log.info("registered model %s for %s (%d+/%d-, %s)", version, user_name, n_pos, n_neg, status)
        return mv

    def activate_model(self, user_name: str, version: str) -> ModelVersion:
        """Make ``version`` the user's only active model (one transaction), e.g. to roll back; its status becomes
        ``active``. Raises ``LookupError`` if the user has no such version."""
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            mv = self._find_model(s, user.id, version) if user else None
            if user is None or mv is None:
                raise LookupError(f"{user_name!r} has no model version {version!r}")
            self._activate(s, user.id, mv)
            s.flush()
        log.info("activated model %s for %s", version, user_name)
        return mv

    def set_model_status(self, user_name: str, version: str, status: str, note: str | None = None) -> ModelVersion:
        """Set a version's status (and note, when given), e.g. reject a model that was rolled back so it is no
        rollback target any more. The active model cannot be rejected or made a candidate (activate another one
        first); ``active`` is only set by activation. Raises ``LookupError`` for an unknown version."""
        if status not in MODEL_STATUSES:
            raise ValueError(f"model status must be one of {MODEL_STATUSES}, got {status!r}")
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            mv = self._find_model(s, user.id, version) if user else None
            if mv is None:
                raise LookupError(f"{user_name!r} has no model version {version!r}")
            if status == "active" and not mv.was_active:
                raise ValueError("use activate_model to put a model into service")
            if mv.active and status != "active":
                raise ValueError(f"model {version!r} is active: activate another version first")
            mv.status = status
            if note is not None:
                mv.note = _clean_text(note, 2000)
            s.add(mv)
            s.flush()
        return mv

    def active_model(self, user_name: str) -> ModelVersion | None:
        """The user's active model, if any."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None
            q = (select(ModelVersion).where(col(ModelVersion.user_id) == user.id, col(ModelVersion.active).is_(True))
                 .order_by(col(ModelVersion.id).desc()).limit(1))
            return s.exec(q).first()

    def serving_state(self, user_name: str) -> tuple[ModelVersion | None, dict[str, Any]]:
        """(active model, settings) in one session: what every reply needs (``active_model`` + ``get_settings``)."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None, {}
            q = (select(ModelVersion).where(col(ModelVersion.user_id) == user.id, col(ModelVersion.active).is_(True))
                 .order_by(col(ModelVersion.id).desc()).limit(1))
            return s.exec(q).first(), user.settings_dict

    def models(self, user_name: str) -> list[ModelVersion]:
        """All the user's registered models, oldest first."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return []
            return list(s.exec(select(ModelVersion).where(col(ModelVersion.user_id) == user.id)
                               .order_by(col(ModelVersion.id))).all())

    def model_version(self, user_name: str, version: str) -> ModelVersion | None:
        """The user's model ``version``, or ``None``."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            return self._find_model(s, user.id, version) if user else None

    def previous_model(self, user_name: str) -> ModelVersion | None:
        """The rollback target: the most recently registered inactive version that was once active and has not
        been rejected since, or ``None``."""
        with self._session() as s:
            user = self._find_user(s, user_name)
            if user is None:
                return None
            q = (select(ModelVersion).where(col(ModelVersion.user_id) == user.id, col(ModelVersion.active).is_(False),
                                            col(ModelVersion.was_active).is_(True),
                                            col(ModelVersion.status) != "rejected")
                 .order_by(col(ModelVersion.id).desc()).limit(1))
            return s.exec(q).first()

    def prune_models(self, user_name: str, keep: int) -> list[str]:
        """Delete the rows of all but the user's ``keep`` newest versions, never the active one (one transaction).

        Returns the artefact paths of the deleted rows that no remaining row uses, for the caller to delete (the
        store does not touch files).
        """
        if keep < 0:
            raise ValueError("keep must not be negative")
        with self._session() as s, s.begin():
            user = self._find_user(s, user_name)
            if user is None:
                return []
            rows = list(s.exec(select(ModelVersion).where(col(ModelVersion.user_id) == user.id)
                               .order_by(col(ModelVersion.id).desc())).all())
            kept = [mv for i, mv in enumerate(rows) if i < keep or mv.active]
            kept_ids = {mv.id for mv in kept}
            gone = [mv for mv in rows if mv.id not in kept_ids]
            if not gone:
                return []
            for chunk in _chunks([mv.id for mv in gone]):
                s.exec(delete(ModelVersion).where(col(ModelVersion.id).in_(chunk)))
            still_used = {mv.path for mv in kept}
            paths = list(dict.fromkeys(mv.path for mv in gone if mv.path not in still_used))
        log.info("pruned %d model versions of %s", len(gone), user_name)
        return paths

    def _forget_models(self, s: Session, uid: int, user_name: str) -> dict[str, int]:
        """Erase the user's model versions (their files are the caller's: see ``ForgetReport.model_paths``)."""
        res = s.exec(delete(ModelVersion).where(col(ModelVersion.user_id) == uid))
        return {"model_versions": int(res.rowcount or 0)}
