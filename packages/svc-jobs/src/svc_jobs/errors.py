"""Errors raised by svc-jobs.

Every error subclasses :class:`SvcJobsError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json. Give each subclass a ``status_code``, a ``type_slug`` and a ``title``, and
list the slug on the documentation's problem types page.
"""

from __future__ import annotations

from svc_core.errors import SvcError

__all__ = ["SvcJobsError"]


class SvcJobsError(SvcError):
    """Root of every svc-jobs error."""
