"""The reference service: every installed package wired in, plus sample routes.

``svc-infra demo`` serves :func:`create_demo_app`. Its public HTTP surface is fixed by
the project's HTTP contract; it grows as packages land. Today it serves:

* ``GET /`` — what this instance is: version, profile, database dialect, key-value store
  and the plugins wired in;
* the sample tenant-scoped resource ``/projects`` (:mod:`svc_infra.demo.projects`, when
  svc-tenancy is installed), through :class:`~svc_infra.demo.projects.DemoPlugin`, which
  :func:`demo_plugins` adds to the installed plugins;
* in ``SVC_ENV`` ``dev`` or ``test`` only (never ``prod``), the ``/_dev`` routes used to
  exercise the HTTP layer by hand and by the acceptance suite: ``POST /_dev/echo``,
  ``GET /_dev/sleep``, ``GET /_dev/error``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request

from svc_core.plugin import SvcPlugin, discover_plugins
from svc_core.settings import SvcSettings
from svc_infra.app import create_app
from svc_infra.demo.dev import dev_router
from svc_infra.demo.exports import install_exports
from svc_infra.demo.projects import DemoPlugin

if TYPE_CHECKING:
    from svc_core.plugin import Runtime

__all__ = ["DemoPlugin", "app_factory", "create_demo_app", "demo_plugins"]


def demo_plugins() -> list[SvcPlugin]:
    """The installed plugins plus the demo's own (its migrations and ``/projects``)."""
    return [*discover_plugins(), DemoPlugin()]


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


info_router = APIRouter(tags=["service"])


@info_router.get(
    "/",
    summary="Describe this service instance",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "service": "svc-infra demo",
                        "version": "0.1.0",
                        "env": "dev",
                        "profile": "embedded",
                        "database": "sqlite",
                        "kv": "memory",
                        "plugins": ["core"],
                    }
                }
            }
        }
    },
)
async def describe(request: Request) -> dict[str, Any]:
    """Version, profile and backends of this instance (no secrets, no URLs)."""
    runtime: Runtime = request.app.state.runtime
    return {
        "service": "svc-infra demo",
        "version": _version("svc-infra"),
        "env": runtime.settings.env,
        "profile": runtime.settings.profile,
        "database": runtime.database.dialect,
        "kv": runtime.kv.backend,
        "plugins": [p.name for p in runtime.plugins],
    }


def create_demo_app(settings: SvcSettings | None = None, *, migrate: bool | None = None) -> FastAPI:
    """Build the demo service.

    Args:
        settings: Settings to use; default: read from the environment.
        migrate: Schema policy at start-up (see :func:`svc_infra.app.ensure_schema`).
    """
    settings = settings or SvcSettings()
    app = create_app(
        settings,
        plugins=demo_plugins(),
        migrate=migrate,
        title="svc-infra demo",
        version=_version("svc-infra") or "0",
        description="The reference service of svc-infra: every installed package wired in.",
    )
    app.include_router(info_router)
    install_exports(app, settings)
    if not settings.is_prod:
        app.include_router(dev_router)
    return app


def app_factory() -> FastAPI:
    """The demo built from the environment, for ``uvicorn --factory`` (several workers)."""
    return create_demo_app()
