"""svc-auth settings (environment prefix ``SVC_AUTH__``).

Every variable is listed with its default in ``docs/packages/svc-auth.md``. Defaults
follow the project's decisions: access tokens live 15 minutes (D12: 5-15), refresh
families 30 minutes idle and 12 hours absolute (D12), JWT leeway 30 s (D4), no refresh
reuse grace (D6).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from svc_core.errors import ConfigurationError
from svc_core.settings import CommaList, section_config

__all__ = ["ALLOWED_ALGORITHMS", "AuthSettings"]

#: Every algorithm svc-auth can ever accept; ``none`` and RSA-PKCS1 are not among them.
ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"EdDSA", "ES256", "HS256"})


def _split(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class AuthSettings(BaseSettings):
    """Accounts, tokens, sessions and lockout (``SVC_AUTH__…``).

    Attributes:
        issuer: ``iss`` of every token (default: the service name).
        audience: ``aud`` of every token (default: the service name).
        access_ttl: Seconds an access token lives (300-900, D12).
        refresh_idle_ttl: Seconds a session may stay unused (D12: 30 min).
        refresh_absolute_ttl: Seconds a session may live at all (D12: 12 h).
        refresh_reuse_grace: Seconds during which a just-spent refresh token returns the
            identical successor instead of revoking the session (D6: 0, at most 30).
        leeway: Clock skew tolerated on ``exp``/``nbf`` (D4: 30 s).
        algorithms: Algorithms tokens may use (subset of EdDSA, ES256, HS256).
        keys_file: JSON key ring (see the docs); default ``<data_dir>/auth-keys.json``
            generated in dev/test, required in prod unless ``hs256_secret`` is set.
        hs256_secret: A symmetric signing secret (≥ 32 bytes, not a dictionary word).
        verify_ttl: Seconds an email-verification token stays valid.
        reset_ttl: Seconds a password-reset token stays valid.
        require_verified: Refuse login (403) until the email is verified.
        mfa_required: Every account has MFA enforced: the 8-character minimum applies.
        lockout_threshold: Failures per account before the first cool-down.
        lockout_base: Seconds of the first cool-down; doubles with each later failure.
        lockout_max: Longest cool-down in seconds.
        lockout_window: Seconds a failure counter is remembered.
        ip_lockout_threshold: Failures from one client address before it cools down.
        hibp: Also ask Have I Been Pwned's range API (k-anonymity) about new passwords.
        hibp_url: Base URL of the range API.
        product_name: Refused as part of a password; default: the service name.
        mail_from: Sender address of outgoing mail.
        smtp_host: SMTP server; unset = the dev mailbox (refused in prod).
        smtp_port: SMTP port.
        smtp_username: SMTP user.
        smtp_password: SMTP password.
        smtp_starttls: Upgrade the SMTP connection with STARTTLS.
        public_url: Base URL put in links of outgoing mail.
        token_cache_size: Verified access tokens kept per process.
    """

    model_config = section_config("auth")

    issuer: str | None = None
    audience: str | None = None
    access_ttl: int = Field(default=900, ge=300, le=900)
    refresh_idle_ttl: int = Field(default=1800, gt=0)
    refresh_absolute_ttl: int = Field(default=43_200, gt=0)
    refresh_reuse_grace: int = Field(default=0, ge=0, le=30)
    leeway: int = Field(default=30, ge=0, le=60)
    algorithms: CommaList = Field(default_factory=lambda: ["EdDSA", "ES256"])
    keys_file: Path | None = None
    hs256_secret: SecretStr | None = None
    verify_ttl: int = Field(default=86_400, gt=0)
    reset_ttl: int = Field(default=3_600, gt=0)
    require_verified: bool = True
    mfa_required: bool = False
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_base: int = Field(default=30, ge=1)
    lockout_max: int = Field(default=900, ge=1)
    lockout_window: int = Field(default=3_600, ge=1)
    ip_lockout_threshold: int = Field(default=50, ge=1)
    hibp: bool = False
    hibp_url: str = "https://api.pwnedpasswords.com"
    product_name: str | None = None
    mail_from: str = "no-reply@localhost"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    public_url: str = "http://127.0.0.1:8000"
    token_cache_size: int = Field(default=100_000, ge=0)
    mail_mode: Literal["auto", "smtp", "dev"] = "auto"

    _split_algs = field_validator("algorithms", mode="before")(_split)

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        unknown = [a for a in value if a not in ALLOWED_ALGORITHMS]
        if unknown or not value:
            msg = f"SVC_AUTH__ALGORITHMS may only name {sorted(ALLOWED_ALGORITHMS)}, got {value}"
            raise ConfigurationError(msg)
        return value

    @model_validator(mode="after")
    def _lifetimes(self) -> AuthSettings:
        if self.refresh_idle_ttl > self.refresh_absolute_ttl:
            msg = "SVC_AUTH__REFRESH_IDLE_TTL cannot exceed SVC_AUTH__REFRESH_ABSOLUTE_TTL"
            raise ConfigurationError(msg)
        return self
