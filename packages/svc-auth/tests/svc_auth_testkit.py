"""Helpers of svc-auth's tests (imported by conftest.py and the test modules).

``backend`` is parametrized ``embedded`` (SQLite file + MemoryKV on a frozen clock) |
``production`` (a fresh Postgres database + Redis under a unique prefix), through
svc-core's test helpers. ``make_app`` builds FastAPI apps on it with svc-auth installed
through :class:`svc_auth.Auth` (cheap argon2 parameters, dev mailbox, injectable clock).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from svc_auth import Auth, DevMailbox, optional_auth, require_auth
from svc_core.context import Principal, get_tenant_id
from svc_core.kv import KV

PASSWORD = "plum velvet orchard lantern 42"


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    name: str
    url: str
    kv: KV
    clock: Clock
    tmp: Path


@dataclass
class AuthClient:
    """One app with svc-auth installed, and an HTTP client on it."""

    app: FastAPI
    auth: Auth
    client: httpx.AsyncClient
    mailbox: DevMailbox
    clock: Clock
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> Any:
        return self.auth.service

    def last_token(self, email: str, kind: str) -> str:
        for msg in reversed(self.mailbox.messages(email)):
            if msg.data.get("kind") == kind:
                return str(msg.data["token"])
        raise AssertionError(f"no {kind} mail for {email}")

    async def register(self, email: str, password: str = PASSWORD, *, verify: bool = True) -> str:
        resp = await self.client.post("/auth/register", json={"email": email, "password": password})
        assert resp.status_code == 201, resp.text
        if verify:
            token = self.last_token(email, "verify")
            ok = await self.client.post("/auth/verify", json={"token": token})
            assert ok.status_code == 200, ok.text
        return str(resp.json()["id"])

    async def login(self, email: str, password: str = PASSWORD, **kw: Any) -> dict[str, Any]:
        resp = await self.client.post(
            "/auth/login", json={"email": email, "password": password}, **kw
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def delete_prefix(kv: KV, namespace: str) -> None:
    client: Any = getattr(kv, "client", None)
    if client is None:
        return
    keys = [k async for k in client.scan_iter(match=namespace + "*", count=500)]
    if keys:
        await client.delete(*keys)


AppFactory = Callable[..., Any]


def build_app(auth: Auth) -> FastAPI:
    """A small app protected by svc-auth (the README's shape) plus probe routes."""
    app = FastAPI()
    auth.install(app)

    @app.get("/whoami")
    async def whoami(user: Annotated[Principal, Depends(require_auth)]) -> dict[str, Any]:
        return {"sub": user.subject, "tenant": get_tenant_id(), "sid": user.claims.get("sid")}

    @app.get("/maybe")
    async def maybe(user: Annotated[Principal | None, Depends(optional_auth)]) -> dict[str, Any]:
        return {"sub": user.subject if user else None}

    return app
