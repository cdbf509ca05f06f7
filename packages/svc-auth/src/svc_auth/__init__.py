"""svc-auth: Accounts, passwords, tokens, sessions and lockout for FastAPI services.

Install with ``pip install svc-auth`` or ``pip install "svc-infra[auth]"``. Once
installed, ``svc_infra.create_app()`` discovers :class:`AuthPlugin` through the
``svc_infra.plugins`` entry point and wires the package in with its defaults::

    from svc_infra import create_app

    app = create_app()

Every error this package raises is a :class:`SvcAuthError`, rendered as
problem+json by svc-core's handlers.
"""

from importlib.metadata import version as _version

from svc_auth.errors import SvcAuthError
from svc_auth.plugin import AuthPlugin

__version__ = _version("svc-auth")
__all__ = ["AuthPlugin", "SvcAuthError", "__version__"]
