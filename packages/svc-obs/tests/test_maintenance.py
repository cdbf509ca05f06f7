"""Maintenance mode: env switch, shared run-time toggle, protected admin endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from svc_core.context import Principal, set_principal
from svc_core.plugin import BasePlugin, MiddlewareSpec, Runtime
from svc_obs import ObsSettings

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN = "ops-token-0123456789"


def routes(app: FastAPI, _runtime: Runtime) -> None:
    @app.get("/work")
    async def work() -> dict[str, bool]:
        return {"ok": True}


class RolesFromHeader:
    """Test stand-in for an auth layer: principal from ``X-Test-Roles``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ()))
        roles = headers.get(b"x-test-roles")
        token = None
        if roles is not None:
            principal = Principal("u1", roles=frozenset(roles.decode().split(",")) - {""})
            token = set_principal(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            if token is not None:
                token.var.reset(token)


class FakeAuth(BasePlugin):
    name = "fake_auth"

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        return [MiddlewareSpec("fake_auth", 650, RolesFromHeader)]


def settings(**kw: Any) -> ObsSettings:
    return ObsSettings(configure_logging=False, ops_token=TOKEN, maintenance_refresh=0.05, **kw)


async def test_env_switch_blocks_everything_but_ops_and_metrics(build: Any) -> None:
    obs = settings(maintenance=True, maintenance_retry_after=120)
    async with build(obs=obs, routes=routes) as (_, _, client):
        work = await client.get("/work")
        missing = await client.get("/nope")
        live = await client.get("/_ops/live")
        ready = await client.get("/_ops/ready")
        scrape = await client.get("/metrics")
        off = await client.put(
            "/_ops/maintenance", json={"enabled": False}, headers={"X-Ops-Token": TOKEN}
        )
        still = await client.get("/work")
    for blocked in (work, missing, still):
        assert blocked.status_code == 503
        assert blocked.headers["retry-after"] == "120"
        assert blocked.headers["content-type"] == "application/problem+json"
        body = blocked.json()
        assert body["status"] == 503
        assert body["type"].endswith("#maintenance")
        assert body["request_id"] == blocked.headers["x-request-id"]
    assert live.status_code == ready.status_code == scrape.status_code == 200
    assert "maintenance_mode 1.0" in scrape.text
    # the environment switch wins over the run-time toggle
    assert off.json() == {"enabled": True, "retry_after": 120, "reason": None, "source": "env"}


async def test_toggle_is_shared_between_replicas(build: Any, kv: Any, tmp_path: Any) -> None:
    async with (
        build(kv=kv, obs=settings(), routes=routes) as (_, _, one),
        build(kv=kv, tmp_path=tmp_path / "two", obs=settings(), routes=routes) as (
            _,
            _,
            two,
        ),
    ):
        assert (await two.get("/work")).status_code == 200
        on = await one.put(
            "/_ops/maintenance",
            json={"enabled": True, "retry_after": 30, "reason": "database upgrade"},
            headers={"X-Ops-Token": TOKEN},
        )
        assert on.status_code == 200
        assert on.json()["source"] == "kv"
        blocked = None
        for _ in range(100):  # the other replica re-reads the flag every 0.05 s
            blocked = await two.get("/work")
            if blocked.status_code == 503:
                break
            await asyncio.sleep(0.02)
        assert blocked is not None
        assert blocked.status_code == 503
        assert blocked.headers["retry-after"] == "30"
        assert blocked.json()["detail"] == "database upgrade"
        assert (await two.get("/_ops/maintenance")).json()["enabled"] is True
        off = await two.put(
            "/_ops/maintenance", json={"enabled": False}, headers={"X-Ops-Token": TOKEN}
        )
        assert off.json()["enabled"] is False
        back = None
        for _ in range(100):
            back = await one.get("/work")
            if back.status_code == 200:
                break
            await asyncio.sleep(0.02)
        assert back is not None
        assert back.status_code == 200


async def test_toggle_needs_admin_or_ops_token(build: Any) -> None:
    async with build(obs=settings(), routes=routes, extra_plugins=[FakeAuth()]) as (_, _, client):
        anonymous = await client.put("/_ops/maintenance", json={"enabled": True})
        wrong = await client.put(
            "/_ops/maintenance", json={"enabled": True}, headers={"X-Ops-Token": "guess"}
        )
        user = await client.put(
            "/_ops/maintenance", json={"enabled": True}, headers={"X-Test-Roles": "member"}
        )
        assert (await client.get("/work")).status_code == 200
        admin = await client.put(
            "/_ops/maintenance", json={"enabled": True}, headers={"X-Test-Roles": "admin"}
        )
        blocked = await client.get("/work")
        invalid = await client.put(
            "/_ops/maintenance",
            json={"enabled": True, "retry_after": -1},
            headers={"X-Ops-Token": TOKEN},
        )
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert user.status_code == 403
    assert admin.status_code == 200
    assert blocked.status_code == 503
    assert invalid.status_code == 422
