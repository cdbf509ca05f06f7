"""How svc-auth joins ``svc_infra.create_app()`` and the ``svc-infra`` CLI."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from svc_auth.mail import DevMailbox, MailSender, dev_mail_router
from svc_auth.middleware import AUTH_ORDER, AuthMiddleware
from svc_auth.passwords import DEFAULT_PARAMS, Argon2Params
from svc_auth.router import auth_router
from svc_auth.service import AuthService
from svc_auth.settings import AuthSettings
from svc_core.plugin import BasePlugin, MiddlewareSpec, Runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import typer
    from fastapi import FastAPI

    from svc_core.sql import MigrationSource

__all__ = ["STATE_KEY", "AuthPlugin"]

#: Where the plugin keeps its :class:`AuthService` in ``runtime.state``.
STATE_KEY = "auth"


class AuthPlugin(BasePlugin):
    """The plugin of svc-auth, registered as ``auth`` in ``svc_infra.plugins``.

    Adds :class:`~svc_auth.middleware.AuthMiddleware` (order 650), the ``/auth`` router,
    the dev mailbox at ``GET /_dev/mail`` (never when ``SVC_ENV=prod``), loads the
    signing keys at start-up, the ``svc-infra auth …`` commands and the ``auth``
    migration branch.

    Args:
        settings: svc-auth settings; default: read from the environment.
        params: argon2id parameters (default D3; tests pass ``TEST_PARAMS``).
        mailer: Mail sender; default: SMTP when configured, else the dev mailbox.
        clock: Seconds since the epoch (tests freeze it).
    """

    name = "auth"

    def __init__(
        self,
        settings: AuthSettings | None = None,
        *,
        params: Argon2Params = DEFAULT_PARAMS,
        mailer: MailSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._params = params
        self._mailer = mailer
        self._clock = clock

    def service(self, runtime: Runtime) -> AuthService:
        """The service of ``runtime`` (made on first use, kept in ``runtime.state``)."""
        found = runtime.state.get(STATE_KEY)
        if not isinstance(found, AuthService):
            found = AuthService.create(
                runtime.settings,
                database=runtime.database,
                kv=runtime.kv,
                settings=self._settings or AuthSettings(),
                params=self._params,
                mailer=self._mailer,
                clock=self._clock,
            )
            runtime.state[STATE_KEY] = found
        return found

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        """The bearer-token layer at order 650."""
        return [
            MiddlewareSpec("auth", AUTH_ORDER, AuthMiddleware, {"service": self.service(runtime)})
        ]

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Mount ``/auth`` and, outside prod, the dev mailbox."""
        service = self.service(runtime)
        app.state.svc_auth = service
        app.include_router(auth_router())
        if not runtime.settings.is_prod and isinstance(service.mailer, DevMailbox):
            app.include_router(dev_mail_router(service.mailer))

    async def startup(self, runtime: Runtime) -> None:
        """Load the key ring (ConfigurationError in prod without keys); listen for revocations."""
        await self.service(runtime).start()

    async def shutdown(self, runtime: Runtime) -> None:
        """Stop listening for revocations."""
        await self.service(runtime).stop()

    def cli(self) -> typer.Typer:
        """``svc-infra auth create-user | rotate-keys | revoke-sessions``."""
        from svc_auth.cli import auth_cli

        return auth_cli

    def migrations(self) -> MigrationSource:
        """The ``auth`` Alembic branch."""
        from svc_core.sql import MigrationSource

        return MigrationSource.for_package("auth", "svc_auth", models=("svc_auth.models",))
