"""Settings of svc-idempotency: environment variables ``SVC_IDEMPOTENCY__*``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from svc_core.settings import CommaList, section_config

__all__ = ["DEFAULT_REPLAY_HEADERS", "IdempotencySettings"]

#: Response headers stored with a completed request and sent again on a replay. Others
#: (``Date``, ``X-Request-ID``, rate-limit fields, ``Set-Cookie`` …) belong to one exchange.
DEFAULT_REPLAY_HEADERS = (
    "content-type",
    "content-language",
    "content-location",
    "location",
    "etag",
    "last-modified",
    "link",
    "retry-after",
    "cache-control",
)


class IdempotencySettings(BaseSettings):
    """``SVC_IDEMPOTENCY__*``: how long keys live, the claim lease, the store.

    Attributes:
        ttl: Seconds a completed request is remembered (``SVC_IDEMPOTENCY__TTL``, 24 h).
        lease: Seconds an in-flight claim lives without renewal; it is renewed every
            ``lease / 3`` while the handler runs, so it only matters after a crash.
        store: ``kv`` (the service's key-value store: memory or Redis) or ``sql`` (the
            service's database; claims still use the key-value store).
        max_body_bytes: Largest response body stored; a larger one is not stored
            (the claim is released and a retry runs again).
        replay_headers: Response headers stored and replayed (comma list).
        outbox_relay: Run an outbox relay inside the service process.
        outbox_batch_size: Rows one relay claims at a time.
        outbox_max_attempts: Publish attempts before a message is marked ``dead``.
        outbox_poll_interval: Seconds an idle relay waits before looking again.
        inbox_ttl: Seconds a consumed message id is remembered.
        purge_every: Whole seconds between scheduled purges of expired SQL records and
            inbox marks (the ``svc.idempotency.purge`` job svc-infra wires when svc-jobs
            is installed); ``0`` schedules none.
        purge_batch_size: Rows one purge batch deletes (one short transaction each).
        purge_max_batches: Batches per table one scheduled purge runs at most; what is
            left waits for the next one.
    """

    model_config = section_config("idempotency")

    ttl: float = Field(default=24 * 3600.0, gt=0)
    lease: float = Field(default=30.0, gt=0)
    store: Literal["kv", "sql"] = "kv"
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    replay_headers: CommaList = Field(default_factory=lambda: list(DEFAULT_REPLAY_HEADERS))
    outbox_relay: bool = False
    outbox_batch_size: int = Field(default=100, gt=0, le=10_000)
    outbox_max_attempts: int = Field(default=10, gt=0)
    outbox_poll_interval: float = Field(default=1.0, gt=0)
    inbox_ttl: float = Field(default=7 * 24 * 3600.0, gt=0)
    purge_every: int = Field(default=3600, ge=0)
    purge_batch_size: int = Field(default=1000, gt=0, le=100_000)
    purge_max_batches: int = Field(default=100, gt=0)

    @field_validator("replay_headers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value
