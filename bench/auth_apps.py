# ruff: noqa: S105, S108, TC003 - benchmark app: fixed credentials, scratch paths
"""svc-auth apps for the auth benchmarks (served by ``uvicorn auth_apps:<name> --factory``).

Every app answers ``GET /ping`` with ``{"ok": true}``; the authenticated ones require a
bearer token (``Depends(require_auth)``) and, at start-up, create a user, log in and write
the access token to ``$BENCH_TOKEN_FILE`` for the load generator. State lives under
``$BENCH_AUTH_DIR`` (SQLite file, key ring). ``auth_redis`` uses ``$BENCH_REDIS_URL``.

* ``fastapi_bare`` — the shared anchor (no auth), re-exported;
* ``fastapi_dep`` — bare FastAPI with one no-op dependency (FastAPI's own cost of a
  ``Depends``);
* ``auth_memory`` / ``auth_redis`` — svc-auth's middleware (cached verification + local
  revocation check); the handler refuses a request without a principal in svc-core's
  context. In-process store / Redis (pub/sub revocation, synchronous drain);
* ``auth_memory_dep`` / ``auth_redis_dep`` — the same with ``Depends(require_auth)``;
* ``auth_login`` — the full svc-auth router with D3 argon2 parameters, for ``/auth/login``;
* ``verify_floor`` — ``POST /auth/login`` that validates the body and runs one D3 verify
  on svc-auth's hashing pool, nothing else: the floor any HTTP login can reach here.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from svc_auth import (
    DEFAULT_PARAMS,
    TEST_PARAMS,
    Argon2Params,
    Auth,
    AuthSettings,
    DevMailbox,
    require_auth,
)
from svc_auth.errors import InvalidTokenError
from svc_core.context import Principal, get_principal
from svc_core.settings import SvcSettings

SHARED_BENCH = Path(
    os.environ.get("SVC_SHARED_BENCH", Path(__file__).resolve().parents[2] / "shared" / "bench")
)
if str(SHARED_BENCH) not in sys.path:
    sys.path.append(str(SHARED_BENCH))

from http_apps import fastapi_bare  # noqa: E402

__all__ = [
    "auth_login",
    "auth_memory",
    "auth_memory_dep",
    "auth_redis",
    "auth_redis_dep",
    "fastapi_bare",
    "fastapi_dep",
    "verify_floor",
]

EMAIL = "bench@example.com"
PASSWORD = "granite harbour lamp drifts east"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390")


def _auth(redis_url: str | None, params: Argon2Params) -> Auth:
    workdir = Path(os.environ.get("BENCH_AUTH_DIR", "/tmp/svc-auth-bench"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = SvcSettings(
        env="test",
        data_dir=workdir,
        database_url=os.environ.get("BENCH_AUTH_DATABASE_URL")
        or f"sqlite+aiosqlite:///{workdir / 'auth.db'}",
        redis_url=redis_url,
        redis_prefix=f"bench-auth:{uuid.uuid4().hex[:8]}:",
    )
    auth_settings = AuthSettings(lockout_threshold=10**9, ip_lockout_threshold=10**9)
    return Auth(settings, auth_settings=auth_settings, params=params, mailer=DevMailbox())


def _app(redis_url: str | None, params: Argon2Params, *, ping: str) -> FastAPI:
    auth = _auth(redis_url, params)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with auth.lifespan(app):
            service = auth.service
            if await service.user_by_email(EMAIL) is None:
                await service.create_user(EMAIL, PASSWORD, verified=True)
            token_file = os.environ.get("BENCH_TOKEN_FILE")
            if token_file:
                pair = await service.login(EMAIL, PASSWORD)
                Path(token_file).write_text(pair.access_token)
            yield

    app = FastAPI(lifespan=lifespan)
    # /ping is registered before the /auth routes so that route matching costs the same
    # as in fastapi_bare: the comparison is about authentication, not routing-table size.
    if ping == "context":
        # The middleware authenticated the request; the handler reads svc-core's context
        # (what require_auth does, without FastAPI's per-dependency cost).
        @app.get("/ping", response_model=None)
        async def ping_context() -> dict[str, Any]:
            if get_principal() is None:
                raise InvalidTokenError
            return {"ok": True}

    elif ping == "depends":

        @app.get("/ping", response_model=None)
        async def ping_depends(_: Annotated[Principal, Depends(require_auth)]) -> dict[str, Any]:
            return {"ok": True}

    else:

        @app.get("/ping", response_model=None)
        async def open_ping() -> dict[str, Any]:
            return {"ok": True}

    auth.install(app)
    return app


def auth_memory() -> FastAPI:
    """svc-auth's middleware; ``/ping`` refuses anonymous callers; in-process store."""
    return _app(None, TEST_PARAMS, ping="context")


def auth_redis() -> FastAPI:
    """The same on Redis (cached verification, pub/sub revocation, synchronous drain)."""
    return _app(REDIS_URL, TEST_PARAMS, ping="context")


def auth_memory_dep() -> FastAPI:
    """svc-auth's middleware + ``Depends(require_auth)`` on ``/ping``, in-process store."""
    return _app(None, TEST_PARAMS, ping="depends")


def auth_redis_dep() -> FastAPI:
    """The same on Redis."""
    return _app(REDIS_URL, TEST_PARAMS, ping="depends")


def fastapi_dep() -> FastAPI:
    """Bare FastAPI with one no-op async dependency on ``/ping``: FastAPI's own cost."""

    async def nothing() -> None:
        return None

    app = FastAPI()

    @app.get("/ping", dependencies=[Depends(nothing)], response_model=None)
    async def ping() -> dict[str, Any]:
        return {"ok": True}

    return app


def auth_login() -> FastAPI:
    """The svc-auth router with the production argon2 parameters (D3)."""
    return _app(None, DEFAULT_PARAMS, ping="open")


class _LoginBody(BaseModel):
    email: str
    password: str


def verify_floor() -> FastAPI:
    """The floor of a login over HTTP: ``POST /auth/login`` that validates the body and
    runs one argon2id verify (D3) on svc-auth's hashing pool, and nothing else."""
    from svc_auth import PasswordHasher

    hasher = PasswordHasher(DEFAULT_PARAMS)
    stored: list[str] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stored.append(await hasher.hash(PASSWORD))
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/ping", response_model=None)
    async def ping() -> dict[str, Any]:
        return {"ok": True}

    @app.post("/auth/login", response_model=None)
    async def login(body: _LoginBody) -> dict[str, Any]:
        if not await hasher.verify(stored[0], body.password):
            raise InvalidTokenError
        return {"ok": True}

    return app
