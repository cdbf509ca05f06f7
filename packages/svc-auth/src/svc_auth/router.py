"""The ``/auth`` routes of the HTTP contract (``auth_router()``).

Paths, status codes and JSON field names follow the project's HTTP contract exactly.
Every failure is a problem+json raised as an :class:`~svc_auth.errors.SvcAuthError`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from svc_auth.dependencies import auth_service, current_principal
from svc_auth.ips import client_address
from svc_auth.service import AuthService
from svc_core.context import Principal

__all__ = ["auth_router"]

_EMAIL = "alice@example.com"
_PASSWORD = "plum velvet orchard lantern 42"  # noqa: S105 - an OpenAPI example
_PW = Field(min_length=1, max_length=4096)
_TOKEN = Field(min_length=1, max_length=4096)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Credentials(_Strict):
    """``POST /auth/register`` and ``/auth/login`` body."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": _EMAIL, "password": _PASSWORD}]}
    )
    email: str = Field(min_length=1, max_length=320)
    password: str = _PW


class UserCreated(_Strict):
    """``201`` of ``POST /auth/register``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f1e2-5b7c-7d2e-9a4b-3c2d1e0f9a8b",
                    "email": _EMAIL,
                    "is_verified": False,
                }
            ]
        }
    )
    id: str
    email: str
    is_verified: bool


class TokenBody(_Strict):
    """``POST /auth/verify`` body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"token": "eyJhbGciOi…"}]})
    token: str = _TOKEN


class Verified(_Strict):
    """``200`` of ``POST /auth/verify``."""

    is_verified: bool = True


class TokenPairOut(_Strict):
    """``200`` of login and refresh."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9…",
                    "refresh_token": "q3L0x…43 base64url characters",
                    "token_type": "bearer",
                    "expires_in": 900,
                }
            ]
        }
    )
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class RefreshBody(_Strict):
    """``POST /auth/refresh`` body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"refresh_token": "q3L0x…"}]})
    refresh_token: str = _TOKEN


class Me(_Strict):
    """``200`` of ``GET /auth/me``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f1e2-5b7c-7d2e-9a4b-3c2d1e0f9a8b",
                    "email": _EMAIL,
                    "is_verified": True,
                    "tenant_id": "0190f1e2-5b7d-7aa0-8f00-112233445566",
                    "roles": [],
                }
            ]
        }
    )
    id: str
    email: str
    is_verified: bool
    tenant_id: str
    roles: list[str]


class SessionOut(_Strict):
    """One entry of ``GET /auth/sessions``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f1e2-6000-7000-8000-000000000001",
                    "created_at": "2026-01-01T12:00:00Z",
                    "last_used_at": "2026-01-01T12:10:00Z",
                    "user_agent": "Mozilla/5.0",
                    "ip": "203.0.113.7",
                    "current": True,
                }
            ]
        }
    )
    id: str
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class EmailBody(_Strict):
    """``POST /auth/password/forgot`` body."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": _EMAIL}]})
    email: str = Field(min_length=1, max_length=320)


class ResetBody(_Strict):
    """``POST /auth/password/reset`` body."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "eyJhbGciOi…", "new_password": _PASSWORD}]}
    )
    token: str = _TOKEN
    new_password: str = _PW


