"""The account flows over HTTP: register → verify → login → me, refresh, logout, passwords."""

from __future__ import annotations

import pytest
from svc_auth_testkit import PASSWORD, AuthClient, bearer, unique_email

PROBLEM = "application/problem+json"


def assert_problem(resp: object, status: int) -> dict[str, object]:
    import httpx

    assert isinstance(resp, httpx.Response)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status
    return dict(body)


async def test_register_verify_login_me(api: AuthClient) -> None:
    email = unique_email()
    resp = await api.client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 201
    body = resp.json()
    assert body == {"id": body["id"], "email": email, "is_verified": False}
    # not verified yet: right password → 403, wrong password → 401 (no hint)
    resp = await api.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(resp, 403)
    token = api.last_token(email, "verify")
    resp = await api.client.post("/auth/verify", json={"token": token})
    assert resp.json() == {"is_verified": True}
    # single use
    assert_problem(await api.client.post("/auth/verify", json={"token": token}), 400)
    pair = await api.login(email)
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer"
    assert 300 <= pair["expires_in"] <= 900
    me = await api.client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    data = me.json()
    assert data["id"] == body["id"]
    assert data["email"] == email
    assert data["is_verified"] is True
    assert data["roles"] == []
    # the dependencies set svc-core's principal and tenant context
    who = await api.client.get("/whoami", headers=bearer(pair["access_token"]))
    assert who.json()["sub"] == body["id"]
    assert who.json()["tenant"] == data["tenant_id"]


async def test_me_without_token_is_401_with_www_authenticate(api: AuthClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        resp = await api.client.get("/auth/me", headers=headers)
        assert_problem(resp, 401)
        assert resp.headers["www-authenticate"].startswith("Bearer")
    assert (await api.client.get("/maybe")).json() == {"sub": None}


async def test_query_string_tokens_are_never_accepted(api: AuthClient) -> None:
    email = unique_email()
    await api.register(email)
    pair = await api.login(email)
    resp = await api.client.get("/auth/me", params={"access_token": pair["access_token"]})
    assert_problem(resp, 401)


async def test_each_user_gets_a_personal_tenant(api: AuthClient) -> None:
    tenants = set()
    for _ in range(2):
        email = unique_email()
        await api.register(email)
        pair = await api.login(email)
        me = await api.client.get("/auth/me", headers=bearer(pair["access_token"]))
        tenants.add(me.json()["tenant_id"])
    assert len(tenants) == 2


async def test_logout_stops_the_session_at_once(api: AuthClient) -> None:
    email = unique_email()
    await api.register(email)
    pair = await api.login(email)
    headers = bearer(pair["access_token"])
    assert (await api.client.get("/auth/me", headers=headers)).status_code == 200
    assert (await api.client.post("/auth/logout", headers=headers)).status_code == 204
    assert_problem(await api.client.get("/auth/me", headers=headers), 401)
    resp = await api.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_problem(resp, 401)
    assert_problem(await api.client.post("/auth/logout", headers=headers), 401)


async def test_forgot_is_202_whether_or_not_the_account_exists(api: AuthClient) -> None:
    email = unique_email()
    await api.register(email)
    known = await api.client.post("/auth/password/forgot", json={"email": email})
    unknown = await api.client.post("/auth/password/forgot", json={"email": unique_email("nobody")})
    invalid = await api.client.post("/auth/password/forgot", json={"email": "not an email"})
    assert known.status_code == unknown.status_code == invalid.status_code == 202
    assert known.json() == unknown.json() == invalid.json()
    assert api.last_token(email, "reset")


async def test_reset_revokes_every_session_and_token_is_single_use(api: AuthClient) -> None:
    email = unique_email()
    await api.register(email)
    first = await api.login(email)
    second = await api.login(email)
    await api.client.post("/auth/password/forgot", json={"email": email})
    token = api.last_token(email, "reset")
    new = "a completely different passphrase"
    # policy applies to resets too
    weak = await api.client.post(
        "/auth/password/reset", json={"token": token, "new_password": "short"}
    )
    assert_problem(weak, 422)
    resp = await api.client.post("/auth/password/reset", json={"token": token, "new_password": new})
    assert resp.status_code == 200
    assert resp.json() == {"sessions_revoked": 2}
    for pair in (first, second):
        assert_problem(await api.client.get("/auth/me", headers=bearer(pair["access_token"])), 401)
    again = await api.client.post(
        "/auth/password/reset", json={"token": token, "new_password": new + " again"}
    )
    assert_problem(again, 400)
    assert_problem(
        await api.client.post("/auth/login", json={"email": email, "password": PASSWORD}), 401
    )
    await api.login(email, new)


async def test_change_password_revokes_every_other_session(api: AuthClient) -> None:
    email = unique_email()
    await api.register(email)
    keep = await api.login(email)
    other = await api.login(email)
    headers = bearer(keep["access_token"])
    wrong = await api.client.post(
        "/auth/password/change",
        json={
            "current_password": "not the password at all",
            "new_password": "another good passphrase",
        },
        headers=headers,
    )
    assert_problem(wrong, 401)
    weak = await api.client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "password1234"},
        headers=headers,
    )
    assert_problem(weak, 422)
    ok = await api.client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "another good passphrase"},
        headers=headers,
    )
    assert ok.status_code == 200
    assert ok.json() == {"sessions_revoked": 1}
    assert (await api.client.get("/auth/me", headers=headers)).status_code == 200
    assert_problem(await api.client.get("/auth/me", headers=bearer(other["access_token"])), 401)
    resp = await api.client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert_problem(resp, 401)


