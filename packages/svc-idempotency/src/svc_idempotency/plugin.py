"""How svc-idempotency joins ``svc_infra.create_app()`` and the ``svc-infra`` CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from svc_core.plugin import BasePlugin, MiddlewareSpec
from svc_core.sql import MigrationSource
from svc_idempotency.dependencies import install_idempotency
from svc_idempotency.inbox import KVInbox, SqlInbox
from svc_idempotency.manager import Idempotency
from svc_idempotency.middleware import MIDDLEWARE_ORDER, IdempotencyMiddleware
from svc_idempotency.settings import IdempotencySettings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import FastAPI

    from svc_core.plugin import Runtime

__all__ = ["IdempotencyPlugin"]


class IdempotencyPlugin(BasePlugin):
    """The plugin of svc-idempotency, registered as ``idempotency`` in ``svc_infra.plugins``.

    * middleware ``idempotency`` at order 800 (inside auth, rate limiting and tenancy, so
      the principal and tenant are known);
    * ``setup``: an :class:`~svc_idempotency.Idempotency` engine in
      ``runtime.state["idempotency"]`` and ``app.state.svc_idempotency``, the replay
      handler, and inboxes in ``runtime.state["inbox"]`` (SQL) / ``["kv_inbox"]``;
      routes opt in with ``Depends(IdempotencyKey())``;
    * ``startup``/``shutdown``: the outbox relay when ``SVC_IDEMPOTENCY__OUTBOX_RELAY=true``;
    * migrations: the ``idempotency`` Alembic branch (records, outbox, inbox).
    """

    name = "idempotency"

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """The response-recording middleware at order 800."""
        return [MiddlewareSpec("idempotency", MIDDLEWARE_ORDER, IdempotencyMiddleware)]

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Create the engine and install the replay handler."""
        settings = IdempotencySettings()
        manager = Idempotency.from_runtime(runtime, settings)
        runtime.state["idempotency"] = manager
        runtime.state["inbox"] = SqlInbox(runtime.database, ttl=settings.inbox_ttl)
        runtime.state["kv_inbox"] = KVInbox(runtime.kv, ttl=settings.inbox_ttl)
        install_idempotency(app, manager)

    async def startup(self, runtime: Runtime) -> None:
        """Start the outbox relay when configured."""
        settings = IdempotencySettings()
        if not settings.outbox_relay:
            return
        from svc_idempotency.outbox import LoggingPublisher, OutboxRelay

        publisher = runtime.state.get("outbox_publisher") or LoggingPublisher()
        relay = OutboxRelay(
            runtime.database,
            publisher,
            batch_size=settings.outbox_batch_size,
            max_attempts=settings.outbox_max_attempts,
            poll_interval=settings.outbox_poll_interval,
        )
        runtime.state["outbox_relay"] = relay
        relay.start()

    async def shutdown(self, runtime: Runtime) -> None:
        """Stop the outbox relay."""
        relay = runtime.state.pop("outbox_relay", None)
        if relay is not None:
            await relay.stop()

    def cli(self) -> Any:
        """``svc-infra idempotency …`` (outbox stats, dead letters, requeue, purge)."""
        from svc_idempotency.cli import idempotency_app

        return idempotency_app

    def migrations(self) -> MigrationSource | None:
        """The ``idempotency`` branch."""
        return MigrationSource.for_package(
            "idempotency", "svc_idempotency", models=("svc_idempotency.models",)
        )
