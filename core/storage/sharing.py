"""Who shares their taste in which server (``/share on|off``): the product's own record, per user and server."""
from __future__ import annotations

from sqlmodel import Session, col, delete, select

from core.storage.database import Database
from core.storage.schema import ServerShare, User, _clean_text, utcnow

MAX_DISPLAY_NAME = 64


class Sharing(Database):
    """Per-server opt-in. Nothing about a member is shown in a server without their row saying ``shared``."""

    def set_sharing(self, platform: str, server_id: str | int, user_name: str, shared: bool,
                    display_name: str = "") -> None:
        with self._session() as s, s.begin():
            uid = self._uid(self._ensure_user(s, user_name))
            row = s.exec(select(ServerShare).where(col(ServerShare.platform) == platform,
                                                   col(ServerShare.server_id) == str(server_id),
                                                   col(ServerShare.user_id) == uid)).first()
            if row is None:
                row = ServerShare(platform=platform, server_id=str(server_id), user_id=uid)
            row.shared = bool(shared)
            row.display_name = _clean_text(display_name, MAX_DISPLAY_NAME) or row.display_name or ""
            row.updated_at = utcnow()
            s.add(row)

    def is_sharing(self, platform: str, server_id: str | int, user_name: str) -> bool:
        return user_name in dict(self.sharing_members(platform, server_id))

    def sharing_members(self, platform: str, server_id: str | int) -> list[tuple[str, str]]:
        """(user name, display name) of every member sharing in the server, in the order they opted in."""
        with self._session() as s:
            rows = s.exec(select(User.name, ServerShare.display_name)
                          .join(User, col(User.id) == col(ServerShare.user_id))
                          .where(col(ServerShare.platform) == platform, col(ServerShare.server_id) == str(server_id),
                                 col(ServerShare.shared).is_(True))
                          .order_by(col(ServerShare.id))).all()
            return [(name, shown or name) for name, shown in rows]

    def _forget_sharing(self, s: Session, uid: int, user_name: str) -> dict[str, int]:
        res = s.exec(delete(ServerShare).where(col(ServerShare.user_id) == uid))
        return {"server_shares": int(res.rowcount or 0)}
