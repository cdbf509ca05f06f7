"""A1 auth: 01 register → verify → login → me, 02 password policy + breach check,
03 lockout, 05 sessions list + revoke. Black-box over HTTP against the demo process,
on the embedded and the production profile.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from acceptance.conftest import DemoFactory
from acceptance.harness import DemoServer

PASSWORD = "granite harbour lamp drifts east"
PROBLEM = "application/problem+json"


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def register_and_verify(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    resp = client.post("/auth/register", json={"email": email, "password": password})
    assert resp.status_code == 201, resp.text
    mail = client.get("/_dev/mail", params={"to": email})
    assert mail.status_code == 200
    token = next(m["data"]["token"] for m in reversed(mail.json()) if m["data"]["kind"] == "verify")
    assert client.post("/auth/verify", json={"token": token}).json() == {"is_verified": True}
    return str(resp.json()["id"])


def login(client: httpx.Client, email: str, password: str = PASSWORD, **kw: Any) -> dict[str, Any]:
    resp = client.post("/auth/login", json={"email": email, "password": password}, **kw)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.fixture
def client(demo: DemoServer) -> Iterator[httpx.Client]:
    with demo.client() as c:
        yield c


def test_a1_01_register_verify_login_me(client: httpx.Client) -> None:
    email = new_email("a1-01")
    resp = client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 201
    created = resp.json()
    assert created == {"id": created["id"], "email": email, "is_verified": False}
    problem(client.post("/auth/login", json={"email": email, "password": PASSWORD}), 403)
    mail = client.get("/_dev/mail", params={"to": email}).json()
    assert set(mail[-1]) == {"to", "subject", "text", "data"}
    assert mail[-1]["data"]["kind"] == "verify"
    assert client.post("/auth/verify", json={"token": mail[-1]["data"]["token"]}).json() == {
        "is_verified": True
    }
    problem(client.post("/auth/verify", json={"token": mail[-1]["data"]["token"]}), 400)
    pair = login(client, email.upper())
    assert pair["token_type"] == "bearer"
    assert 300 <= pair["expires_in"] <= 900
    me = client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    body = me.json()
    assert body["id"] == created["id"]
    assert body["email"] == email
    assert body["is_verified"] is True
    assert body["tenant_id"]
    assert body["roles"] == []
    unauth = problem(client.get("/auth/me"), 401)
    assert unauth["type"].startswith("https://")
    # refresh rotates; the spent token is refused and takes the session down with it
    new = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert new.status_code == 200
    assert new.json()["refresh_token"] != pair["refresh_token"]
    problem(client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)
    problem(client.get("/auth/me", headers=bearer(new.json()["access_token"])), 401)
    # identical 401 for unknown email and wrong password
    a = problem(
        client.post("/auth/login", json={"email": new_email("x"), "password": PASSWORD}), 401
    )
    b = problem(client.post("/auth/login", json={"email": email, "password": PASSWORD + "!"}), 401)
    a.pop("request_id")
    b.pop("request_id")
    assert a == b
    # forgot is always 202
    for target in (email, new_email("nobody")):
        assert client.post("/auth/password/forgot", json={"email": target}).status_code == 202
    # the counters reach /metrics when svc-obs serves it
    if "obs" in client.get("/").json()["plugins"]:
        metrics = client.get("/metrics").text
        assert 'auth_logins_total{outcome="success"}' in metrics
        assert "auth_refresh_reuse_total" in metrics


def test_a1_02_password_policy_and_breached(client: httpx.Client) -> None:
    def errors(password: str, email: str | None = None) -> set[str]:
        resp = client.post(
            "/auth/register", json={"email": email or new_email("a1-02"), "password": password}
        )
        body = problem(resp, 422)
        assert password not in resp.text
        return {e["type"] for e in body["errors"]}

    assert "password.too_short" in errors("short pass")
    assert "password.compromised" in errors("password1234")
    assert "password.compromised" in errors("qwertyuiopasdfgh")
    assert "password.contains_context_word" in errors(
        "marmalade-otter rides again", email=f"marmalade-otter@{uuid.uuid4().hex[:8]}.example.com"
    )
    resp = client.post(
        "/auth/register",
        json={"email": new_email("a1-02"), "password": "🌲 森林の散歩 quiet pines"},
    )
    assert resp.status_code == 201
    # the policy also guards password changes
    email = new_email("a1-02c")
    register_and_verify(client, email)
    pair = login(client, email)
    resp = client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "password123456"},
        headers=bearer(pair["access_token"]),
    )
    assert "password.compromised" in {e["type"] for e in problem(resp, 422)["errors"]}


def test_a1_03_lockout(client: httpx.Client) -> None:
    email = new_email("a1-03")
    register_and_verify(client, email)
    statuses = []
    for i in range(20):
        resp = client.post("/auth/login", json={"email": email, "password": f"wrong guess {i}"})
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            break
    assert statuses[-1] == 429
    assert set(statuses[:-1]) == {401}
    locked = client.post("/auth/login", json={"email": email, "password": PASSWORD})
    body = problem(locked, 429)
    assert int(locked.headers["retry-after"]) >= 1
    assert body["type"].endswith("too-many-requests")


@pytest.fixture(scope="module", params=["embedded", "production"])
def quick_lockout(request: pytest.FixtureRequest, make_demo: DemoFactory) -> DemoServer:
    return make_demo(
        request.param,
        env={"SVC_AUTH__LOCKOUT_BASE": "1", "SVC_AUTH__LOCKOUT_THRESHOLD": "3"},
    )


def test_a1_03_lockout_expires_and_resets(quick_lockout: DemoServer) -> None:
    with quick_lockout.client() as client:
        email = new_email("a1-03b")
        register_and_verify(client, email)
        for _ in range(3):
            problem(client.post("/auth/login", json={"email": email, "password": "nope nope"}), 401)
        locked = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        problem(locked, 429)
        time.sleep(int(locked.headers["retry-after"]) + 0.3)
        login(client, email)
        problem(client.post("/auth/login", json={"email": email, "password": "nope again"}), 401)


def test_a1_05_sessions_list_and_revoke(client: httpx.Client) -> None:
    email, other = new_email("a1-05"), new_email("a1-05o")
    register_and_verify(client, email)
    register_and_verify(client, other)
    a = login(client, email, headers={"User-Agent": "device-a"})
    b = login(client, email, headers={"User-Agent": "device-b"})
    o = login(client, other)
    rows = client.get("/auth/sessions", headers=bearer(a["access_token"])).json()
    assert len(rows) == 2
    for row in rows:
        assert set(row) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}
    assert {r["user_agent"] for r in rows} == {"device-a", "device-b"}
    [current] = [r for r in rows if r["current"]]
    assert current["user_agent"] == "device-a"
    b_id = next(r["id"] for r in rows if not r["current"])
    o_id = client.get("/auth/sessions", headers=bearer(o["access_token"])).json()[0]["id"]
    problem(client.delete(f"/auth/sessions/{o_id}", headers=bearer(a["access_token"])), 404)
    assert client.get("/auth/me", headers=bearer(o["access_token"])).status_code == 200
    assert (
        client.delete(f"/auth/sessions/{b_id}", headers=bearer(a["access_token"])).status_code
        == 204
    )
    problem(client.get("/auth/me", headers=bearer(b["access_token"])), 401)
    problem(client.post("/auth/refresh", json={"refresh_token": b["refresh_token"]}), 401)
    assert client.get("/auth/me", headers=bearer(a["access_token"])).status_code == 200
    assert [
        r["current"] for r in client.get("/auth/sessions", headers=bearer(a["access_token"])).json()
    ] == [True]
    # logout ends the current one at once
    assert client.post("/auth/logout", headers=bearer(a["access_token"])).status_code == 204
    problem(client.get("/auth/me", headers=bearer(a["access_token"])), 401)


def test_a1_no_seeded_accounts(client: httpx.Client) -> None:
    for user, password in (("admin", "admin"), ("root", "root"), ("sa", "sa")):
        for email in (user, f"{user}@localhost", f"{user}@example.com"):
            problem(client.post("/auth/login", json={"email": email, "password": password}), 401)
