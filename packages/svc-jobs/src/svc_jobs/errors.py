"""Errors raised by svc-jobs.

Every error subclasses :class:`SvcJobsError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json.
"""

from __future__ import annotations

from svc_core.errors import NotFoundError, ServiceUnavailableError, SvcError

__all__ = [
    "JobNotFoundError",
    "JobsUnavailableError",
    "SvcJobsError",
    "UnknownJobError",
]


class SvcJobsError(SvcError):
    """Root of every svc-jobs error."""


class JobsUnavailableError(ServiceUnavailableError, SvcJobsError):
    """The broker did not accept the job (Redis down): nothing was enqueued (503)."""

    type_slug = "jobs-unavailable"
    title = "Job queue unavailable"


class JobNotFoundError(NotFoundError, SvcJobsError):
    """No such job for this tenant (404)."""

    type_slug = "job-not-found"
    title = "Job not found"


class UnknownJobError(SvcJobsError):
    """A job name that no ``@job`` registered (a developer error, 500)."""

    status_code = 500
    type_slug = "unknown-job"
    title = "Unknown job"
