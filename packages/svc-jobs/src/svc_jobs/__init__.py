"""svc-jobs: Background jobs and schedules on taskiq with retries, dead letters and crash
recovery.

Install with ``pip install svc-jobs`` or ``pip install "svc-infra[jobs]"``. Once
installed, ``svc_infra.create_app()`` discovers :class:`JobsPlugin` through the
``svc_infra.plugins`` entry point and wires the package in with its defaults::

    from svc_infra import create_app

    app = create_app()

Every error this package raises is a :class:`SvcJobsError`, rendered as
problem+json by svc-core's handlers.
"""

from importlib.metadata import version as _version

from svc_jobs.errors import SvcJobsError
from svc_jobs.plugin import JobsPlugin

__version__ = _version("svc-jobs")
__all__ = ["JobsPlugin", "SvcJobsError", "__version__"]
