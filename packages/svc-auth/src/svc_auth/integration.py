"""``Auth``: add svc-auth to an existing FastAPI app without ``svc_infra.create_app``.

Example::

    from fastapi import Depends, FastAPI
    from svc_auth import Auth, require_auth

    auth = Auth()
    app = FastAPI(lifespan=auth.lifespan)
    auth.install(app)

    @app.get("/hello")
    async def hello(user=Depends(require_auth)):
        return {"hello": user.subject}
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from svc_auth.mail import DevMailbox, MailSender, dev_mail_router
from svc_auth.middleware import AuthMiddleware
from svc_auth.passwords import DEFAULT_PARAMS, Argon2Params
from svc_auth.router import auth_router
from svc_auth.service import AuthService
from svc_core.errors import install_error_handlers
from svc_core.kv import kv_from_settings
from svc_core.settings import SvcSettings
from svc_core.sql import Database, MigrationSource, Migrator

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from fastapi import FastAPI

    from svc_auth.settings import AuthSettings
    from svc_core.kv import KV

__all__ = ["Auth"]


class Auth:
    """svc-auth for a plain FastAPI app: routes, middleware, errors and a lifespan.

    Args:
        settings: Shared settings (database, Redis, env); default: the environment.
        auth_settings: ``SVC_AUTH__…`` settings; default: the environment.
        kv: A store to use instead of the one the settings select.
        database: A database to use instead of the one the settings select.
        params: argon2id parameters (D3 by default).
        mailer: Mail sender (default: SMTP when configured, else the dev mailbox).
        migrate: Apply the ``auth`` migrations at start-up.
        clock: Seconds since the epoch.
    """

    def __init__(
        self,
        settings: SvcSettings | None = None,
        *,
        auth_settings: AuthSettings | None = None,
        kv: KV | None = None,
        database: Database | None = None,
        params: Argon2Params = DEFAULT_PARAMS,
        mailer: MailSender | None = None,
        migrate: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or SvcSettings()
        self._owns_kv = kv is None
        self._owns_db = database is None
        self.kv = kv if kv is not None else kv_from_settings(self.settings)
        self.database = database if database is not None else Database.from_settings(self.settings)
        self.migrate = migrate
        self.service = AuthService.create(
            self.settings,
            database=self.database,
            kv=self.kv,
            settings=auth_settings,
            params=params,
            mailer=mailer,
            clock=clock,
        )

    def install(self, app: FastAPI, *, prefix: str = "/auth", errors: bool = True) -> None:
        """Add the routes, the bearer middleware and (``errors``) problem+json handlers."""
        app.state.svc_auth = self.service
        if errors:
            install_error_handlers(app)
        app.include_router(auth_router(prefix=prefix))
        if not self.settings.is_prod and isinstance(self.service.mailer, DevMailbox):
            app.include_router(dev_mail_router(self.service.mailer))
        app.add_middleware(AuthMiddleware, service=self.service)

    async def start(self) -> None:
        """Migrate (when enabled), load keys, listen for revocations."""
        if self.migrate:
            source = MigrationSource.for_package("auth", "svc_auth", models=("svc_auth.models",))
            engine = self.database.engine
            async with Migrator(engine.url, [source], engine=engine) as migrator:
                await migrator.upgrade("heads")
        await self.service.start()

    async def stop(self) -> None:
        """Stop the service and close what :class:`Auth` opened."""
        await self.service.stop()
        if self._owns_kv:
            await self.kv.aclose()
        if self._owns_db:
            await self.database.aclose()

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """A FastAPI lifespan running :meth:`start` and :meth:`stop`."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()
