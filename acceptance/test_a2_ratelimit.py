"""A2-01..03: rate limiting over HTTP against the real demo, on both profiles.

The demo runs with a tight default policy (5 per 10 s), a per-route policy on
``POST /_dev/echo`` and 127.0.0.1 as a trusted proxy, so that each test gets its own
partition by sending its own ``X-Forwarded-For`` address. Covers RL-01, RL-02 and, on
the production profile, the Redis store behind the demo.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid

import http_sf
import httpx
import pytest

from acceptance.harness import DemoServer

PROBLEM = "application/problem+json"
_addresses = (f"198.51.100.{i}" for i in itertools.count(1))


@pytest.fixture(scope="module", params=["embedded", "production"])
def limited(request: pytest.FixtureRequest, make_demo) -> DemoServer:  # type: ignore[no-untyped-def]
    return make_demo(
        request.param,
        env={
            "SVC_RATELIMIT__DEFAULT": "5/10 seconds",
            "SVC_RATELIMIT__ROUTES": json.dumps({"POST /_dev/echo": "2/10 seconds"}),
            "SVC_HTTP__TRUSTED_PROXIES": "127.0.0.1",
        },
    )


class Caller:
    """One client partition: a fresh forwarded address on every new caller."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.headers = {"X-Forwarded-For": f"{next(_addresses)}"}

    def get(self, path: str = "/") -> httpx.Response:
        return self.client.get(path, headers=self.headers)

    def echo(self) -> httpx.Response:
        return self.client.post("/_dev/echo", json={"message": "hi"}, headers=self.headers)


@pytest.fixture
def caller(limited: DemoServer) -> Caller:
    with limited.client() as client:
        yield Caller(client)  # type: ignore[misc]


def sf_list(value: str) -> list[tuple[str, dict[str, int]]]:
    parsed = http_sf.parse(value.encode(), tltype="list")
    assert isinstance(parsed, list)
    return parsed  # type: ignore[return-value]


def assert_quota_exceeded(resp: httpx.Response, policy: str) -> int:
    """RL-01: the 429 problem; returns Retry-After."""
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["type"].endswith("quota-exceeded")
    assert body["status"] == 429
    assert body["violated-policies"] == [policy]
    assert body["request_id"] == resp.headers["x-request-id"]
    assert resp.headers["cache-control"] == "no-store"
    retry = resp.headers["retry-after"]
    assert retry.isdigit()
    assert int(retry) >= 1
    text = json.dumps([v for k, v in body.items() if k != "type"])
    for internal in ("rl:", "{", "|ip:", "198.51.100.", "svc-accept"):
        assert internal not in text
    state = sf_list(resp.headers["ratelimit"])
    assert state[0][0] == policy
    assert state[0][1]["r"] == 0
    assert int(retry) >= state[0][1]["t"]  # RL-02: Retry-After ≥ t
    return int(retry)


def test_a2_01_exceeding_the_default_policy_is_429_with_retry_after(caller: Caller) -> None:
    remaining = []
    for _ in range(5):
        resp = caller.get()
        assert resp.status_code == 200, resp.text
        assert sf_list(resp.headers["ratelimit-policy"]) == [("default", {"q": 5, "w": 10})]
        state = sf_list(resp.headers["ratelimit"])
        assert state[0][0] == "default"
        assert 1 <= state[0][1]["t"] <= 10
        remaining.append(state[0][1]["r"])
    assert remaining == [4, 3, 2, 1, 0]  # RL-02: r falls by one per request
    retry = assert_quota_exceeded(caller.get(), "default")
    assert retry <= 12  # the sliding window: at most a window and a fifth here


def test_a2_01_ops_routes_are_never_limited(caller: Caller) -> None:
    for _ in range(7):
        assert caller.get("/_ops/live").status_code in (200, 404)  # svc-obs may be absent
    assert "ratelimit" not in caller.get("/_ops/live").headers


def test_a2_02_a_route_policy_overrides_the_default(caller: Caller) -> None:
    first = caller.echo()
    assert first.status_code == 200, first.text
    assert sf_list(first.headers["ratelimit-policy"]) == [("post-_dev-echo", {"q": 2, "w": 10})]
    assert caller.echo().status_code == 200
    assert_quota_exceeded(caller.echo(), "post-_dev-echo")
    # The route policy did not spend the default quota of the same caller.
    resp = caller.get()
    assert resp.status_code == 200
    assert sf_list(resp.headers["ratelimit"])[0][1]["r"] == 4


