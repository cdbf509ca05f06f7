"""svc-tenancy: Tenant resolution from the credential, automatic tenant scoping with Postgres
row-level security, per-tenant quotas.

Install with ``pip install svc-tenancy`` or ``pip install "svc-infra[tenancy]"``. Once
installed, ``svc_infra.create_app()`` discovers :class:`TenancyPlugin` through the
``svc_infra.plugins`` entry point and wires the package in with its defaults::

    from svc_infra import create_app

    app = create_app()

Every error this package raises is a :class:`SvcTenancyError`, rendered as
problem+json by svc-core's handlers.
"""

from importlib.metadata import version as _version

from svc_tenancy.errors import SvcTenancyError
from svc_tenancy.plugin import TenancyPlugin

__version__ = _version("svc-tenancy")
__all__ = ["SvcTenancyError", "TenancyPlugin", "__version__"]
