"""Errors raised by svc-auth.

Every error subclasses :class:`SvcAuthError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json. Give each subclass a ``status_code``, a ``type_slug`` and a ``title``, and
list the slug on the documentation's problem types page.
"""

from __future__ import annotations

from svc_core.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    SvcError,
    TooManyRequestsError,
    UnauthorizedError,
    UnprocessableError,
)

__all__ = [
    "AccountLockedError",
    "BreachCheckUnavailableError",
    "EmailNotVerifiedError",
    "EmailTakenError",
    "InvalidCredentialsError",
    "InvalidIdentifierError",
    "InvalidOneTimeTokenError",
    "InvalidTokenError",
    "MailDeliveryError",
    "PasswordPolicyError",
    "RefreshTokenError",
    "SessionNotFoundError",
    "SvcAuthError",
    "WeakSecretError",
]


class SvcAuthError(SvcError):
    """Root of every svc-auth error."""


# --- credential hygiene and mail (passwords.py, breach.py, identity.py, mail.py) ---


class PasswordPolicyError(SvcAuthError, UnprocessableError):
    """A new password breaks the password policy (422).

    The problem's ``errors`` list names every reason, e.g.
    ``{"loc": ["body", "password"], "msg": "...", "type": "password.too_short"}``.
    The password itself never appears in the problem.
    """

    status_code = 422
    type_slug = "validation-error"
    title = "Unprocessable Content"


class InvalidIdentifierError(SvcAuthError, UnprocessableError):
    """An email address or username is malformed or holds forbidden characters (422).

    Zero-width, bidirectional-control and other control characters are refused
    (decision D2); the problem's ``errors`` list says why.
    """

    status_code = 422
    type_slug = "validation-error"
    title = "Unprocessable Content"


class MailDeliveryError(SvcAuthError):
    """The mail server could not be reached or refused the message (503)."""

    status_code = 503
    type_slug = "service-unavailable"
    title = "Service Unavailable"


class BreachCheckUnavailableError(SvcAuthError):
    """The remote breached-password service failed and no fallback is configured (503)."""

    status_code = 503
    type_slug = "service-unavailable"
    title = "Service Unavailable"


# --- accounts, tokens, sessions and lockout (service.py, tokens.py, sessions.py, lockout.py) ---


class InvalidCredentialsError(SvcAuthError, UnauthorizedError):
    """Wrong email or password, or a disabled account: one identical 401 for all three."""

    status_code = 401
    type_slug = "invalid-credentials"
    title = "Invalid Credentials"

    def __init__(self) -> None:
        super().__init__("The email or password is incorrect.")


class InvalidTokenError(SvcAuthError, UnauthorizedError):
    """A missing, malformed, expired or revoked bearer token (401 + ``WWW-Authenticate``)."""

    status_code = 401
    type_slug = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "A valid access token is required.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class RefreshTokenError(SvcAuthError, UnauthorizedError):
    """The refresh token is unknown, spent, expired or its session is revoked (401)."""

    status_code = 401
    type_slug = "invalid-refresh-token"
    title = "Invalid Refresh Token"

    def __init__(self) -> None:
        super().__init__("The refresh token is invalid; log in again.")


class EmailNotVerifiedError(SvcAuthError, ForbiddenError):
    """The password was right but the email address is not verified yet (403)."""

    status_code = 403
    type_slug = "email-not-verified"
    title = "Email Not Verified"


class EmailTakenError(SvcAuthError, ConflictError):
    """An account with this (canonical) email already exists (409)."""

    status_code = 409
    type_slug = "conflict"
    title = "Conflict"


class InvalidOneTimeTokenError(SvcAuthError, BadRequestError):
    """A verification or reset token is invalid, used or expired (400)."""

    status_code = 400
    type_slug = "invalid-token"
    title = "Invalid Token"


class SessionNotFoundError(SvcAuthError, NotFoundError):
    """No such session for this user (404; another user's session looks the same)."""

    status_code = 404
    type_slug = "not-found"
    title = "Not Found"


class AccountLockedError(SvcAuthError, TooManyRequestsError):
    """Too many failed logins: the account (or client) cools down (429 + ``Retry-After``)."""

    status_code = 429
    type_slug = "too-many-requests"
    title = "Too Many Requests"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            "Too many failed login attempts; try again later.",
            headers={"Retry-After": str(self.retry_after)},
        )


class WeakSecretError(SvcAuthError, ConfigurationError):
    """The HS256 secret is shorter than 32 bytes or guessable (a start-up error)."""

    type_slug = "configuration-error"
    title = "Configuration Error"
