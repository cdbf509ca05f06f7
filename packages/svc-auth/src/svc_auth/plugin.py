"""How svc-auth joins ``svc_infra.create_app()`` and the ``svc-infra`` CLI."""

from __future__ import annotations

from svc_core.plugin import BasePlugin

__all__ = ["AuthPlugin"]


class AuthPlugin(BasePlugin):
    """The plugin of svc-auth, registered as ``auth`` in ``svc_infra.plugins``.

    Override only the hooks the package needs: ``middleware`` (layers with an
    ``order``), ``setup`` (routers and handlers), ``startup`` and ``shutdown``, ``cli``
    and ``migrations``.
    """

    name = "auth"
