"""svc-infra: every svc-infra package wired into one FastAPI service.

Usage::

    from svc_infra import create_app

    app = create_app()          # settings from SVC_* environment variables

``create_app`` discovers every installed package through the ``svc_infra.plugins``
entry points, builds the shared runtime (key-value store, database), adds each
package's routers and middleware in the documented order and, at start-up, checks the
database schema. ``svc-infra demo`` serves the reference service built on it.
"""

from importlib.metadata import version as _version

from svc_infra.app import PendingMigrationsError, create_app, ensure_schema, middleware_stack

__version__ = _version("svc-infra")
__all__ = [
    "PendingMigrationsError",
    "__version__",
    "create_app",
    "ensure_schema",
    "middleware_stack",
]
