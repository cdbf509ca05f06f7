"""Sessions (refresh-token families): creation, atomic rotation, reuse detection, revocation.

A refresh token is 256 random bits, shown once and stored as its SHA-256. Rotation spends
the presented token with one conditional ``UPDATE … WHERE used_at IS NULL`` and checks
the row count, so of two concurrent refreshes with the same token exactly one wins, on
SQLite and Postgres alike. Presenting a spent token again revokes the whole family
(RFC 9700 §4.14.2), unless it comes within the optional reuse grace (D6), which returns
the identical successor. Sessions end after ``idle`` seconds without a refresh or
``absolute`` seconds after login, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import Insert, Table, bindparam, insert, select, update

from svc_auth.errors import RefreshTokenError, SessionNotFoundError
from svc_auth.models import RefreshToken, Session, User
from svc_core.sql import utcnow, uuid7

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

    from svc_auth.revocation import RevocationRegistry
    from svc_core.kv import KV
    from svc_core.sql import Database

__all__ = ["Rotation", "SessionManager", "hash_token", "new_refresh_token"]


def hash_token(token: str) -> str:
    """Hex SHA-256 of an opaque token (what the database stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    """256 random bits, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of a successful refresh.

    Attributes:
        session: The (still active) session.
        user: Its user.
        refresh_token: The successor refresh token.
    """

    session: Session
    user: User
    refresh_token: str


_SESSIONS = cast("Table", Session.__table__)
_TOKENS = cast("Table", RefreshToken.__table__)
_INSERT_SESSION = insert(_SESSIONS)
_INSERT_TOKEN = insert(_TOKENS)


def _insert_both() -> Insert:
    """The session and its first refresh token in one statement (Postgres).

    ``WITH s AS (INSERT INTO auth_sessions … RETURNING id) INSERT INTO
    auth_refresh_tokens … SELECT …, s.id FROM s``: a data-modifying CTE, atomic on its own,
    so a login's writes are one round trip instead of BEGIN, two INSERTs and COMMIT.
    Parameters: the session's columns as ``s_<column>``, the token's as ``t_<column>``.
    """
    session_values = {c.name: bindparam(f"s_{c.name}", type_=c.type) for c in _SESSIONS.columns}
    new_session = insert(_SESSIONS).values(session_values).returning(_SESSIONS.c.id).cte("s")
    token_columns = [c for c in _TOKENS.columns if c.name != "session_id"]
    chosen = select(
        *(bindparam(f"t_{c.name}", type_=c.type) for c in token_columns), new_session.c.id
    )
    return insert(_TOKENS).from_select([*(c.name for c in token_columns), "session_id"], chosen)


_INSERT_BOTH = _insert_both()


class _ReuseError(Exception):
    def __init__(self, session_id: uuid.UUID) -> None:
        super().__init__("refresh token reuse")
        self.session_id = session_id


class SessionManager:
    """Creates, rotates and revokes sessions.

    Args:
        database: Where sessions and refresh tokens live.
        kv: Holds the short reuse-grace records (D6).
        revocations: Announces revoked sessions to every replica.
        idle: Idle lifetime, seconds.
        absolute: Absolute lifetime, seconds.
        reuse_grace: Seconds a spent token still returns its successor (0 = never).
        clock: Current aware UTC time.
        on_reuse: Called when a spent token is presented (metrics).
    """

    def __init__(
        self,
        database: Database,
        kv: KV,
        revocations: RevocationRegistry,
        *,
        idle: int,
        absolute: int,
        reuse_grace: int = 0,
        clock: Callable[[], datetime] = utcnow,
        on_reuse: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self.kv = kv
        self.revocations = revocations
        self.idle = timedelta(seconds=idle)
        self.absolute = timedelta(seconds=absolute)
        self.reuse_grace = reuse_grace
        self.clock = clock
        self._on_reuse = on_reuse

    async def create(
        self, user_id: uuid.UUID, *, user_agent: str | None, ip: str | None
    ) -> tuple[uuid.UUID, str]:
        """Open a new session for the user; returns its id and its first refresh token.

        Two Core inserts in one transaction (the id is made here, so no flush is needed
        between them) — on Postgres one statement (:func:`_insert_both`): this runs on
        every login, where the ORM's unit of work cost as much CPU as the rest of the
        request, and every round trip counts.
        """
        now = self.clock()
        token = new_refresh_token()
        session_id = uuid7()
        session_row = {
            "id": session_id,
            "user_id": user_id,
            "created_at": now,
            "last_used_at": now,
            "absolute_expires_at": now + self.absolute,
            "user_agent": (user_agent or "")[:512] or None,
            "ip": ip,
            "revoked_at": None,
            "reason": None,
        }
        token_row = {
            "id": uuid7(),
            "token_hash": hash_token(token),
            "session_id": session_id,
            "created_at": now,
            "used_at": None,
            "replaced_by": None,
        }
        if self.database.dialect == "postgresql":
            params = {f"s_{k}": v for k, v in session_row.items()}
            params.update({f"t_{k}": v for k, v in token_row.items() if k != "session_id"})
            async with self.database.connect(autocommit=True) as connection:
                await connection.execute(_INSERT_BOTH, params)
            return session_id, token
        async with self.database.begin() as connection:
            # Prebuilt statements + parameter dicts: compiled once, no per-call coercion.
            await connection.execute(_INSERT_SESSION, session_row)
            await connection.execute(_INSERT_TOKEN, token_row)
        return session_id, token

    def _alive(self, session: Session, now: datetime) -> bool:
        return (
            session.revoked_at is None
            and now < session.absolute_expires_at
            and now < session.last_used_at + self.idle
        )

    async def rotate(self, token: str) -> Rotation:
        """Spend ``token`` and issue its successor, in one transaction.

        Raises:
            RefreshTokenError: Unknown, spent (the family is then revoked), expired, or
                the session or account is no longer active.
        """
        now = self.clock()
        digest = hash_token(token)
        try:
            async with self.database.transaction() as db:
                row = (
                    await db.execute(select(RefreshToken).where(RefreshToken.token_hash == digest))
                ).scalar_one_or_none()
                if row is None:
                    raise RefreshTokenError
                session = await db.get(Session, row.session_id)
                user = await db.get(User, session.user_id) if session is not None else None
                if session is None or user is None or not user.is_active:
                    raise RefreshTokenError
                if row.used_at is not None:
                    raise _ReuseError(session.id)
                if not self._alive(session, now):
                    raise RefreshTokenError
                successor = new_refresh_token()
                new_row = RefreshToken(
                    token_hash=hash_token(successor), session_id=session.id, created_at=now
                )
                db.add(new_row)
                await db.flush()
                spent = await db.execute(
                    update(RefreshToken)
                    .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
                    .values(used_at=now, replaced_by=new_row.id)
                    .execution_options(synchronize_session=False)
                )
                if getattr(spent, "rowcount", 0) != 1:
                    # A concurrent refresh spent it first: this one is a reuse.
                    raise _ReuseError(session.id)
                session.last_used_at = now
            if self.reuse_grace:
                await self.kv.set(f"auth:grace:{digest}", successor, ttl=self.reuse_grace)
            return Rotation(session, user, successor)
        except _ReuseError as reuse:
            reused_session = reuse.session_id
        if self.reuse_grace:
            successor_raw = await self.kv.get(f"auth:grace:{digest}")
            if successor_raw is not None:
                async with self.database.session() as db:
                    session = await db.get(Session, reused_session)
                    user = await db.get(User, session.user_id) if session else None
                if session is not None and user is not None and self._alive(session, now):
                    return Rotation(session, user, successor_raw.decode())
        if self._on_reuse is not None:
            self._on_reuse()
        await self.revoke(reused_session, reason="reuse")
        raise RefreshTokenError

    async def get(self, session_id: uuid.UUID) -> Session | None:
        """The session ``session_id``, or ``None``."""
        async with self.database.session() as db:
            return await db.get(Session, session_id)

    async def list_active(self, user_id: uuid.UUID) -> list[Session]:
        """The user's live sessions, newest first."""
        now = self.clock()
        async with self.database.session() as db:
            rows = (
                await db.execute(
                    select(Session)
                    .where(Session.user_id == user_id, Session.revoked_at.is_(None))
                    .order_by(Session.created_at.desc())
                )
            ).scalars()
            return [s for s in rows if self._alive(s, now)]

    async def revoke(self, session_id: uuid.UUID, *, reason: str) -> None:
        """Revoke one session (idempotent); its access tokens stop working at once."""
        async with self.database.transaction() as db:
            await db.execute(
                update(Session)
                .where(Session.id == session_id, Session.revoked_at.is_(None))
                .values(revoked_at=self.clock(), reason=reason)
            )
        await self.revocations.revoke([str(session_id)])

    async def revoke_for_user(
        self, user_id: uuid.UUID, session_id: uuid.UUID, *, reason: str
    ) -> None:
        """Revoke ``session_id`` if it belongs to ``user_id``.

        Raises:
            SessionNotFoundError: No such session for this user (another user's session
                looks the same).
        """
        session = await self.get(session_id)
        if session is None or session.user_id != user_id:
            raise SessionNotFoundError("No such session.")
        await self.revoke(session_id, reason=reason)

    async def revoke_all(
        self, user_id: uuid.UUID, *, reason: str, keep: uuid.UUID | None = None
    ) -> int:
        """Revoke every live session of ``user_id`` except ``keep``; returns how many."""
        async with self.database.transaction() as db:
            ids = list(
                (
                    await db.execute(
                        select(Session.id).where(
                            Session.user_id == user_id, Session.revoked_at.is_(None)
                        )
                    )
                ).scalars()
            )
            ids = [i for i in ids if i != keep]
            if ids:
                await db.execute(
                    update(Session)
                    .where(Session.id.in_(ids))
                    .values(revoked_at=self.clock(), reason=reason)
                )
        await self.revocations.revoke(str(i) for i in ids)
        return len(ids)
