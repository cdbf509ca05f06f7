"""The middleware and route policies over HTTP, on both stores (RL-01, RL-02, RL-04)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import http_sf
import pytest
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from svc_core.context import Principal
from svc_core.context import scope as context_scope
from svc_core.kv import KV, MemoryKV
from svc_core.plugin import MiddlewareSpec
from svc_core.quotas import QUOTA_PROVIDER_KEY
from svc_ratelimit import AbuseEvent, concurrency_limit, limit, rate_limit


class FakeAuth:
    """Order 650 stand-in for svc-auth: ``X-Test-User: subject[:tenant[:plan]]``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = dict(scope.get("headers", ())).get(b"x-test-user")
        if raw is None:
            await self.app(scope, receive, send)
            return
        subject, tenant, plan = ([*raw.decode().split(":"), None, None])[:3]
        claims = {k: v for k, v in (("tid", tenant), ("plan", plan)) if v}
        with context_scope(principal=Principal(subject, claims=claims)):
            await self.app(scope, receive, send)


AUTH = [MiddlewareSpec("fake_auth", 650, FakeAuth)]


class FakeQuotas:
    """A QuotaProvider as svc-tenancy will provide it (protocol only)."""

    def __init__(self, quotas: dict[tuple[str, str], str]) -> None:
        self.quotas = quotas
        self.calls = 0

    async def quota(self, tenant_id: str, name: str) -> str | None:
        self.calls += 1
        return self.quotas.get((tenant_id, name))


def sf_list(value: str) -> list[Any]:
    parsed = http_sf.parse(value.encode(), tltype="list")
    assert isinstance(parsed, list)
    return parsed


