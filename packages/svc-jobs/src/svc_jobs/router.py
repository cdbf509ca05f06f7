"""HTTP routes: ``GET /jobs/{job_id}`` and the admin dead-letter routes under ``/admin/jobs``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from svc_core.context import Principal, get_tenant_id
from svc_core.dependencies import require_principal
from svc_core.errors import ForbiddenError
from svc_jobs.errors import JobNotFoundError

if TYPE_CHECKING:
    from svc_jobs.runtime import Jobs

__all__ = ["ADMIN_ROLE", "JobRead", "admin_router", "jobs_router", "require_admin"]

#: The role the admin routes require.
ADMIN_ROLE = "admin"


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.svc_jobs
    return jobs


async def require_admin(principal: Principal = Depends(require_principal)) -> Principal:  # noqa: B008 - FastAPI dependency
    """The caller, if it holds the ``admin`` role (401 anonymous, 403 otherwise)."""
    if ADMIN_ROLE not in principal.roles:
        raise ForbiddenError("The admin role is required.")
    return principal


class JobRead(BaseModel):
    """A tracked job as ``GET /jobs/{job_id}`` returns it."""

    id: str
    status: str = Field(description="queued, running, succeeded, failed (retry pending) or dead")
    attempts: int
    result: Any = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"id": "7b0c…", "status": "succeeded", "attempts": 1, "result": {"id": "…"}}
            ]
        }
    }


def jobs_router() -> APIRouter:
    """``GET /jobs/{job_id}``: a tracked job of the caller's tenant (another tenant's → 404)."""
    router = APIRouter(tags=["jobs"])

    @router.get("/jobs/{job_id}", response_model=JobRead, summary="State of a background job")
    async def get_job(
        job_id: str,
        request: Request,
        _principal: Principal = Depends(require_principal),  # noqa: B008 - FastAPI dependency
    ) -> JobRead:
        state = await _jobs(request).get(job_id, get_tenant_id() or "")
        if state is None:
            raise JobNotFoundError(f"No job {job_id!r}.")
        return JobRead(**state.to_dict())

    return router


class ReplayBody(BaseModel):
    """Which dead letters to replay or purge: ``ids``, or every one of job ``name``, or all."""

    ids: list[str] | None = None
    name: str | None = None


def admin_router() -> APIRouter:
    """``/admin/jobs``: stats and the dead-letter queue (list, replay, purge); role ``admin``."""
    router = APIRouter(
        prefix="/admin/jobs", tags=["jobs admin"], dependencies=[Depends(require_admin)]
    )

    @router.get("/stats", summary="Queue depth and dead-letter count")
    async def stats(request: Request) -> dict[str, Any]:
        return await _jobs(request).stats()

    @router.get("/dlq", summary="List dead letters")
    async def dlq_list(
        request: Request,
        name: str | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        entries = await _jobs(request).dead_letters(name=name, limit=limit)
        return {"items": [e.to_dict() for e in entries]}

    @router.post("/dlq/replay", summary="Replay dead letters")
    async def dlq_replay(request: Request, body: ReplayBody) -> dict[str, int]:
        return {"replayed": await _jobs(request).replay(body.ids, name=body.name)}

    @router.post("/dlq/purge", summary="Purge dead letters")
    async def dlq_purge(request: Request, body: ReplayBody) -> dict[str, int]:
        return {"purged": await _jobs(request).purge(body.ids, name=body.name)}

    return router
