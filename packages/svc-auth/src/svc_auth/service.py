"""The account flows: register, verify, login, refresh, logout, me, sessions, passwords.

:class:`AuthService` holds every component (hasher, policy, key ring, sessions,
lockout, mail) and is what the router, the dependencies, the middleware and the CLI
call. Build it with :meth:`AuthService.create`, then ``await service.start()`` (loads
the signing keys, starts listening for revocations) before serving.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from svc_auth.breach import BundledListChecker, CompositeChecker, HIBPRangeChecker
from svc_auth.errors import (
    AccountLockedError,
    EmailNotVerifiedError,
    EmailTakenError,
    InvalidCredentialsError,
    InvalidIdentifierError,
    InvalidOneTimeTokenError,
    InvalidTokenError,
    MailDeliveryError,
)
from svc_auth.identity import normalize_email
from svc_auth.keys import load_key_ring
from svc_auth.lockout import Lockout
from svc_auth.mail import (
    DevMailbox,
    MailSender,
    SMTPMailSender,
    render_reset_email,
    render_verify_email,
)
from svc_auth.metrics import AuthMetrics, auth_metrics
from svc_auth.models import OneTimeToken, Session, User
from svc_auth.passwords import DEFAULT_PARAMS, Argon2Params, PasswordHasher, PasswordPolicy
from svc_auth.revocation import RevocationRegistry
from svc_auth.sessions import SessionManager
from svc_auth.settings import AuthSettings
from svc_auth.tokens import JWTCodec, KeyRing, TokenType
from svc_auth.verifier import TokenVerifier
from svc_core.errors import ConfigurationError
from svc_core.sql import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from svc_core.context import Principal
    from svc_core.kv import KV
    from svc_core.settings import SvcSettings
    from svc_core.sql import Database

__all__ = ["AuthService", "TokenPair"]

logger = logging.getLogger("svc_auth.service")


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What login and refresh return.

    Attributes:
        access_token: The JWT.
        refresh_token: The opaque refresh token.
        expires_in: Seconds the access token lives.
        session_id: The session (refresh family).
    """

    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of the contract."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
        }