class ChangeBody(_Strict):
    """``POST /auth/password/change`` body."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"current_password": _PASSWORD, "new_password": "a brand new passphrase"}]
        }
    )
    current_password: str = _PW
    new_password: str = _PW


class PasswordChanged(_Strict):
    """``200`` of password reset and change."""

    sessions_revoked: int


class Accepted(_Strict):
    """``202`` of ``POST /auth/password/forgot``."""

    detail: str = "If an account exists for this address, a reset link is on its way."


Service = Annotated[AuthService, Depends(auth_service)]
Caller = Annotated[Principal, Depends(current_principal)]


def _problem(status: int, detail: str) -> dict[str, Any]:
    return {
        "description": detail,
        "content": {
            "application/problem+json": {
                "example": {
                    "type": "https://svc-infra.dev/problems#…",
                    "title": "…",
                    "status": status,
                    "detail": detail,
                    "request_id": "0f8c…",
                }
            }
        },
    }


_401: dict[int | str, dict[str, Any]] = {401: _problem(401, "A valid access token is required.")}


def auth_router(*, prefix: str = "/auth") -> APIRouter:
    """The router of the contract's auth table (``/auth/...``).

    The app must hold an :class:`AuthService` at ``app.state.svc_auth`` (the plugin and
    :class:`svc_auth.Auth` put it there).
    """
    router = APIRouter(prefix=prefix, tags=["auth"])

    @router.post(
        "/register",
        status_code=201,
        response_model=UserCreated,
        responses={
            409: _problem(409, "An account with this email already exists."),
            422: _problem(422, "The password does not meet the password policy."),
        },
    )
    async def register(body: Credentials, service: Service) -> UserCreated:
        """Create an account and mail a verification token."""
        user = await service.register(body.email, body.password)
        return UserCreated(id=str(user.id), email=user.email, is_verified=user.is_verified)

    @router.post(
        "/verify",
        response_model=Verified,
        responses={400: _problem(400, "The token is invalid, already used or expired.")},
    )
    async def verify(body: TokenBody, service: Service) -> Verified:
        """Confirm the email address with the mailed token."""
        await service.verify_email(body.token)
        return Verified()

    @router.post(
        "/login",
        response_model=TokenPairOut,
        responses={
            401: _problem(401, "The email or password is incorrect."),
            403: _problem(403, "Verify your email address before logging in."),
            429: _problem(429, "Too many failed login attempts; try again later."),
        },
    )
    async def login(body: Credentials, request: Request, service: Service) -> TokenPairOut:
        """Exchange email and password for an access and a refresh token."""
        pair = await service.login(
            body.email,
            body.password,
            ip=client_address(request.scope, service.svc.http.trusted_proxies),
            user_agent=request.headers.get("user-agent"),
        )
        return TokenPairOut(**pair.as_dict())

    @router.post(
        "/refresh",
        response_model=TokenPairOut,
        responses={401: _problem(401, "The refresh token is invalid; log in again.")},
    )
    async def refresh(body: RefreshBody, service: Service) -> TokenPairOut:
        """Rotate the refresh token: a new pair; the old refresh token is spent."""
        pair = await service.refresh(body.refresh_token)
        return TokenPairOut(**pair.as_dict())

    @router.post("/logout", status_code=204, response_class=Response, responses=_401)
    async def logout(principal: Caller, service: Service) -> Response:
        """End the current session; its tokens stop working at once."""
        await service.logout(principal)
        return Response(status_code=204)

    @router.get("/me", response_model=Me, responses=_401)
    async def me(principal: Caller, service: Service) -> Me:
        """The authenticated account."""
        user = await service.me(principal)
        return Me(
            id=str(user.id),
            email=user.email,
            is_verified=user.is_verified,
            tenant_id=str(user.tenant_id),
            roles=sorted(str(r) for r in user.roles or []),
        )

    @router.get("/sessions", response_model=list[SessionOut], responses=_401)
    async def sessions(principal: Caller, service: Service) -> list[SessionOut]:
        """The caller's active sessions; ``current`` marks this one."""
        current = str(principal.claims.get("sid"))
        return [
            SessionOut(
                id=str(s.id),
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                user_agent=s.user_agent,
                ip=s.ip,
                current=str(s.id) == current,
            )
            for s in await service.list_sessions(principal)
        ]

    @router.delete(
        "/sessions/{session_id}",
        status_code=204,
        response_class=Response,
        responses={**_401, 404: _problem(404, "No such session.")},
    )
    async def revoke_session(session_id: str, principal: Caller, service: Service) -> Response:
        """Revoke one of the caller's sessions; its tokens stop working at once."""
        await service.revoke_session(principal, session_id)
        return Response(status_code=204)

    @router.post("/password/forgot", status_code=202, response_model=Accepted)
    async def forgot(body: EmailBody, service: Service) -> Accepted:
        """Mail a reset token if the account exists. Always 202 (no account enumeration)."""
        await service.forgot_password(body.email)
        return Accepted()

    @router.post(
        "/password/reset",
        response_model=PasswordChanged,
        responses={
            400: _problem(400, "The token is invalid, already used or expired."),
            422: _problem(422, "The password does not meet the password policy."),
        },
    )
    async def reset(body: ResetBody, service: Service) -> PasswordChanged:
        """Set a new password with a mailed token; every session is revoked."""
        count = await service.reset_password(body.token, body.new_password)
        return PasswordChanged(sessions_revoked=count)

    @router.post(
        "/password/change",
        response_model=PasswordChanged,
        responses={**_401, 422: _problem(422, "The password does not meet the password policy.")},
    )
    async def change(body: ChangeBody, principal: Caller, service: Service) -> PasswordChanged:
        """Change the password; every other session is revoked."""
        count = await service.change_password(principal, body.current_password, body.new_password)
        return PasswordChanged(sessions_revoked=count)

    return router
