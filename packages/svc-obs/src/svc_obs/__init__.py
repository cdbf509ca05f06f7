"""svc-obs: Metrics, structured logs, probes, maintenance mode, circuit breaker and SLO
alerting.

Install with ``pip install svc-obs`` or ``pip install "svc-infra[obs]"``. Once
installed, ``svc_infra.create_app()`` discovers :class:`ObsPlugin` through the
``svc_infra.plugins`` entry point and wires the package in with its defaults::

    from svc_infra import create_app

    app = create_app()

Every error this package raises is a :class:`SvcObsError`, rendered as
problem+json by svc-core's handlers.
"""

from importlib.metadata import version as _version

from svc_obs.errors import SvcObsError
from svc_obs.plugin import ObsPlugin

__version__ = _version("svc-obs")
__all__ = ["ObsPlugin", "SvcObsError", "__version__"]
