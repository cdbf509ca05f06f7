"""The plugin protocol: how an installed package joins ``svc_infra.create_app()`` and the CLI.

A package declares an entry point in the group ``svc_infra.plugins``::

    [project.entry-points."svc_infra.plugins"]
    ratelimit = "svc_ratelimit.plugin:RatelimitPlugin"

The object is a class (instantiated without arguments) or an instance implementing
:class:`SvcPlugin`. :class:`BasePlugin` gives no-op defaults for every hook.

Hooks, in the order ``create_app`` calls them:

1. ``middleware(runtime)``: pure-ASGI middleware with an ``order`` (smaller = outer);
2. ``setup(app, runtime)``: routers, exception handlers, dependencies;
3. ``startup(runtime)`` / ``shutdown(runtime)``: inside the app's lifespan;

and, outside the app, ``cli()`` (a typer app mounted as ``svc-infra <name> …``) and
``migrations()`` (the package's Alembic branch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from svc_core.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from fastapi import FastAPI
    from starlette.types import ASGIApp

    from svc_core.kv import KV
    from svc_core.settings import SvcSettings
    from svc_core.sql import Database, MigrationSource

__all__ = [
    "ENTRY_POINT_GROUP",
    "BasePlugin",
    "CorePlugin",
    "MiddlewareSpec",
    "Runtime",
    "SvcPlugin",
    "discover_plugins",
]

logger = logging.getLogger("svc_core.plugin")

ENTRY_POINT_GROUP = "svc_infra.plugins"


@dataclass(frozen=True, slots=True)
class MiddlewareSpec:
    """One middleware layer contributed by a plugin.

    Attributes:
        name: Unique, human-readable name (shown by ``svc-infra middleware``).
        order: Position in the stack; smaller numbers wrap larger ones (run first on
            the way in, last on the way out). Ranges are documented in svc-infra's docs.
        factory: Called as ``factory(app, **options)`` and returns the wrapped ASGI app.
        options: Keyword arguments for ``factory``.
    """

    name: str
    order: int
    factory: Callable[..., ASGIApp]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Runtime:
    """Shared resources of one running service, handed to every plugin hook.

    Attributes:
        settings: The service's settings.
        kv: The key-value store (memory on the embedded profile, Redis on production).
        database: The SQL database (SQLite on the embedded profile, Postgres on production).
        plugins: Every plugin wired into this service, in order.
        state: Free-form storage: a package keeps its own objects under its own name.
    """

    settings: SvcSettings
    kv: KV
    database: Database
    plugins: Sequence[SvcPlugin] = ()
    state: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SvcPlugin(Protocol):
    """What a package implements to join a service. See the module docstring."""

    name: str

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """Middleware layers to add (may be empty)."""
        ...

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Add routers, exception handlers and dependencies to ``app``."""
        ...

    async def startup(self, runtime: Runtime) -> None:
        """Run at application start-up, after the runtime's stores are open."""
        ...

    async def shutdown(self, runtime: Runtime) -> None:
        """Run at application shutdown, before the runtime's stores close."""
        ...

    def cli(self) -> Any:
        """A ``typer.Typer`` mounted as ``svc-infra <name>``, or ``None``."""
        ...

    def migrations(self) -> MigrationSource | None:
        """The package's Alembic branch, or ``None`` when it owns no tables."""
        ...


class BasePlugin:
    """No-op defaults for every :class:`SvcPlugin` hook; subclass and override."""

    name: str = "unnamed"

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """No middleware."""
        return ()

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Nothing to set up."""

    async def startup(self, runtime: Runtime) -> None:
        """Nothing to start."""

    async def shutdown(self, runtime: Runtime) -> None:
        """Nothing to stop."""

    def cli(self) -> Any:
        """No CLI."""
        return None

    def migrations(self) -> MigrationSource | None:
        """No tables."""
        return None


class CorePlugin(BasePlugin):
    """svc-core's own plugin: the problem+json handlers and the core HTTP middleware."""

    name = "core"

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """Request id, security headers, CORS, body limits and timeouts."""
        from svc_core.http import core_middleware

        return core_middleware(runtime.settings)

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Install the problem+json exception handlers."""
        from svc_core.errors import install_error_handlers

        install_error_handlers(app)


def _load(ep_name: str, obj: Any) -> SvcPlugin:
    plugin = obj() if isinstance(obj, type) else obj
    if not isinstance(plugin, SvcPlugin):
        msg = f"entry point {ep_name!r} in {ENTRY_POINT_GROUP!r} is not an SvcPlugin"
        raise ConfigurationError(msg)
    return plugin


def discover_plugins(
    *, include: Sequence[str] | None = None, exclude: Sequence[str] = ()
) -> list[SvcPlugin]:
    """Load every plugin installed under the ``svc_infra.plugins`` entry-point group.

    Args:
        include: Only these plugin names (default: all installed).
        exclude: Leave these out.

    Returns:
        The plugins, ``core`` first, then sorted by name (a stable, documented order).

    Raises:
        ConfigurationError: An entry point does not load or is not a plugin, or two
            plugins share a name.
    """
    found: dict[str, SvcPlugin] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if include is not None and ep.name not in include:
            continue
        if ep.name in exclude:
            continue
        try:
            obj = ep.load()
        except ImportError as exc:
            msg = f"plugin {ep.name!r} failed to import: {exc}"
            raise ConfigurationError(msg) from exc
        plugin = _load(ep.name, obj)
        if plugin.name in found:
            msg = f"two plugins are named {plugin.name!r}"
            raise ConfigurationError(msg)
        found[plugin.name] = plugin
    return sorted(found.values(), key=lambda p: (p.name != "core", p.name))
