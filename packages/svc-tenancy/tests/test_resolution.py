"""Tenant resolution and validation by the middleware (order 750), and the store."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import APIRouter, Depends

from svc_core.context import get_tenant_id
from svc_core.dependencies import require_tenant
from svc_tenancy import PlanQuotaProvider, TenancySettings, TenantStore, current_tenant

router = APIRouter()


@router.get("/whoami")
async def whoami(
    tid: str = Depends(require_tenant),
    tenant=Depends(current_tenant),  # noqa: B008 - FastAPI's idiom
) -> dict:
    return {"tenant": tid, "context": get_tenant_id(), "plan": tenant.plan}


@router.get("/open")
async def open_route() -> dict:
    return {"tenant": get_tenant_id()}


def who(tid: str | None = None, kind: str = "user") -> dict[str, str]:
    h = {"x-test-sub": "someone", "x-test-kind": kind}
    if tid:
        h["x-test-tid"] = tid
    return h


async def client_for(make_app, *, trusted=(), **settings):
    app, store = await make_app(
        router, settings=TenancySettings(cache_ttl=0, **settings), trusted=trusted
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.5", 1234)),
        base_url="http://svc.example.com",
    ), store


async def test_claim_resolves_and_auto_provisions_an_active_tenant(make_app) -> None:
    client, store = await client_for(make_app, default_plan="starter")
    async with client:
        resp = await client.get("/whoami", headers=who("0193-new-user-tenant"))
    assert resp.json() == {
        "tenant": "0193-new-user-tenant",
        "context": "0193-new-user-tenant",
        "plan": "starter",
    }
    info = await store.get("0193-new-user-tenant")
    assert info is not None
    assert info.status == "active"


async def test_unknown_tenant_without_auto_provisioning_is_403(make_app) -> None:
    client, store = await client_for(make_app, auto_provision=False)
    async with client:
        resp = await client.get("/whoami", headers=who("ghost"))
    assert resp.status_code == 403
    assert resp.json()["type"].endswith("tenant-unknown")
    assert await store.get("ghost") is None


async def test_suspended_tenant_is_403_problem_at_the_next_request(make_app) -> None:
    """AC-06 for tenants: suspension applies to live tokens at their next request."""
    client, store = await client_for(make_app)
    await store.create(tenant_id="t-s", slug="susp")
    async with client:
        assert (await client.get("/whoami", headers=who("t-s"))).status_code == 200
        await store.suspend("susp")
        resp = await client.get("/whoami", headers=who("t-s"))
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["type"].endswith("tenant-suspended")
        await store.activate("t-s")
        assert (await client.get("/whoami", headers=who("t-s"))).status_code == 200


async def test_api_key_principal_carries_its_tenant(make_app) -> None:
    client, _ = await client_for(make_app)
    async with client:
        resp = await client.get("/whoami", headers=who("key-tenant", kind="api_key"))
    assert resp.json()["tenant"] == "key-tenant"
    client, _ = await client_for(make_app, strategies="claim")
    async with client:  # api_key strategy switched off: the key names no tenant
        assert (
            await client.get("/whoami", headers=who("key-tenant", kind="api_key"))
        ).status_code == 403


async def test_no_credential_means_no_tenant_and_a_client_header_is_ignored(make_app) -> None:
    client, _ = await client_for(make_app)
    async with client:
        assert (await client.get("/open", headers={"x-tenant-id": "t1"})).json() == {"tenant": None}
        resp = await client.get("/whoami", headers={"x-tenant-id": "t1"})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"]


async def test_subdomain_names_the_tenant_and_must_match_the_credential(make_app) -> None:
    client, store = await client_for(make_app, subdomain_base="example.com")
    await store.create(tenant_id="t-acme", slug="acme")
    await store.create(tenant_id="t-other", slug="other")
    async with client:
        ok = await client.get("/whoami", headers=who("t-acme") | {"host": "acme.example.com"})
        assert ok.json()["tenant"] == "t-acme"
        public = await client.get("/open", headers={"host": "acme.example.com"})
        assert public.json() == {"tenant": "t-acme"}
        mismatch = await client.get(
            "/whoami", headers=who("t-other") | {"host": "acme.example.com"}
        )
        assert mismatch.status_code == 403
        assert mismatch.json()["type"].endswith("tenant-mismatch")
        unknown = await client.get("/open", headers={"host": "nope.example.com"})
        assert unknown.status_code == 403


async def test_gateway_header_only_from_trusted_proxies_and_only_when_configured(make_app) -> None:
    client, store = await client_for(make_app)
    await store.create(tenant_id="t-gw", slug="gw")
    async with client:  # not configured: ignored
        assert (await client.get("/open", headers={"x-tenant-id": "t-gw"})).json() == {
            "tenant": None
        }
    client, _ = await client_for(
        make_app, gateway_header="X-Tenant-ID", trusted=("192.168.0.0/16",)
    )
    async with client:  # configured, but our peer 10.0.0.5 is not trusted
        assert (await client.get("/open", headers={"x-tenant-id": "t-gw"})).json() == {
            "tenant": None
        }
    client, _ = await client_for(make_app, gateway_header="X-Tenant-ID", trusted=("10.0.0.0/8",))
    async with client:
        assert (await client.get("/open", headers={"x-tenant-id": "t-gw"})).json() == {
            "tenant": "t-gw"
        }
        clash = await client.get("/whoami", headers=who("t-else") | {"x-tenant-id": "t-gw"})
        assert clash.status_code == 403


async def test_concurrent_first_requests_provision_one_tenant(db) -> None:
    store = TenantStore(db, cache_ttl=0)
    results = await asyncio.gather(*(store.ensure("racy") for _ in range(8)))
    assert {r.id for r in results} == {"racy"}
    assert len([t for t in await store.list() if t.id == "racy"]) == 1


async def test_quota_provider_uses_overrides_then_plan_then_none(db) -> None:
    store = TenantStore(db, cache_ttl=0)
    provider = PlanQuotaProvider(
        store, {"free": {"api": "10/minute"}, "pro": {"api": "1000/minute"}}
    )
    await store.create(tenant_id="f", plan="free")
    await store.create(tenant_id="p", plan="pro")
    assert await provider.quota("f", "api") == "10/minute"
    assert await provider.quota("p", "api") == "1000/minute"
    assert await provider.quota("p", "exports") is None
    assert await provider.quota("missing", "api") is None
    await store.set_quota("f", "api", "3/minute")
    assert await provider.quota("f", "api") == "3/minute"
    await store.set_quota("f", "api", None)
    assert await provider.quota("f", "api") == "10/minute"


async def test_store_cache_bounds_staleness(db) -> None:
    now = [0.0]
    writer = TenantStore(db, cache_ttl=0)
    reader = TenantStore(db, cache_ttl=5, clock=lambda: now[0])
    await writer.create(tenant_id="c")
    assert (await reader.get("c")).status == "active"
    await writer.suspend("c")
    assert (await reader.get("c")).status == "active"  # within the TTL
    now[0] = 5.1
    assert (await reader.get("c")).status == "suspended"


def test_settings_parse_plans_and_refuse_unknown_strategies(monkeypatch) -> None:
    monkeypatch.setenv("SVC_TENANCY__PLANS", '{"free": {"api": "5/minute"}}')
    monkeypatch.setenv("SVC_TENANCY__STRATEGIES", "claim,api_key")
    settings = TenancySettings()
    assert settings.plans == {"free": {"api": "5/minute"}}
    assert settings.strategies == ["claim", "api_key"]
    assert settings.auto_provision is True
    monkeypatch.setenv("SVC_TENANCY__STRATEGIES", "header")
    with pytest.raises(ValueError, match="unknown tenancy strategies"):
        TenancySettings()