def test_a2_02_callers_do_not_share_a_partition(limited: DemoServer) -> None:
    with limited.client() as client:
        a, b = Caller(client), Caller(client)
        for _ in range(5):
            assert a.get().status_code == 200
        assert a.get().status_code == 429
        assert b.get().status_code == 200


def test_a2_03_the_window_resets(caller: Caller) -> None:
    for _ in range(5):
        assert caller.get().status_code == 200
    retry = assert_quota_exceeded(caller.get(), "default")
    time.sleep(retry + 0.2)
    again = caller.get()
    assert again.status_code == 200, again.text
    assert sf_list(again.headers["ratelimit"])[0][1]["r"] >= 0


# --------------------------------------------------------------- per-tenant override
# svc-tenancy's plans give every tenant on plan "free" its own "api" quota; svc-auth's
# users each get a personal tenant (the token's tid). The default stays 5 per 10 s.


@pytest.fixture(scope="module", params=["embedded", "production"])
def tenant_limited(request: pytest.FixtureRequest, make_demo) -> DemoServer:  # type: ignore[no-untyped-def]
    return make_demo(
        request.param,
        env={
            "SVC_RATELIMIT__DEFAULT": "5/10 seconds",
            "SVC_RATELIMIT__QUOTA_CACHE_SECONDS": "0",
            "SVC_TENANCY__PLANS": json.dumps({"free": {"api": "3/10 seconds"}}),
            "SVC_HTTP__TRUSTED_PROXIES": "127.0.0.1",
        },
    )


def sign_up(client: httpx.Client, headers: dict[str, str]) -> dict[str, str]:
    """Register → verify (dev mailbox) → log in; the bearer header of a new user."""
    email = f"rl-{uuid.uuid4().hex[:12]}@example.com"
    password = "Rl7!" + uuid.uuid4().hex
    reg = client.post(
        "/auth/register", json={"email": email, "password": password}, headers=headers
    )
    assert reg.status_code == 201, reg.text
    mails = client.get("/_dev/mail", params={"to": email}, headers=headers).json()
    token = next(m["data"]["token"] for m in reversed(mails) if m["data"].get("kind") == "verify")
    verified = client.post("/auth/verify", json={"token": token}, headers=headers)
    assert verified.status_code == 200, verified.text
    login = client.post("/auth/login", json={"email": email, "password": password}, headers=headers)
    assert login.status_code == 200, login.text
    return {**headers, "Authorization": f"Bearer {login.json()['access_token']}"}


def test_a2_02_a_tenant_quota_overrides_the_default(tenant_limited: DemoServer) -> None:
    with tenant_limited.client() as client:
        plugins = client.get("/").json()["plugins"]
        if not {"auth", "tenancy"} <= set(plugins):
            pytest.skip(f"needs svc-auth and svc-tenancy in the demo (has {plugins})")
        alice = sign_up(client, {"X-Forwarded-For": next(_addresses)})
        bob = sign_up(client, {"X-Forwarded-For": next(_addresses)})
        # The first authenticated request provisions the tenant (svc-tenancy, inside us).
        assert client.get("/auth/me", headers=alice).status_code == 200
        codes = []
        for _ in range(4):
            resp = client.get("/", headers=alice)
            codes.append(resp.status_code)
            if resp.status_code == 200:
                assert sf_list(resp.headers["ratelimit-policy"]) == [("default", {"q": 3, "w": 10})]
        assert codes[-1] == 429
        assert codes.count(200) <= 2  # /auth/me counted too: 3 in all
        assert_quota_exceeded(client.get("/", headers=alice), "default")
        # Another tenant (bob) is unaffected (RL-04) and an anonymous caller from another
        # address keeps the default quota.
        assert client.get("/", headers=bob).status_code == 200
        anonymous = client.get("/", headers={"X-Forwarded-For": next(_addresses)})
        assert sf_list(anonymous.headers["ratelimit-policy"]) == [("default", {"q": 5, "w": 10})]
