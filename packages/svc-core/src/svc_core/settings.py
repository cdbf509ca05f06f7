"""Settings read from the environment (prefix ``SVC_``, nested delimiter ``__``).

:class:`SvcSettings` holds the keys every package shares (``SVC_ENV``,
``SVC_DATABASE_URL``, ``SVC_REDIS_URL``) and the HTTP layer's settings
(``SVC_HTTP__MAX_BODY_BYTES`` …). Each package defines its own section with
:func:`section_config`, e.g. ``SVC_RATELIMIT__DEFAULT`` for svc-ratelimit.

Nothing is read at import time: call ``SvcSettings()`` (or :func:`get_settings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from svc_core.errors import ConfigurationError

__all__ = [
    "CommaList",
    "HttpSettings",
    "Profile",
    "SvcSettings",
    "get_settings",
    "section_config",
]

Profile = Literal["embedded", "production"]

#: A list that the environment gives as a comma-separated string (``a,b,c``).
CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def section_config(section: str, **overrides: Any) -> SettingsConfigDict:
    """The settings config for a package section: env prefix ``SVC_<SECTION>__``.

    Example::

        class RatelimitSettings(BaseSettings):
            model_config = section_config("ratelimit")
            default: str | None = None      # SVC_RATELIMIT__DEFAULT
    """
    config = SettingsConfigDict(
        env_prefix=f"SVC_{section.upper()}__",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )
    config.update(overrides)  # type: ignore[typeddict-item]
    return config


class HttpSettings(BaseModel):
    """The HTTP layer (``SVC_HTTP__…``)."""

    cors_origins: CommaList = Field(
        default_factory=list,
        description="Origins allowed by CORS (comma list). Empty = deny every cross-origin call.",
    )
    cors_allow_credentials: bool = Field(
        default=False, description="Allow credentials on CORS requests (never with '*')."
    )
    cors_allow_methods: CommaList = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    )
    cors_allow_headers: CommaList = Field(
        default_factory=lambda: [
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "If-Match",
            "X-Request-ID",
        ],
    )
    cors_max_age: int = 600
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, description="413 above this size.")
    body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds for the whole request body to arrive (408)."
    )
    handler_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a handler may take before 504."
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="Addresses or CIDRs whose X-Forwarded-For is trusted.",
    )
    hsts_max_age: int = Field(default=63_072_000, ge=0)

    _split = field_validator(
        "cors_origins",
        "cors_allow_methods",
        "cors_allow_headers",
        "trusted_proxies",
        mode="before",
    )(_split_commas)

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> HttpSettings:
        if self.cors_allow_credentials and "*" in self.cors_origins:
            msg = "SVC_HTTP__CORS_ORIGINS='*' cannot be combined with credentials"
            raise ConfigurationError(msg)
        return self


class SvcSettings(BaseSettings):
    """Shared settings of every svc-infra service.

    Attributes:
        env: ``dev``, ``test`` or ``prod`` (``SVC_ENV``).
        database_url: SQLAlchemy async URL (``SVC_DATABASE_URL``); unset = embedded SQLite.
        redis_url: Redis URL (``SVC_REDIS_URL``); unset = in-process key-value store.
        redis_prefix: Prefix of every Redis key this service writes (``SVC_REDIS_PREFIX``).
        redis_timeout: Seconds any one key-value call may take, connection checkout
            included, before it fails as "store unavailable" (``SVC_REDIS_TIMEOUT``,
            default 0.25). Raise it only for batch tools on a congested network: request
            paths depend on the store answering fast.
        data_dir: Where the embedded profile keeps its SQLite file (``SVC_DATA_DIR``).
        service_name: Used in logs, metrics and token issuers (``SVC_SERVICE_NAME``).
    """

    model_config = SettingsConfigDict(
        env_prefix="SVC_",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "svc:"
    redis_timeout: float = Field(default=0.25, gt=0, le=60)
    data_dir: Path = Path(".svc-infra")
    service_name: str = "svc-infra"
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def profile(self) -> Profile:
        """``production`` when a database or Redis URL is configured, else ``embedded``."""
        return "production" if (self.database_url or self.redis_url) else "embedded"

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'svc.db').resolve()}"

    @property
    def is_prod(self) -> bool:
        """True when ``SVC_ENV=prod``."""
        return self.env == "prod"


def get_settings() -> SvcSettings:
    """Read :class:`SvcSettings` from the environment now (no caching)."""
    return SvcSettings()
