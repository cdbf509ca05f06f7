"""SQL models of svc-auth: users, sessions (refresh families), refresh and one-time tokens.

Secrets are never stored: refresh tokens and one-time (verify/reset) tokens are kept as
the SHA-256 of the opaque value; passwords as argon2id PHC strings. Login failure
counters live in the key-value store, not here.
"""

from __future__ import annotations

import uuid  # noqa: TC003 - SQLAlchemy resolves Mapped[...] at runtime
from datetime import datetime  # noqa: TC003 - SQLAlchemy resolves Mapped[...] at runtime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from svc_core.sql import UUIDPK, Base, TimestampMixin, uuid7

__all__ = ["OneTimeToken", "RefreshToken", "Session", "User"]


class User(TimestampMixin, Base):
    """An account.

    Attributes:
        id: uuid7 primary key (the token's ``sub``).
        email: The canonical email (NFKC, lower-cased): unique.
        password_hash: argon2id PHC string.
        is_verified: The email address was confirmed.
        is_active: False = disabled: login refused, sessions revoked.
        tenant_id: The user's personal tenant (the token's ``tid``).
        roles: Role names.
        mfa_enabled: MFA is enforced for this account (shorter passwords allowed).
    """

    __tablename__ = "auth_users"

    id: Mapped[UUIDPK]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_verified: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(default=uuid7, index=True)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    mfa_enabled: Mapped[bool] = mapped_column(default=False)


class Session(Base):
    """A login: one refresh-token family.

    Attributes:
        id: The token's ``sid``.
        user_id: Owner.
        created_at: Login time.
        last_used_at: Last refresh (drives the idle lifetime).
        absolute_expires_at: Hard end of the family.
        revoked_at: Set when logged out / revoked / reuse detected.
        reason: Why it was revoked (``logout``, ``reuse``, ``password_change`` …).
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id_revoked_at", "user_id", "revoked_at"),)

    id: Mapped[UUIDPK]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
    absolute_expires_at: Mapped[datetime]
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str | None] = mapped_column(String(32), default=None)


class RefreshToken(Base):
    """One opaque refresh token of a family, stored as its SHA-256.

    Attributes:
        token_hash: Hex SHA-256 of the opaque token (unique).
        session_id: The family.
        created_at: Issue time.
        used_at: When it was exchanged (a second use is reuse).
        replaced_by: The successor's id.
    """

    __tablename__ = "auth_refresh_tokens"

    id: Mapped[UUIDPK]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class OneTimeToken(Base):
    """An email-verification or password-reset token (single use), stored hashed.

    Attributes:
        token_hash: Hex SHA-256 of the token's ``jti``.
        user_id: Whose token.
        kind: ``verify`` or ``reset``.
        expires_at: End of validity.
        used_at: Set when redeemed.
    """

    __tablename__ = "auth_one_time_tokens"

    id: Mapped[UUIDPK]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
