"""How svc-jobs joins ``svc_infra.create_app()`` and the ``svc-infra`` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from svc_core.plugin import BasePlugin, Runtime

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

    from svc_core.sql import MigrationSource
    from svc_jobs.registry import JobRegistry
    from svc_jobs.runtime import Jobs
    from svc_jobs.settings import JobsSettings

__all__ = ["STATE_KEY", "JobsPlugin", "jobs_of"]

logger = logging.getLogger("svc_jobs")

#: Where the plugin keeps its :class:`~svc_jobs.Jobs` in ``runtime.state``.
STATE_KEY = "jobs"


def jobs_of(runtime: Runtime) -> Jobs:
    """The :class:`~svc_jobs.Jobs` of ``runtime`` (made on first use)."""
    from svc_jobs.runtime import Jobs

    found = runtime.state.get(STATE_KEY)
    if not isinstance(found, Jobs):
        found = Jobs(runtime)
        runtime.state[STATE_KEY] = found
    return found


class JobsPlugin(BasePlugin):
    """The plugin of svc-jobs, registered as ``jobs`` in ``svc_infra.plugins``.

    Mounts ``GET /jobs/{id}`` and the admin routes, opens the broker at start-up (on
    the embedded profile jobs and schedules then run inside the app), adds
    ``svc-infra jobs …`` and the ``jobs`` migration branch.
    """

    name = "jobs"

    def __init__(
        self, settings: JobsSettings | None = None, *, registry: JobRegistry | None = None
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._stop = asyncio.Event()
        self._scheduler: asyncio.Task[Any] | None = None

    def jobs(self, runtime: Runtime) -> Jobs:
        """The :class:`~svc_jobs.Jobs` of ``runtime``."""
        from svc_jobs.registry import DEFAULT_REGISTRY
        from svc_jobs.runtime import Jobs

        found = runtime.state.get(STATE_KEY)
        if not isinstance(found, Jobs):
            found = Jobs(runtime, self._settings, registry=self._registry or DEFAULT_REGISTRY)
            runtime.state[STATE_KEY] = found
        return found

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Mount ``/jobs/{id}`` and ``/admin/jobs``."""
        from svc_jobs.router import admin_router, jobs_router

        app.state.svc_jobs = self.jobs(runtime)
        app.include_router(jobs_router())
        app.include_router(admin_router())

    async def startup(self, runtime: Runtime) -> None:
        """Open the broker; on the embedded profile also run the schedules in-process."""
        jobs = self.jobs(runtime)
        jobs.register_tasks()
        await jobs.start()
        if jobs.embedded and jobs.jobs_settings.run_embedded_scheduler and jobs.registry.schedules:
            from svc_jobs.scheduler import run_scheduler

            self._stop = asyncio.Event()
            self._scheduler = asyncio.create_task(run_scheduler(jobs, self._stop))

    async def shutdown(self, runtime: Runtime) -> None:
        """Stop the in-process scheduler, let running embedded jobs finish, close the broker."""
        if self._scheduler is not None:
            self._stop.set()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._scheduler, timeout=5)
            self._scheduler = None
        await self.jobs(runtime).stop()

    def cli(self) -> typer.Typer:
        """``svc-infra jobs worker | scheduler | dlq list|replay|purge | stats``."""
        from svc_jobs.cli import jobs_cli

        return jobs_cli

    def migrations(self) -> MigrationSource:
        """The ``jobs`` Alembic branch."""
        from svc_core.sql import MigrationSource

        return MigrationSource.for_package("jobs", "svc_jobs", models=("svc_jobs.models",))