def _jti_hash(jti: str) -> str:
    return hashlib.sha256(jti.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Credentials:
    """What a login needs of an account, read with one Core query (no ORM entity)."""

    id: uuid.UUID
    password_hash: str
    is_verified: bool
    is_active: bool
    tenant_id: uuid.UUID
    roles: list[Any]


_USERS = User.__table__
# Prebuilt with a bound parameter: compiled once, no statement built per login.
_CREDENTIALS = select(
    _USERS.c.id,
    _USERS.c.password_hash,
    _USERS.c.is_verified,
    _USERS.c.is_active,
    _USERS.c.tenant_id,
    _USERS.c.roles,
).where(_USERS.c.email == bindparam("email"))


class AuthService:
    """Every account flow of svc-auth. See the module docstring.

    Args:
        settings: svc-auth settings.
        svc: The service's shared settings (env, data_dir, service name).
        database: Where users and sessions live.
        kv: Lockout counters and revocations.
        hasher: Password hasher (D3 parameters by default).
        policy: Password policy.
        mailer: Where verification and reset mail goes.
        clock: Seconds since the epoch; every time check uses it (tests freeze it).
        metrics: Counters (default: the global registry).
    """

    def __init__(
        self,
        settings: AuthSettings,
        svc: SvcSettings,
        *,
        database: Database,
        kv: KV,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        mailer: MailSender,
        clock: Callable[[], float] = time.time,
        metrics: AuthMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.svc = svc
        self.database = database
        self.kv = kv
        self.hasher = hasher
        self.policy = policy
        self.mailer = mailer
        self.clock = clock
        self.metrics = metrics or auth_metrics()
        self.issuer = settings.issuer or svc.service_name
        self.audience = settings.audience or svc.service_name
        self.revocations = RevocationRegistry(kv, ttl=settings.access_ttl + settings.leeway + 5)
        self.sessions = SessionManager(
            database,
            kv,
            self.revocations,
            idle=settings.refresh_idle_ttl,
            absolute=settings.refresh_absolute_ttl,
            reuse_grace=settings.refresh_reuse_grace,
            clock=self.now,
            on_reuse=self.metrics.refresh_reuse.inc,
        )
        self.lockout = Lockout(
            kv,
            threshold=settings.lockout_threshold,
            base=settings.lockout_base,
            max_seconds=settings.lockout_max,
            window=settings.lockout_window,
            ip_threshold=settings.ip_lockout_threshold,
            on_lock=self.metrics.lockouts.inc,
        )
        self._codec: JWTCodec | None = None
        self.verifier = TokenVerifier(self)
        self.revocations.on_resync = self.verifier.clear

    @classmethod
    def create(
        cls,
        svc: SvcSettings,
        *,
        database: Database,
        kv: KV,
        settings: AuthSettings | None = None,
        params: Argon2Params = DEFAULT_PARAMS,
        mailer: MailSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> AuthService:
        """Build the service from settings: policy, breach checker and mail sender included.

        Raises:
            ConfigurationError: Mail is not configured in prod (no SMTP host).
        """
        settings = settings or AuthSettings()
        product = settings.product_name or svc.service_name
        checker: Any = BundledListChecker()
        if settings.hibp:
            checker = CompositeChecker(checker, HIBPRangeChecker(base_url=settings.hibp_url))
        policy = PasswordPolicy(product_name=product, checker=checker)
        if mailer is None:
            use_smtp = settings.mail_mode == "smtp" or (
                settings.mail_mode == "auto" and settings.smtp_host
            )
            if use_smtp and settings.smtp_host:
                password = settings.smtp_password
                mailer = SMTPMailSender(
                    settings.smtp_host,
                    settings.smtp_port,
                    sender=settings.mail_from,
                    username=settings.smtp_username,
                    password=password.get_secret_value() if password else None,
                    starttls=settings.smtp_starttls,
                )
            elif svc.is_prod:
                msg = "SVC_AUTH__SMTP_HOST is required in prod (the dev mailbox is dev/test only)"
                raise ConfigurationError(msg)
            else:
                mailer = DevMailbox()
        return cls(
            settings,
            svc,
            database=database,
            kv=kv,
            hasher=PasswordHasher(params),
            policy=policy,
            mailer=mailer,
            clock=clock,
        )

    # ------------------------------------------------------------------ lifecycle

    def now(self) -> datetime:
        """The service clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)

    @property
    def codec(self) -> JWTCodec:
        """The JWT codec (available after :meth:`start`)."""
        if self._codec is None:
            msg = "AuthService.start() has not run: no signing keys are loaded"
            raise ConfigurationError(msg)
        return self._codec

    @property
    def started(self) -> bool:
        """Whether keys are loaded."""
        return self._codec is not None

    def use_keys(self, ring: KeyRing) -> None:
        """Replace the key ring (tests, key rotation without restart)."""
        self._codec = JWTCodec(
            ring,
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.settings.leeway,
            clock=self.clock,
        )
        self.verifier.clear()

    async def start(self) -> None:
        """Load the key ring and start listening for revocations.

        Raises:
            ConfigurationError: Keys are missing in prod, malformed, or an HS256 secret
                is weak.
        """
        if self._codec is None:
            self.use_keys(load_key_ring(self.settings, self.svc))
        await self.revocations.start()

    async def stop(self) -> None:
        """Stop listening for revocations; close the breach checker."""
        await self.revocations.stop()
        closer = getattr(self.policy.checker, "aclose", None)
        if closer is not None:
            await closer()

    # ------------------------------------------------------------------ helpers

    def _issue_access(self, user: User | _Credentials, session_id: uuid.UUID) -> str:
        token, _ = self.codec.encode(
            "access",
            str(user.id),
            self.settings.access_ttl,
            claims={
                "sid": str(session_id),
                "tid": str(user.tenant_id),
                "roles": sorted(str(r) for r in user.roles or []),
            },
        )
        return token

    async def _one_time(self, user: User, kind: TokenType, ttl: int) -> str:
        token, claims = self.codec.encode(kind, str(user.id), ttl)
        now = self.now()
        async with self.database.transaction() as db:
            db.add(
                OneTimeToken(
                    token_hash=_jti_hash(claims["jti"]),
                    user_id=user.id,
                    kind=kind,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl),
                )
            )
        return token

    async def _redeem(self, token: str, kind: TokenType) -> uuid.UUID:
        """Spend a one-time token; returns its user id (400 when invalid, used or expired)."""
        bad = InvalidOneTimeTokenError("The token is invalid, already used or expired.")
        try:
            claims = self.codec.decode(token, kind)
            user_id = uuid.UUID(str(claims["sub"]))
        except (InvalidTokenError, ValueError) as exc:
            raise bad from exc
        now = self.now()
        async with self.database.transaction() as db:
            result = await db.execute(
                update(OneTimeToken)
                .where(
                    OneTimeToken.token_hash == _jti_hash(str(claims["jti"])),
                    OneTimeToken.kind == kind,
                    OneTimeToken.user_id == user_id,
                    OneTimeToken.used_at.is_(None),
                    OneTimeToken.expires_at > now,
                )
                .values(used_at=now)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise bad
        return user_id

    async def user_by_email(self, email: str) -> User | None:
        """The user with this canonical email, or ``None``."""
        async with self.database.session() as db:
            return (await db.execute(select(User).where(User.email == email))).scalar_one_or_none()

    async def _credentials(self, email: str) -> _Credentials | None:
        """The login fields of the account with this canonical email (one Core query)."""
        # One statement: no transaction around it (on Postgres no BEGIN / ROLLBACK).
        async with self.database.connect(autocommit=True) as connection:
            row = (await connection.execute(_CREDENTIALS, {"email": email})).first()
        return None if row is None else _Credentials(*row)

    async def user_by_id(self, user_id: uuid.UUID | str) -> User | None:
        """The user with this id, or ``None``."""
        try:
            key = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
        except ValueError:
            return None
        async with self.database.session() as db:
            return await db.get(User, key)

    # ------------------------------------------------------------------ flows

    async def create_user(
        self,
        email: str,
        password: str,
        *,
        roles: list[str] | None = None,
        verified: bool = False,
        check_policy: bool = True,
    ) -> User:
        """Create an account (no mail sent). Used by :meth:`register` and the CLI.

        Raises:
            InvalidIdentifierError: The email is malformed (422).
            PasswordPolicyError: The password breaks the policy (422).
            EmailTakenError: The canonical email is taken (409).
        """
        key = normalize_email(email)
        if check_policy:
            await self.policy.check(password, email=key, mfa=self.settings.mfa_required)
        if await self.user_by_email(key) is not None:
            raise EmailTakenError("An account with this email already exists.")
        user = User(
            email=key,
            password_hash=await self.hasher.hash(password),
            is_verified=verified,
            roles=list(roles or []),
            mfa_enabled=self.settings.mfa_required,
        )
        try:
            async with self.database.transaction() as db:
                db.add(user)
        except IntegrityError as exc:  # a concurrent registration won
            raise EmailTakenError("An account with this email already exists.") from exc
        return user

    async def register(self, email: str, password: str) -> User:
        """Create an account and send the verification mail."""
        user = await self.create_user(email, password)
        await self.send_verification(user)
        return user

    async def send_verification(self, user: User) -> None:
        """Mail a fresh verification token to ``user``."""
        token = await self._one_time(user, "verify", self.settings.verify_ttl)
        await self.mailer.send(
            render_verify_email(
                user.email,
                token,
                self.settings.public_url,
                product_name=self.policy.product_name,
            )
        )

    async def verify_email(self, token: str) -> User:
        """Mark the token's user verified (400 for a bad, used or expired token)."""
        user_id = await self._redeem(token, "verify")
        async with self.database.transaction() as db:
            user = await db.get(User, user_id)
            if user is None:
                raise InvalidOneTimeTokenError("The token is invalid, already used or expired.")
            user.is_verified = True
        return user

    async def login(
        self, email: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> TokenPair:
        """Check the credentials and open a session.

        Raises:
            AccountLockedError: The account or client cools down (429, even for the right
                password).
            InvalidCredentialsError: Unknown email, wrong password or disabled account —
                the same 401 for all three, after comparable work.
            EmailNotVerifiedError: Right password, unverified email (403).
        """
        logins = self.metrics.logins
        try:
            key = normalize_email(email)
        except InvalidIdentifierError:
            key = "invalid:" + hashlib.sha256(email.encode(errors="replace")).hexdigest()
        try:
            await self.lockout.check(key, ip)
        except AccountLockedError:
            logins.labels("locked").inc()
            raise
        user = None if key.startswith("invalid:") else await self._credentials(key)
        if user is None:
            await self.hasher.dummy_verify(password)
            ok = False
        else:
            ok = await self.hasher.verify(user.password_hash, password)
        if not ok or user is None or not user.is_active:
            await self.lockout.failure(key, ip)
            logins.labels("invalid_credentials").inc()
            raise InvalidCredentialsError
        await self.lockout.success(key)
        if self.settings.require_verified and not user.is_verified:
            logins.labels("unverified").inc()
            raise EmailNotVerifiedError("Verify your email address before logging in.")
        if self.hasher.needs_rehash(user.password_hash):
            new_hash = await self.hasher.hash(password)
            async with self.database.transaction() as db:
                await db.execute(
                    update(User).where(User.id == user.id).values(password_hash=new_hash)
                )
        session_id, refresh = await self.sessions.create(user.id, user_agent=user_agent, ip=ip)
        logins.labels("success").inc()
        return TokenPair(
            self._issue_access(user, session_id), refresh, self.settings.access_ttl, session_id
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate ``refresh_token`` (401 when invalid; reuse revokes the session)."""
        rotation = await self.sessions.rotate(refresh_token)
        return TokenPair(
            self._issue_access(rotation.user, rotation.session.id),
            rotation.refresh_token,
            self.settings.access_ttl,
            rotation.session.id,
        )

    async def logout(self, principal: Principal) -> None:
        """Revoke the caller's session."""
        await self.sessions.revoke(uuid.UUID(_sid(principal)), reason="logout")

    async def me(self, principal: Principal) -> User:
        """The caller's account (401 if it is gone or disabled)."""
        user = await self.user_by_id(principal.subject)
        if user is None or not user.is_active:
            raise InvalidTokenError
        return user

    async def list_sessions(self, principal: Principal) -> list[Session]:
        """The caller's live sessions."""
        return await self.sessions.list_active(uuid.UUID(principal.subject))

    async def revoke_session(self, principal: Principal, session_id: str) -> None:
        """Revoke one of the caller's sessions (404 for anyone else's or an unknown id)."""
        from svc_auth.errors import SessionNotFoundError

        try:
            sid = uuid.UUID(session_id)
        except ValueError as exc:
            raise SessionNotFoundError("No such session.") from exc
        await self.sessions.revoke_for_user(uuid.UUID(principal.subject), sid, reason="revoked")

    async def forgot_password(self, email: str) -> None:
        """Mail a reset token if the account exists and is active; silent otherwise."""
        try:
            key = normalize_email(email)
        except InvalidIdentifierError:
            return
        user = await self.user_by_email(key)
        if user is None or not user.is_active:
            return
        token = await self._one_time(user, "reset", self.settings.reset_ttl)
        try:
            await self.mailer.send(
                render_reset_email(
                    user.email,
                    token,
                    self.settings.public_url,
                    product_name=self.policy.product_name,
                )
            )
        except MailDeliveryError:
            # Answering differently would reveal that the account exists.
            logger.warning("password reset mail could not be delivered")

    async def reset_password(self, token: str, new_password: str) -> int:
        """Set a new password from a reset token; revokes every session. Returns how many."""
        try:
            claims = self.codec.decode(token, "reset")
        except InvalidTokenError as exc:
            raise InvalidOneTimeTokenError(
                "The token is invalid, already used or expired."
            ) from exc
        user = await self.user_by_id(str(claims["sub"]))
        if user is None or not user.is_active:
            raise InvalidOneTimeTokenError("The token is invalid, already used or expired.")
        await self.policy.check(
            new_password, email=user.email, mfa=user.mfa_enabled, field="new_password"
        )
        await self._redeem(token, "reset")
        await self._set_password(user.id, new_password)
        return await self.sessions.revoke_all(user.id, reason="password_reset")

    async def change_password(self, principal: Principal, current: str, new: str) -> int:
        """Change the caller's password; revokes every other session. Returns how many.

        Raises:
            InvalidCredentialsError: ``current`` is wrong (401).
            PasswordPolicyError: ``new`` breaks the policy (422).
        """
        user = await self.me(principal)
        if not await self.hasher.verify(user.password_hash, current):
            raise InvalidCredentialsError
        await self.policy.check(new, email=user.email, mfa=user.mfa_enabled, field="new_password")
        await self._set_password(user.id, new)
        return await self.sessions.revoke_all(
            user.id, reason="password_change", keep=uuid.UUID(_sid(principal))
        )

    async def _set_password(self, user_id: uuid.UUID, password: str) -> None:
        new_hash = await self.hasher.hash(password)
        async with self.database.transaction() as db:
            await db.execute(
                update(User)
                .where(User.id == user_id)
                .values(password_hash=new_hash, updated_at=utcnow())
            )

    async def set_active(self, user_id: uuid.UUID, *, active: bool) -> None:
        """Enable or disable an account; disabling revokes every session."""
        async with self.database.transaction() as db:
            await db.execute(update(User).where(User.id == user_id).values(is_active=active))
        if not active:
            await self.sessions.revoke_all(user_id, reason="disabled")


def _sid(principal: Principal) -> str:
    sid = principal.claims.get("sid")
    if not sid:
        raise InvalidTokenError
    return str(sid)
