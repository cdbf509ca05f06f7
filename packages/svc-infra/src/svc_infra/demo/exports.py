"""The demo's background jobs (svc-jobs): project export, plus dev-only samples.

=================================== ==================================================
``POST /projects/{id}/export``      202 ``{"job_id"}``, ``Location: /jobs/{job_id}``;
                                    the job renders the project as JSON
``GET /jobs/{job_id}``              from svc-jobs' own router (its plugin mounts it)
``POST /_dev/jobs/fail``            (not in prod) a job that always fails: 3 attempts,
                                    then the dead-letter queue
``GET /_dev/jobs/ticks``            (not in prod) runs of the ``demo.tick`` schedule
=================================== ==================================================

On the embedded profile the jobs run inside the demo. On the production profile the
demo only enqueues; run workers (and one or more schedulers) with the same environment::

    svc-infra jobs worker --app svc_infra.demo.exports
    svc-infra jobs scheduler --app svc_infra.demo.exports

Importing this module declares the jobs (and, outside ``SVC_ENV=prod``, the 1-second
``demo.tick`` schedule) on svc-jobs' default registry.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from svc_core.context import get_tenant_id
from svc_core.dependencies import require_tenant
from svc_core.errors import NotFoundError
from svc_infra.demo.projects import Project, ProjectRead

if TYPE_CHECKING:
    from fastapi import FastAPI

    from svc_core.settings import SvcSettings

__all__ = ["EXPORT_JOB", "ExportPayload", "install_exports"]

EXPORT_JOB = "demo.export_project"
FAIL_JOB = "demo.always_fails"
TICK_JOB = "demo.tick"

try:
    from svc_jobs import current_runtime, job, jobs_from, schedule
except ImportError:  # svc-jobs not installed: the demo has no jobs
    HAVE_JOBS = False
else:
    HAVE_JOBS = True


class ExportPayload(BaseModel):
    """The export job's payload."""

    project_id: uuid.UUID


class ExportAccepted(BaseModel):
    """Body of ``202`` from ``POST /projects/{id}/export``."""

    job_id: str


async def _load(project_id: uuid.UUID, tenant: str) -> Project | None:
    database = current_runtime().database
    async with database.session() as session:
        found: Project | None = await session.scalar(
            select(Project).where(
                Project.id == project_id,
                Project.tenant_id == tenant,
                Project.not_deleted(),
            )
        )
    return found


if HAVE_JOBS:

    @job(EXPORT_JOB, max_attempts=3, backoff_base=0.5, track=True, retry_on=(OSError,))
    async def export_project(payload: ExportPayload) -> dict[str, Any]:
        """Render one project of the job's tenant as JSON."""
        project = await _load(payload.project_id, get_tenant_id() or "")
        if project is None:
            msg = f"project {payload.project_id} not found"
            raise LookupError(msg)
        return ProjectRead.model_validate(project).model_dump(mode="json")

    @job(FAIL_JOB, max_attempts=3, backoff_base=0.2, backoff_max=1.0, track=True)
    async def always_fails() -> None:
        """A job that fails every time (A4-02: retries, then the dead-letter queue)."""
        msg = "this job always fails"
        raise RuntimeError(msg)

    @job(TICK_JOB)
    async def tick() -> None:
        """Count the ``demo.tick`` schedule's runs (A4-03)."""
        await current_runtime().kv.incr("demo:tick-runs")

    if os.environ.get("SVC_ENV", "dev").lower() != "prod":
        schedule(TICK_JOB, every=1, id=TICK_JOB)


def exports_router() -> APIRouter:
    """``POST /projects/{id}/export``."""
    router = APIRouter(tags=["projects"])

    @router.post(
        "/projects/{project_id}/export",
        status_code=202,
        response_model=ExportAccepted,
        summary="Export a project as JSON in the background",
    )
    async def export(
        project_id: uuid.UUID,
        request: Request,
        response: Response,
        tenant: str = Depends(require_tenant),
    ) -> ExportAccepted:
        database = request.app.state.runtime.database
        async with database.session() as session:
            exists = await session.scalar(
                select(Project.id).where(
                    Project.id == project_id, Project.tenant_id == tenant, Project.not_deleted()
                )
            )
        if exists is None:
            raise NotFoundError(f"No project {project_id}.")
        job_id = await jobs_from(request).enqueue(EXPORT_JOB, ExportPayload(project_id=project_id))
        response.headers["Location"] = f"/jobs/{job_id}"
        return ExportAccepted(job_id=job_id)

    return router


def dev_jobs_router() -> APIRouter:
    """The dev-only job samples (never mounted with ``SVC_ENV=prod``)."""
    router = APIRouter(prefix="/_dev/jobs", tags=["dev"])

    @router.post("/fail", status_code=202, response_model=ExportAccepted)
    async def fail(request: Request, response: Response) -> ExportAccepted:
        job_id = await jobs_from(request).enqueue(FAIL_JOB)
        response.headers["Location"] = f"/jobs/{job_id}"
        return ExportAccepted(job_id=job_id)

    @router.get("/ticks")
    async def ticks(request: Request) -> dict[str, int]:
        raw = await request.app.state.runtime.kv.get("demo:tick-runs")
        return {"runs": int(raw or 0)}

    return router


def install_exports(app: FastAPI, settings: SvcSettings) -> None:
    """Mount the export route (and, outside prod, the dev samples) when svc-jobs is wired."""
    if not HAVE_JOBS or not hasattr(app.state, "svc_jobs"):
        return
    app.include_router(exports_router())
    if not settings.is_prod:
        app.include_router(dev_jobs_router())