async def test_rl01_exceeding_the_quota_is_a_429_problem(
    kv: KV, http: Any, app_factory: Any
) -> None:
    from prometheus_client import REGISTRY

    def rejected() -> float:
        labels = {"policy": "default", "outcome": "rejected"}
        return REGISTRY.get_sample_value("ratelimit_decisions_total", labels) or 0.0

    before = rejected()
    app, _ = app_factory(kv, env={"default": "3/minute"})
    client = await http(app)
    statuses = [(await client.get("/items")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    resp = await client.get("/items")
    assert resp.status_code == 429
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["type"].endswith("#quota-exceeded")
    assert body["status"] == 429
    assert body["violated-policies"] == ["default"]
    assert body["request_id"] == resp.headers["x-request-id"]
    retry = resp.headers["retry-after"]
    assert retry.isdigit()
    assert 1 <= int(retry) <= 120  # a sliding window weighs into the next one
    assert resp.headers["cache-control"] == "no-store"
    for internal in ("rl:", "{-|", "ip:", "10.1.1.1", kv.namespace):
        assert internal not in resp.text
    assert rejected() == before + 1  # ratelimit_decisions_total{policy,outcome}


async def test_rl02_fields_parse_and_count_down(kv: KV, http: Any, app_factory: Any) -> None:
    app, _ = app_factory(kv, env={"default": "4/minute;100/hour"})
    client = await http(app)
    remaining = []
    for _ in range(4):
        resp = await client.get("/items")
        assert resp.status_code == 200
        policies = sf_list(resp.headers["ratelimit-policy"])
        assert [(name, params) for name, params in policies] == [
            ("default-minute", {"q": 4, "w": 60}),
            ("default-hour", {"q": 100, "w": 3600}),
        ]
        state = sf_list(resp.headers["ratelimit"])
        assert [name for name, _ in state] == ["default-minute", "default-hour"]
        for _, params in state:
            assert set(params) == {"r", "t"}
            assert isinstance(params["r"], int)
            assert isinstance(params["t"], int)
        remaining.append(state[0][1]["r"])
    assert remaining == [3, 2, 1, 0]
    refused = await client.get("/items")
    assert refused.status_code == 429
    state = sf_list(refused.headers["ratelimit"])
    assert [name for name, _ in state] == ["default-minute"]
    assert state[0][1]["r"] == 0
    assert int(refused.headers["retry-after"]) >= state[0][1]["t"] >= 1


async def test_rl04_one_tenant_exhausting_its_quota_leaves_another_alone(
    kv: KV, http: Any, app_factory: Any
) -> None:
    app, _ = app_factory(kv, env={"default": "3/minute"}, before=AUTH)
    client = await http(app)
    a = {"x-test-user": "same-user:tenant-a"}
    b = {"x-test-user": "same-user:tenant-b"}
    assert [(await client.get("/items", headers=a)).status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    tasks = [client.get("/items", headers=b) for _ in range(3)]
    assert [r.status_code for r in await asyncio.gather(*tasks)] == [200, 200, 200]
    # Anonymous callers from the same address have their own partition too.
    assert (await client.get("/items")).status_code == 200


async def test_ops_routes_are_never_limited_by_the_default(
    kv: KV, http: Any, app_factory: Any
) -> None:
    app, _ = app_factory(kv, env={"default": "1/minute"})
    client = await http(app)
    assert [(await client.get("/_ops/live")).status_code for _ in range(5)] == [200] * 5
    assert "ratelimit" not in (await client.get("/_ops/live")).headers


async def test_auth_routes_have_their_own_policy_keyed_by_address(
    kv: KV, http: Any, app_factory: Any
) -> None:
    app, _ = app_factory(kv, env={"default": "100/minute", "auth": "2/minute"}, before=AUTH)
    client = await http(app)
    # Even authenticated as different principals, one address shares the auth quota.
    codes = [
        (await client.post("/auth/login", headers={"x-test-user": f"u{i}"})).status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    resp = await client.post("/auth/login")
    assert resp.json()["violated-policies"] == ["auth"]
    assert (await client.get("/items")).status_code == 200
    other = await http(app, client=("10.9.9.9", 1))
    assert (await other.post("/auth/login")).status_code == 200


async def test_forwarded_for_is_trusted_only_from_configured_proxies(
    kv: KV, http: Any, app_factory: Any
) -> None:
    app, _ = app_factory(kv, env={"default": "1/minute"}, http={"trusted_proxies": ["10.0.0.0/8"]})
    proxy = await http(app, client=("10.0.0.5", 1))
    stranger = await http(app, client=("192.0.2.1", 1))
    assert (
        await proxy.get("/items", headers={"x-forwarded-for": "198.51.100.1"})
    ).status_code == 200
    # The proxy forwards a different client: its own partition.
    assert (
        await proxy.get("/items", headers={"x-forwarded-for": "198.51.100.2"})
    ).status_code == 200
    assert (
        await proxy.get("/items", headers={"x-forwarded-for": "198.51.100.2"})
    ).status_code == 429
    # A client spoofing the header from an untrusted address is keyed by its own address.
    assert (
        await stranger.get("/items", headers={"x-forwarded-for": "198.51.100.3"})
    ).status_code == 200
    assert (
        await stranger.get("/items", headers={"x-forwarded-for": "198.51.100.4"})
    ).status_code == 429
    # Spoofed hops left of the trusted chain are ignored: the rightmost untrusted wins.
    chained = {"x-forwarded-for": "203.0.113.9, 198.51.100.1, 10.0.0.7"}
    assert (await proxy.get("/items", headers=chained)).status_code == 429


def _routes(app: FastAPI) -> None:
    @app.get("/search", dependencies=[Depends(rate_limit("2/minute", name="search"))])
    async def search() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/export")
    @limit("1/minute", name="export")
    async def export() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/slow", dependencies=[Depends(concurrency_limit(2, name="slow"))])
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.2)
        return {"ok": True}


async def test_a_route_policy_replaces_the_default(kv: KV, http: Any, app_factory: Any) -> None:
    app, _ = app_factory(kv, env={"default": "5/minute"}, routes=_routes)
    client = await http(app)
    codes = [(await client.get("/search")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    resp = await client.get("/search")
    assert resp.json()["violated-policies"] == ["search"]
    assert sf_list(resp.headers["ratelimit"])[0][0] == "search"
    # The default quota was not spent by /search.
    assert [(await client.get("/items")).status_code for _ in range(5)] == [200] * 5
    assert [(await client.get("/export")).status_code for _ in range(2)] == [200, 429]


async def test_a_route_dependency_decides_without_the_middleware(
    kv: KV, http: Any, app_factory: Any
) -> None:
    app, _ = app_factory(kv, env={}, routes=_routes)  # every global policy off: no layer
    client = await http(app)
    first = await client.get("/search")
    assert first.status_code == 200
    assert sf_list(first.headers["ratelimit-policy"]) == [("search", {"q": 2, "w": 60})]
    assert [(await client.get("/search")).status_code for _ in range(2)] == [200, 429]
    refused = await client.get("/search")
    assert refused.json()["type"].endswith("#quota-exceeded")
    assert refused.headers["cache-control"] == "no-store"


async def test_per_route_policies_from_settings(kv: KV, http: Any, app_factory: Any) -> None:
    env = {"default": "10/minute", "routes": json.dumps({"POST /auth/login": "1/minute"})}
    app, _ = app_factory(kv, env={**env, "auth": "off"})
    client = await http(app)
    assert [(await client.post("/auth/login")).status_code for _ in range(2)] == [200, 429]
    assert (await client.post("/auth/login")).json()["violated-policies"] == ["post-auth-login"]
    assert (await client.get("/items")).status_code == 200


async def test_concurrency_limit_caps_requests_in_flight(
    kv: KV, http: Any, app_factory: Any
) -> None:
    app, _ = app_factory(kv, env={}, routes=_routes)
    client = await http(app)
    codes = sorted(
        r.status_code for r in await asyncio.gather(*(client.get("/slow") for _ in range(5)))
    )
    assert codes == [200, 200, 429, 429, 429]
    # Slots are given back when the requests end.
    codes = sorted(
        r.status_code for r in await asyncio.gather(*(client.get("/slow") for _ in range(2)))
    )
    assert codes == [200, 200]


async def test_a_tenant_quota_overrides_the_default(kv: KV, http: Any, app_factory: Any) -> None:
    quotas = FakeQuotas({("big", "api"): "5/minute", ("free", "api"): "off"})
    app, _ = app_factory(
        kv, env={"default": "2/minute"}, before=AUTH, state={QUOTA_PROVIDER_KEY: quotas}
    )
    client = await http(app)
    big = {"x-test-user": "u1:big"}
    plain = {"x-test-user": "u2:plain"}
    free = {"x-test-user": "u3:free"}
    assert [(await client.get("/items", headers=big)).status_code for _ in range(6)] == [
        200
    ] * 5 + [429]
    resp = await client.get("/items", headers=big)
    assert sf_list(resp.headers["ratelimit"])[0][0] == "default"
    assert [(await client.get("/items", headers=plain)).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    plain_resp = await client.get("/items", headers={"x-test-user": "u9:plain"})
    assert sf_list(plain_resp.headers["ratelimit-policy"]) == [("default", {"q": 2, "w": 60})]
    # "off" for a tenant: unlimited, no fields.
    free_resps = [await client.get("/items", headers=free) for _ in range(4)]
    assert [r.status_code for r in free_resps] == [200] * 4
    assert "ratelimit" not in free_resps[0].headers
    # Answers are cached: not one provider call per request.
    assert quotas.calls <= 4


async def test_a_plan_overrides_the_default(kv: KV, http: Any, app_factory: Any) -> None:
    app, _ = app_factory(
        kv, env={"default": "1/minute", "plans": json.dumps({"pro": "3/minute"})}, before=AUTH
    )
    client = await http(app)
    pro = {"x-test-user": "u1:t:pro"}
    assert [(await client.get("/items", headers=pro)).status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    basic = {"x-test-user": "u2:t:basic"}
    assert [(await client.get("/items", headers=basic)).status_code for _ in range(2)] == [200, 429]


async def test_500_parallel_requests_admit_exactly_100(kv: KV, http: Any, app_factory: Any) -> None:
    app, _ = app_factory(kv, env={"default": "100/hour"})
    client = await http(app)
    responses = await asyncio.gather(*(client.get("/items") for _ in range(500)))
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 100
    assert codes.count(429) == 400


async def test_the_abuse_hook_fires_on_repeated_rejections(http: Any, app_factory: Any) -> None:
    events: list[AbuseEvent] = []

    async def hook(event: AbuseEvent) -> None:
        events.append(event)

    app, _ = app_factory(
        MemoryKV(), env={"default": "1/minute", "abuse_threshold": 3}, abuse_hook=hook
    )
    client = await http(app)
    for _ in range(6):
        await client.get("/items")
    await asyncio.sleep(0)
    assert len(events) == 1
    assert events[0].policy == "default"
    assert events[0].partition == "-|ip:10.1.1.1"
    assert events[0].rejections == 3


@pytest.mark.parametrize("value", ["nonsense", "5/fortnight", "0/minute"])
def test_a_bad_limit_fails_at_start_up(value: str) -> None:
    from pydantic import ValidationError

    from svc_ratelimit import InvalidLimitError, RatelimitSettings

    with pytest.raises((InvalidLimitError, ValidationError)):
        RatelimitSettings(default=value)
