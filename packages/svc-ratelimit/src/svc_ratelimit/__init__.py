"""svc-ratelimit: Atomic rate limits on memory and Redis with the IETF RateLimit headers.

Install with ``pip install svc-ratelimit`` or ``pip install "svc-infra[ratelimit]"``. Once
installed, ``svc_infra.create_app()`` discovers :class:`RatelimitPlugin` through the
``svc_infra.plugins`` entry point and wires the package in with its defaults::

    from svc_infra import create_app

    app = create_app()

Every error this package raises is a :class:`SvcRatelimitError`, rendered as
problem+json by svc-core's handlers.
"""

from importlib.metadata import version as _version

from svc_ratelimit.errors import SvcRatelimitError
from svc_ratelimit.plugin import RatelimitPlugin

__version__ = _version("svc-ratelimit")
__all__ = ["RatelimitPlugin", "SvcRatelimitError", "__version__"]
