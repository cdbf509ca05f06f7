"""A6 tenancy and A7-01 soft delete, over HTTP against the demo's ``/projects``.

Callers are real users of the demo: register → verify (token from ``GET /_dev/mail``) →
login → bearer token, whose ``tid`` names the user's personal tenant.

A6-01 scoped create/list · A6-02 another tenant's object → 404 (and AC-01/AC-04 over
HTTP) · A6-03 per-tenant quota (svc-tenancy's plans through svc-ratelimit) · A7-01 soft
delete and undelete.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from acceptance.harness import DemoServer, sign_up, svc_infra_command

PROBLEM = "application/problem+json"


@pytest.fixture
def client(demo: DemoServer) -> Iterator[httpx.Client]:
    with demo.client() as c:
        yield c


def test_a6_01_scoped_create_and_list(client: httpx.Client) -> None:
    alice, bob = sign_up(client), sign_up(client)
    assert alice.tenant_id != bob.tenant_id
    made = []
    for name in ("alpha", "beta", "gamma"):
        resp = client.post("/projects", json={"name": name, "description": "d"}, headers=alice.auth)
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert set(body) >= {"id", "name", "description", "version", "created_at"}
        assert body["version"] == 1
        made.append(body["id"])
    assert client.post("/projects", json={"name": "bob's"}, headers=bob.auth).status_code == 201

    page = client.get("/projects", headers=alice.auth).json()
    assert sorted(p["name"] for p in page["items"]) == ["alpha", "beta", "gamma"]
    assert [p["name"] for p in client.get("/projects", headers=bob.auth).json()["items"]] == [
        "bob's"
    ]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/projects", params=params, headers=alice.auth).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)
    too_big = client.get("/projects", params={"limit": 101}, headers=alice.auth)
    assert too_big.status_code == 422
    assert too_big.headers["content-type"].startswith(PROBLEM)


def test_a6_02_another_tenants_project_is_404(client: httpx.Client) -> None:
    alice, mallory = sign_up(client), sign_up(client)
    project = client.post("/projects", json={"name": "secret"}, headers=alice.auth).json()
    url = f"/projects/{project['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "pwned"}),
        ("DELETE", url, None),
        ("POST", f"{url}/restore", None),
    ]:
        resp = client.request(method, path, json=body, headers=mallory.auth)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.headers["content-type"].startswith(PROBLEM)
    assert client.get(url, headers=alice.auth).json()["name"] == "secret"

    # AC-01: no credential → 401 with WWW-Authenticate.
    anonymous = client.get("/projects")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"]
    # The tenant comes from the credential, never from a request header.
    spoofed = client.get("/projects", headers={**mallory.auth, "X-Tenant-ID": alice.tenant_id})
    assert spoofed.json()["items"] == []
    # AC-04: fields a client may not set are refused; nothing is stored for anyone else.
    for field in ("tenant_id", "role", "is_admin", "owner_id", "created_by"):
        resp = client.post(
            "/projects", json={"name": "x", field: alice.tenant_id}, headers=mallory.auth
        )
        assert resp.status_code == 422, (field, resp.text)
    assert [p["name"] for p in client.get("/projects", headers=alice.auth).json()["items"]] == [
        "secret"
    ]


def test_a7_01_soft_delete_and_undelete(client: httpx.Client) -> None:
    alice = sign_up(client)
    project = client.post("/projects", json={"name": "keep me"}, headers=alice.auth).json()
    url = f"/projects/{project['id']}"
    got = client.get(url, headers=alice.auth)
    assert got.headers["etag"].strip('W/"') == "1"
    renamed = client.patch(url, json={"name": "kept", "version": 1}, headers=alice.auth)
    assert renamed.status_code == 200
    assert renamed.json()["version"] == 2
    stale = client.patch(url, json={"name": "lost", "version": 1}, headers=alice.auth)
    assert stale.status_code == 409

    assert client.delete(url, headers=alice.auth).status_code == 204
    assert client.get(url, headers=alice.auth).status_code == 404
    assert client.get("/projects", headers=alice.auth).json()["items"] == []

    restored = client.post(f"{url}/restore", headers=alice.auth)
    assert restored.status_code == 200
    assert restored.json()["name"] == "kept"
    assert client.get(url, headers=alice.auth).status_code == 200
    names = [p["name"] for p in client.get("/projects", headers=alice.auth).json()["items"]]
    assert names == ["kept"]


@pytest.fixture(scope="module", params=["embedded", "production"])
def quota_demo(request: pytest.FixtureRequest, make_demo) -> DemoServer:
    """A demo whose default plan allows 3 API calls a minute, and a roomy plan.

    svc-ratelimit applies a tenant's ``api`` quota in place of its default policy, so the
    default policy is on (and generous); the tenant quotas make the difference.
    """
    plans = {"tiny": {"api": "3/minute"}, "roomy": {"api": "1000/minute"}}
    return make_demo(
        request.param,
        env={
            "SVC_RATELIMIT__DEFAULT": "1000/minute",
            "SVC_RATELIMIT__QUOTA_NAME": "api",
            "SVC_RATELIMIT__QUOTA_CACHE_SECONDS": "0",
            "SVC_RATELIMIT__AUTH": "off",
            "SVC_TENANCY__PLANS": json.dumps(plans),
            "SVC_TENANCY__DEFAULT_PLAN": "tiny",
            "SVC_TENANCY__CACHE_TTL": "0",
        },
    )


def run_cli(server: DemoServer, *args: str) -> subprocess.CompletedProcess[str]:
    """``svc-infra`` with the server's environment (same database)."""
    return subprocess.run(
        [*svc_infra_command(), *args],
        env=server.env,
        cwd=Path(server.log_path).parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a6_03_per_tenant_quota(quota_demo: DemoServer) -> None:
    with quota_demo.client() as client:
        small, big = sign_up(client), sign_up(client)
        # The first authenticated request provisions the tenant on the default plan.
        assert client.get("/projects", headers=big.auth).status_code == 200
        moved = run_cli(quota_demo, "tenants", "set-plan", big.tenant_id, "roomy")
        assert moved.returncode == 0, moved.stderr

        # 3 calls a minute, /auth/me during sign-up included: at most 3 succeed, then 429s.
        statuses = [client.get("/projects", headers=small.auth).status_code for _ in range(5)]
        assert statuses[0] == 200
        first_429 = statuses.index(429)
        assert 1 <= first_429 <= 3
        assert set(statuses[first_429:]) == {429}
        limited = client.get("/projects", headers=small.auth)
        assert limited.headers["content-type"].startswith(PROBLEM)
        assert int(limited.headers["retry-after"]) >= 1

        others = [client.get("/projects", headers=big.auth).status_code for _ in range(6)]
        assert others == [200] * 6