async def test_verify_and_reset_tokens_are_not_access_tokens(api: AuthClient) -> None:
    email = unique_email()
    await api.register(email, verify=False)
    verify_token = api.last_token(email, "verify")
    assert_problem(await api.client.get("/auth/me", headers=bearer(verify_token)), 401)
    await api.client.post("/auth/verify", json={"token": verify_token})
    pair = await api.login(email)
    # an access token is not a verify or reset token
    assert_problem(await api.client.post("/auth/verify", json={"token": pair["access_token"]}), 400)
    resp = await api.client.post(
        "/auth/password/reset",
        json={"token": pair["access_token"], "new_password": "a completely different passphrase"},
    )
    assert_problem(resp, 400)
    # a verify token is not a reset token
    resp = await api.client.post(
        "/auth/password/reset",
        json={"token": verify_token, "new_password": "a completely different passphrase"},
    )
    assert_problem(resp, 400)


async def test_verify_token_expires(api: AuthClient) -> None:
    email = unique_email()
    await api.register(email, verify=False)
    token = api.last_token(email, "verify")
    api.clock.advance(api.service.settings.verify_ttl + 60)
    assert_problem(await api.client.post("/auth/verify", json={"token": token}), 400)


async def test_sessions_list_and_revoke(make_app: object) -> None:
    api: AuthClient = await make_app()  # type: ignore[operator]
    other_api = api
    email, other = unique_email(), unique_email("other")
    await api.register(email)
    await api.register(other)
    a = await api.login(email, headers={"User-Agent": "browser-a"})
    b = await api.login(email, headers={"User-Agent": "browser-b"})
    o = await other_api.login(other)
    resp = await api.client.get("/auth/sessions", headers=bearer(a["access_token"]))
    assert resp.status_code == 200
    rows = resp.json()
    assert len(rows) == 2
    assert {r["user_agent"] for r in rows} == {"browser-a", "browser-b"}
    assert sorted(r["current"] for r in rows) == [False, True]
    assert set(rows[0]) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}
    b_id = next(r["id"] for r in rows if not r["current"])
    # another user's session → 404, and it keeps working
    o_rows = (await api.client.get("/auth/sessions", headers=bearer(o["access_token"]))).json()
    resp = await api.client.delete(
        f"/auth/sessions/{o_rows[0]['id']}", headers=bearer(a["access_token"])
    )
    assert_problem(resp, 404)
    assert_problem(
        await api.client.delete("/auth/sessions/not-a-uuid", headers=bearer(a["access_token"])),
        404,
    )
    assert (await api.client.get("/auth/me", headers=bearer(o["access_token"]))).status_code == 200
    resp = await api.client.delete(f"/auth/sessions/{b_id}", headers=bearer(a["access_token"]))
    assert resp.status_code == 204
    assert_problem(await api.client.get("/auth/me", headers=bearer(b["access_token"])), 401)
    assert (await api.client.get("/auth/me", headers=bearer(a["access_token"]))).status_code == 200
    rows = (await api.client.get("/auth/sessions", headers=bearer(a["access_token"]))).json()
    assert [r["current"] for r in rows] == [True]


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
async def test_malformed_bodies(api: AuthClient, path: str) -> None:
    resp = await api.client.post(
        path, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_problem(resp, 400)
    assert_problem(await api.client.post(path, json={"email": "x@example.com"}), 422)


async def test_a_login_costs_few_database_round_trips(
    api: AuthClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every login pays these: on Postgres two statements and no transaction around them
    (credentials read; session + first refresh token in one statement); on SQLite the
    read, two inserts and one COMMIT. The session written is a working refresh family."""
    from sqlalchemy import event

    email = unique_email()
    await api.auth.service.create_user(email, PASSWORD, verified=True)
    database = api.auth.service.database
    engine = database.engine.sync_engine
    statements: list[str] = []
    transactions: list[str] = []
    if database.dialect == "postgresql":
        import asyncpg.transaction

        start = asyncpg.transaction.Transaction.start

        async def counted_start(self: object) -> None:
            transactions.append("BEGIN")  # a round trip asyncpg makes for SQLAlchemy
            await start(self)  # type: ignore[arg-type]

        monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counted_start)

    def on_execute(*args: object) -> None:
        statements.append(str(args[2]).split()[0].upper())

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        pair = await api.login(email)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    if database.dialect == "postgresql":
        assert statements == ["SELECT", "WITH"]
        assert transactions == []  # no BEGIN, hence no COMMIT / ROLLBACK either
    else:
        assert statements == ["SELECT", "INSERT", "INSERT"]
    refreshed = await api.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    sessions = await api.client.get("/auth/sessions", headers=bearer(pair["access_token"]))
    assert len(sessions.json()) == 1
