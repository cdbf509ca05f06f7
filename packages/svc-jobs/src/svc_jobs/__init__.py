"""svc-jobs: background jobs and schedules on taskiq, with retries, dead letters and crash recovery.

Install with ``pip install svc-jobs`` (``pip install "svc-jobs[redis]"`` for the production
broker) or ``pip install "svc-infra[jobs]"``. Declare jobs, enqueue them from a route;
``svc_infra.create_app()`` wires :class:`JobsPlugin` in through its entry point::

    from pydantic import BaseModel
    from svc_jobs import job, jobs_from

    class Export(BaseModel):
        project_id: str

    @job("projects.export", max_attempts=3, track=True)
    async def export(payload: Export) -> dict[str, str]:
        return {"id": payload.project_id}

    @app.post("/export")
    async def start(request: Request) -> dict[str, str]:
        job_id = await jobs_from(request).enqueue("projects.export", Export(project_id="1"))
        return {"job_id": job_id}

Embedded profile: taskiq's in-memory broker runs jobs inside the app. Production
(``SVC_REDIS_URL``): Redis Streams; run ``svc-infra jobs worker --app your.module``.
"""

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from svc_jobs.errors import JobNotFoundError, JobsUnavailableError, SvcJobsError, UnknownJobError
from svc_jobs.plugin import JobsPlugin, jobs_of
from svc_jobs.receiver import current_runtime
from svc_jobs.registry import (
    DEFAULT_REGISTRY,
    JobRegistry,
    JobSpec,
    RetryPolicy,
    ScheduleSpec,
    job,
    schedule,
)
from svc_jobs.runtime import Jobs
from svc_jobs.settings import JobsSettings
from svc_jobs.store import DeadLetterEntry, JobState

if TYPE_CHECKING:
    from starlette.requests import Request

__version__ = _version("svc-jobs")
__all__ = [
    "DEFAULT_REGISTRY",
    "DeadLetterEntry",
    "JobNotFoundError",
    "JobRegistry",
    "JobSpec",
    "JobState",
    "Jobs",
    "JobsPlugin",
    "JobsSettings",
    "JobsUnavailableError",
    "RetryPolicy",
    "ScheduleSpec",
    "SvcJobsError",
    "UnknownJobError",
    "__version__",
    "current_runtime",
    "job",
    "jobs_from",
    "jobs_of",
    "schedule",
]


def jobs_from(request: "Request") -> Jobs:
    """The :class:`Jobs` of the app serving ``request``."""
    found: Jobs = request.app.state.svc_jobs
    return found
