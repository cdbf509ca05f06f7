"""svc-jobs settings (``SVC_JOBS__…``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from svc_core.settings import CommaList, section_config

__all__ = ["JobsSettings"]


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class JobsSettings(BaseSettings):
    """Settings of svc-jobs, read from ``SVC_JOBS__<NAME>``."""

    model_config = section_config("jobs")

    redis_url: str | None = Field(
        default=None,
        description="Redis of the broker when it is not SVC_REDIS_URL (e.g. a Redis with AOF).",
    )
    queue: str = Field(default="jobs", description="Stream name (after SVC_REDIS_PREFIX).")
    group: str = Field(default="workers", description="Redis consumer group of the workers.")
    visibility_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an un-acked job may idle before another worker reclaims it.",
    )
    heartbeat_interval: float | None = Field(
        default=None,
        gt=0,
        description="Seconds between lease extensions (default: visibility timeout / 3).",
    )
    max_deliveries: int = Field(
        default=3,
        ge=1,
        description=(
            "Times one queued job may be handed to a worker that then stopped without "
            "finishing it (crash, kill, lost lease); the next delivery goes to the "
            "dead-letter queue as 'worker_lost' instead of running (Redis only)."
        ),
    )
    concurrency: int = Field(default=50, ge=1, description="Jobs one worker runs at once.")
    batch: int = Field(default=50, ge=1, description="Stream entries read per XREADGROUP.")
    shutdown_grace: float = Field(
        default=25.0,
        ge=0,
        description="Seconds a worker waits for running jobs after SIGTERM before returning them.",
    )
    delayed_poll: float = Field(
        default=0.2, gt=0, description="Seconds between moves of due delayed jobs into the stream."
    )
    max_attempts: int = Field(default=5, ge=1, description="Default attempts per job.")
    backoff_base: float = Field(default=1.0, ge=0, description="Default first retry delay (s).")
    backoff_max: float = Field(default=300.0, ge=0, description="Default longest retry delay (s).")
    unique_ttl: float = Field(
        default=86_400.0, gt=0, description="Seconds a unique job id blocks a second enqueue."
    )
    missed_runs: Literal["skip", "once"] = Field(
        default="skip",
        description="Schedules missed while no scheduler ran: 'skip' them or run 'once' at start.",
    )
    run_embedded_scheduler: bool = Field(
        default=True,
        description="On the embedded profile, run the schedules inside the app process.",
    )
    imports: CommaList = Field(
        default_factory=list,
        description="Modules the worker and scheduler import to register jobs (comma list).",
    )

    _split_imports = field_validator("imports", mode="before")(_split)

    @property
    def heartbeat(self) -> float:
        """Seconds between lease extensions."""
        return self.heartbeat_interval or max(0.05, self.visibility_timeout / 3)
