"""svc-auth: accounts, passwords, tokens, sessions and lockout for FastAPI services.

Install with ``pip install svc-auth`` (``svc-auth[redis]`` / ``svc-auth[postgres]`` for
the production backends) or ``pip install "svc-infra[auth]"``.

With svc-infra, ``create_app()`` discovers :class:`AuthPlugin` and serves the ``/auth``
routes of the HTTP contract. In an existing FastAPI app::

    from fastapi import Depends, FastAPI
    from svc_auth import Auth, require_auth

    auth = Auth()                         # SQLite + in-process store unless configured
    app = FastAPI(lifespan=auth.lifespan)
    auth.install(app)                     # /auth/*, bearer middleware, problem+json

    @app.get("/hello")
    async def hello(user=Depends(require_auth)):
        return {"hello": user.subject, "tenant": user.claims["tid"]}

Protect routes with :func:`require_auth` (401 + ``WWW-Authenticate``) or
:func:`optional_auth`; both set svc-core's principal and tenant context. Every error is
an :class:`SvcAuthError`, rendered as problem+json by svc-core's handlers.
"""

from importlib.metadata import version as _version

from svc_auth.breach import BreachChecker, BundledListChecker, CompositeChecker, HIBPRangeChecker
from svc_auth.dependencies import auth_service, current_principal, optional_auth, require_auth
from svc_auth.errors import (
    AccountLockedError,
    BreachCheckUnavailableError,
    EmailNotVerifiedError,
    EmailTakenError,
    InvalidCredentialsError,
    InvalidIdentifierError,
    InvalidOneTimeTokenError,
    InvalidTokenError,
    MailDeliveryError,
    PasswordPolicyError,
    RefreshTokenError,
    SessionNotFoundError,
    SvcAuthError,
    WeakSecretError,
)
from svc_auth.identity import normalize_email
from svc_auth.integration import Auth
from svc_auth.mail import (
    DevMailbox,
    MailSender,
    Message,
    SMTPMailSender,
    dev_mail_router,
    render_reset_email,
    render_verify_email,
)
from svc_auth.metrics import AuthMetrics, auth_metrics
from svc_auth.middleware import AUTH_ORDER, AuthMiddleware
from svc_auth.passwords import (
    DEFAULT_PARAMS,
    TEST_PARAMS,
    Argon2Params,
    PasswordHasher,
    PasswordPolicy,
)
from svc_auth.plugin import AuthPlugin
from svc_auth.router import auth_router
from svc_auth.service import AuthService, TokenPair
from svc_auth.settings import AuthSettings
from svc_auth.tokens import JWTCodec, KeyRing, check_hs256_secret, generate_key

__version__ = _version("svc-auth")
__all__ = [
    "AUTH_ORDER",
    "DEFAULT_PARAMS",
    "TEST_PARAMS",
    "AccountLockedError",
    "Argon2Params",
    "Auth",
    "AuthMetrics",
    "AuthMiddleware",
    "AuthPlugin",
    "AuthService",
    "AuthSettings",
    "BreachCheckUnavailableError",
    "BreachChecker",
    "BundledListChecker",
    "CompositeChecker",
    "DevMailbox",
    "EmailNotVerifiedError",
    "EmailTakenError",
    "HIBPRangeChecker",
    "InvalidCredentialsError",
    "InvalidIdentifierError",
    "InvalidOneTimeTokenError",
    "InvalidTokenError",
    "JWTCodec",
    "KeyRing",
    "MailDeliveryError",
    "MailSender",
    "Message",
    "PasswordHasher",
    "PasswordPolicy",
    "PasswordPolicyError",
    "RefreshTokenError",
    "SMTPMailSender",
    "SessionNotFoundError",
    "SvcAuthError",
    "TokenPair",
    "WeakSecretError",
    "__version__",
    "auth_metrics",
    "auth_router",
    "auth_service",
    "check_hs256_secret",
    "current_principal",
    "dev_mail_router",
    "generate_key",
    "normalize_email",
    "optional_auth",
    "render_reset_email",
    "render_verify_email",
    "require_auth",
]
