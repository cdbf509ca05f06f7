"""svc-tenancy in a full ``create_app()`` on Postgres with row-level security switched on.

The service connects as an ordinary role (a superuser ignores RLS), the demo's
``projects`` table carries the generated policies, and the tenancy plugin runs with
``SVC_TENANCY__RLS=true``: the projects routes still work per tenant, and the database
itself hides one tenant's rows from another's connection.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from svc_core.context import Principal, scope
from svc_core.plugin import BasePlugin, CorePlugin, MiddlewareSpec
from svc_core.settings import SvcSettings
from svc_core.sql import Database, Migrator
from svc_infra import create_app
from svc_infra.demo.projects import DemoPlugin
from svc_tenancy import TenancyPlugin, TenancySettings, policy_sql


class _HeaderAuth:
    """Test-only stand-in for svc-auth (order 650): principal + ``tid`` from headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope_: Any, receive: Any, send: Any) -> None:
        headers = dict(scope_.get("headers") or [])
        tid = headers.get(b"x-test-tid")
        if scope_["type"] != "http" or not tid:
            await self.app(scope_, receive, send)
            return
        principal = Principal(subject="u-" + tid.decode(), claims={"tid": tid.decode()})
        with scope(principal=principal):
            await self.app(scope_, receive, send)


class _HeaderAuthPlugin(BasePlugin):
    name = "test-auth"

    def middleware(self, runtime: Any) -> list[MiddlewareSpec]:
        return [MiddlewareSpec("test-auth", 650, _HeaderAuth)]


@pytest.fixture
async def rls_service(postgres_url: str) -> AsyncIterator[tuple[str, str]]:
    plugins = [CorePlugin(), TenancyPlugin(), DemoPlugin()]
    async with Migrator.from_plugins(postgres_url, plugins) as migrator:
        await migrator.upgrade("heads")
    role = f"svc_rls_{secrets.token_hex(4)}"
    admin = Database(postgres_url)
    async with admin.engine.begin() as conn:
        for statement in policy_sql("projects"):
            await conn.execute(text(statement))
        await conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        await conn.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        )
    try:
        yield postgres_url.replace("postgres@", f"{role}@", 1), postgres_url
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f"DROP OWNED BY {role}"))
            await conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        await admin.aclose()


async def test_projects_work_per_tenant_behind_row_level_security(rls_service) -> None:
    role_url, admin_url = rls_service
    settings = SvcSettings(database_url=role_url)
    app = create_app(
        settings,
        plugins=[
            CorePlugin(),
            _HeaderAuthPlugin(),
            TenancyPlugin(TenancySettings(rls=True, cache_ttl=0)),
            DemoPlugin(),
        ],
        migrate=False,
    )
    a, b = {"x-test-tid": "tenant-a"}, {"x-test-tid": "tenant-b"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            made = await client.post("/projects", json={"name": "A's"}, headers=a)
            assert made.status_code == 201, made.text
            pid = made.json()["id"]
            await client.post("/projects", json={"name": "B's"}, headers=b)
            assert [
                p["name"] for p in (await client.get("/projects", headers=a)).json()["items"]
            ] == ["A's"]
            assert (await client.get(f"/projects/{pid}", headers=b)).status_code == 404
            patched = await client.patch(
                f"/projects/{pid}", json={"name": "A2", "version": 1}, headers=a
            )
            assert patched.json()["version"] == 2
            assert (await client.delete(f"/projects/{pid}", headers=a)).status_code == 204
            assert (await client.post(f"/projects/{pid}/restore", headers=a)).status_code == 200

    # The wall is in the database: the service's role, tenant B set, raw SQL.
    role_db = Database(role_url)
    admin_db = Database(admin_url)
    try:
        async with role_db.engine.begin() as conn:
            await conn.execute(text("SELECT set_config('svc.tenant_id', 'tenant-b', true)"))
            rows = (await conn.execute(text("SELECT name FROM projects"))).scalars().all()
        assert rows == ["B's"]
        async with admin_db.engine.connect() as conn:  # superuser: both rows exist
            total = (await conn.execute(text("SELECT count(*) FROM projects"))).scalar_one()
        assert total == 2
    finally:
        await role_db.aclose()
        await admin_db.aclose()
