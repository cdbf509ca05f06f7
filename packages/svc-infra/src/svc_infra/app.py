"""``create_app()``: a FastAPI service with every installed svc-infra package wired in.

The order of work, fixed and documented (docs/architecture.md):

1. settings are read from the environment (or passed in);
2. plugins are discovered through the ``svc_infra.plugins`` entry points (``core`` first,
   then by name) unless given explicitly;
3. the shared :class:`~svc_core.plugin.Runtime` is built: the key-value store (Redis when
   ``SVC_REDIS_URL`` is set, else in-process) and the SQL database (``SVC_DATABASE_URL``,
   else an embedded SQLite file under ``SVC_DATA_DIR``);
4. every plugin's ``setup(app, runtime)`` adds its routers and handlers;
5. every plugin's middleware is added by ``order``: smaller numbers wrap larger ones;
6. at start-up the database schema is checked — on the embedded profile pending migrations
   are applied, on the production profile the service refuses to start with pending
   migrations unless ``migrate=True`` — then every plugin's ``startup`` runs; at shutdown
   the plugins stop in reverse order and the stores close.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from svc_core.errors import ConfigurationError
from svc_core.kv import kv_from_settings
from svc_core.plugin import MiddlewareSpec, Runtime, SvcPlugin, discover_plugins
from svc_core.settings import SvcSettings
from svc_core.sql import Database, Migrator
from svc_infra.wiring import wire_idempotency_purge, wire_outbox_relay

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from svc_core.kv import KV

__all__ = ["PendingMigrationsError", "create_app", "ensure_schema", "middleware_stack"]

logger = logging.getLogger("svc_infra.app")


class PendingMigrationsError(ConfigurationError):
    """The production database lacks migrations; run ``svc-infra db upgrade`` or ``--migrate``."""

    type_slug = "pending-migrations"
    title = "Pending Migrations"


def middleware_stack(runtime: Runtime) -> list[MiddlewareSpec]:
    """Every plugin's middleware, outermost first.

    Raises:
        ConfigurationError: Two layers share a name.
    """
    specs: list[MiddlewareSpec] = []
    for plugin in runtime.plugins:
        specs.extend(plugin.middleware(runtime))
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        msg = f"middleware names must be unique; repeated: {', '.join(dupes)}"
        raise ConfigurationError(msg)
    return sorted(specs, key=lambda s: (s.order, s.name))


async def ensure_schema(
    settings: SvcSettings,
    plugins: Sequence[SvcPlugin],
    *,
    migrate: bool | None = None,
) -> list[str]:
    """Bring the database schema up to date, or refuse to go on.

    Args:
        settings: The service settings (the database URL comes from them).
        plugins: The plugins whose migration branches make up the schema.
        migrate: ``True`` applies pending migrations; ``False`` refuses when any are
            pending; ``None`` (default) applies them on the embedded profile only.

    Returns:
        The revisions applied (empty when the schema was current).

    Raises:
        PendingMigrationsError: Migrations are pending and may not be applied.
    """
    async with Migrator.from_plugins(settings.effective_database_url, plugins) as migrator:
        if not migrator.sources:
            return []
        pending = await migrator.pending()
        if not pending:
            return []
        if migrate is None:
            migrate = settings.profile == "embedded"
        if not migrate:
            msg = (
                f"{len(pending)} migration(s) pending ({', '.join(pending)}); "
                "run `svc-infra db upgrade` first, or start with --migrate"
            )
            raise PendingMigrationsError(msg)
        applied = await migrator.upgrade("heads")
    logger.info("applied %d migration(s)", len(applied))
    return applied


def create_app(
    settings: SvcSettings | None = None,
    *,
    plugins: Sequence[SvcPlugin] | None = None,
    migrate: bool | None = None,
    kv: KV | None = None,
    database: Database | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """Build a FastAPI service with every installed svc-infra package wired in.

    Args:
        settings: Settings to use; default: read from the environment now.
        plugins: Plugins to wire; default: every installed one (entry points).
        migrate: Schema policy at start-up, see :func:`ensure_schema`.
        kv: A key-value store to use instead of the one the settings select.
        database: A database to use instead of the one the settings select.
        **fastapi_kwargs: Passed to :class:`fastapi.FastAPI` (``title``, ``version`` …).

    Returns:
        The application. Nothing is opened until its lifespan starts.
    """
    settings = settings or SvcSettings()
    wire_outbox_relay()
    wire_idempotency_purge()
    chosen = list(plugins) if plugins is not None else discover_plugins()
    runtime = Runtime(
        settings=settings,
        kv=kv if kv is not None else kv_from_settings(settings),
        database=database if database is not None else Database.from_settings(settings),
        plugins=tuple(chosen),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:  # noqa: ARG001 - Starlette's signature
        started: list[SvcPlugin] = []
        try:
            await ensure_schema(settings, runtime.plugins, migrate=migrate)
            for plugin in runtime.plugins:
                await plugin.startup(runtime)
                started.append(plugin)
            yield
        finally:
            for plugin in reversed(started):
                try:
                    await plugin.shutdown(runtime)
                except Exception:
                    logger.exception("plugin %s failed to shut down", plugin.name)
            await runtime.kv.aclose()
            await runtime.database.aclose()

    fastapi_kwargs.setdefault("title", settings.service_name)
    app = FastAPI(lifespan=lifespan, **fastapi_kwargs)
    app.state.runtime = runtime
    for plugin in runtime.plugins:
        plugin.setup(app, runtime)
    # FastAPI puts the last-added middleware outermost, so add innermost first.
    for spec in reversed(middleware_stack(runtime)):
        app.add_middleware(spec.factory, **spec.options)
    return app
