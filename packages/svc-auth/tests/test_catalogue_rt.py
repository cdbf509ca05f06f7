"""TEST-CATALOGUE rows RT-01, RT-04, RT-05, RT-06, refresh reuse, and revocation across apps."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
from svc_auth_testkit import PASSWORD, AppFactory, AuthClient, bearer, unique_email

from svc_auth import auth_metrics
from svc_auth.sessions import new_refresh_token
from svc_core.sql import uuid7


async def refresh(api: AuthClient, token: str) -> httpx.Response:
    return await api.client.post("/auth/refresh", json={"refresh_token": token})


async def me(api: AuthClient, pair: dict[str, Any]) -> int:
    return (await api.client.get("/auth/me", headers=bearer(pair["access_token"]))).status_code


async def logged_in(api: AuthClient) -> tuple[str, dict[str, Any]]:
    email = unique_email()
    await api.register(email)
    return email, await api.login(email)


async def test_rt01_rotation(api: AuthClient) -> None:
    _, p1 = await logged_in(api)
    resp = await refresh(api, p1["refresh_token"])
    assert resp.status_code == 200
    p2 = resp.json()
    assert set(p2) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert p2["refresh_token"] != p1["refresh_token"]
    assert p2["access_token"] != p1["access_token"]
    assert await me(api, p2) == 200
    p3 = (await refresh(api, p2["refresh_token"])).json()
    assert await me(api, p3) == 200


async def test_reuse_of_a_spent_token_revokes_the_family(api: AuthClient) -> None:
    reuse = auth_metrics().refresh_reuse
    before = reuse._value.get()
    _, p1 = await logged_in(api)
    _, bystander = await logged_in(api)
    p2 = (await refresh(api, p1["refresh_token"])).json()
    assert (await refresh(api, p1["refresh_token"])).status_code == 401
    assert reuse._value.get() == before + 1
    # the whole session is gone: successor refresh and every access token
    assert (await refresh(api, p2["refresh_token"])).status_code == 401
    assert await me(api, p2) == 401
    assert await me(api, p1) == 401
    assert await me(api, bystander) == 200


async def test_concurrent_refreshes_have_one_winner(api: AuthClient) -> None:
    _, p1 = await logged_in(api)
    results = await asyncio.gather(*(refresh(api, p1["refresh_token"]) for _ in range(5)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) <= 1
    assert set(codes) <= {200, 401}
    assert 401 in codes


async def test_reuse_grace_returns_the_identical_successor(make_app: AppFactory) -> None:
    api: AuthClient = await make_app(refresh_reuse_grace=10)
    _, p1 = await logged_in(api)
    p2 = (await refresh(api, p1["refresh_token"])).json()
    again = await refresh(api, p1["refresh_token"])
    assert again.status_code == 200
    assert again.json()["refresh_token"] == p2["refresh_token"]
    assert await me(api, again.json()) == 200


async def test_unknown_refresh_token(api: AuthClient) -> None:
    for token in (new_refresh_token(), "x", "é" * 50):
        resp = await refresh(api, token)
        assert resp.status_code == 401
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_rt04_absolute_lifetime(make_app: AppFactory) -> None:
    api: AuthClient = await make_app(refresh_idle_ttl=600, refresh_absolute_ttl=1800)
    _, pair = await logged_in(api)
    for _ in range(3):  # t = 500, 1000, 1500: within both lifetimes
        api.clock.advance(500)
        resp = await refresh(api, pair["refresh_token"])
        assert resp.status_code == 200
        pair = resp.json()
    api.clock.advance(500)  # t = 2000 > absolute, though used 500 s ago
    assert (await refresh(api, pair["refresh_token"])).status_code == 401


async def test_rt04_idle_lifetime(make_app: AppFactory) -> None:
    api: AuthClient = await make_app(refresh_idle_ttl=600, refresh_absolute_ttl=1800)
    _, pair = await logged_in(api)
    api.clock.advance(601)
    assert (await refresh(api, pair["refresh_token"])).status_code == 401


async def test_rt05_every_way_of_ending_sessions(api: AuthClient) -> None:
    # logout
    _, a = await logged_in(api)
    await api.client.post("/auth/logout", headers=bearer(a["access_token"]))
    assert await me(api, a) == 401
    assert (await refresh(api, a["refresh_token"])).status_code == 401
    # admin terminate-all (the CLI's revoke-sessions)
    email, b1 = await logged_in(api)
    b2 = await api.login(email)
    user = await api.service.user_by_email(email)
    assert await api.service.sessions.revoke_all(user.id, reason="admin") == 2
    for pair in (b1, b2):
        assert await me(api, pair) == 401
        assert (await refresh(api, pair["refresh_token"])).status_code == 401
    # account disabled
    email, c = await logged_in(api)
    user = await api.service.user_by_email(email)
    await api.service.set_active(user.id, active=False)
    assert await me(api, c) == 401
    assert (await refresh(api, c["refresh_token"])).status_code == 401
    resp = await api.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 401


async def test_rt06_fresh_tokens_per_login_and_uniqueness(api: AuthClient) -> None:
    email, first = await logged_in(api)
    second = await api.login(email)
    assert first["access_token"] != second["access_token"]
    assert first["refresh_token"] != second["refresh_token"]
    rows = (await api.client.get("/auth/sessions", headers=bearer(second["access_token"]))).json()
    assert len({r["id"] for r in rows}) == 2
    # logging in again does not extend the earlier session's tokens' rights: each stands alone
    await api.client.post("/auth/logout", headers=bearer(first["access_token"]))
    assert await me(api, first) == 401
    assert await me(api, second) == 200
    refresh_tokens = {new_refresh_token() for _ in range(10_000)}
    assert len(refresh_tokens) == 10_000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in refresh_tokens)
    assert len({uuid7() for _ in range(10_000)}) == 10_000
    codec = api.service.codec
    jtis = {codec.encode("access", "s", 300)[1]["jti"] for _ in range(10_000)}
    assert len(jtis) == 10_000
    assert all(len(j) >= 22 for j in jtis)


async def test_revocation_reaches_another_app_at_the_next_request(make_app: AppFactory) -> None:
    a: AuthClient = await make_app()
    b: AuthClient = await make_app()
    for _ in range(3):
        email = unique_email()
        await a.register(email)
        pair = await a.login(email)
        assert await me(b, pair) == 200  # b has verified and cached it
        assert await me(b, pair) == 200
        await a.client.post("/auth/logout", headers=bearer(pair["access_token"]))
        assert await me(b, pair) == 401
        assert await me(a, pair) == 401


async def test_revocations_survive_a_lost_channel(make_app: AppFactory) -> None:
    b: AuthClient = await make_app()
    a: AuthClient = await make_app()
    email = unique_email()
    await a.register(email)
    pair = await a.login(email)
    assert await me(b, pair) == 200
    # b stops hearing announcements (as if its subscription dropped)
    await b.service.revocations.stop()
    b.service.revocations._healthy = False
    b.service.revocations._local.clear()
    session = await a.service.user_by_email(email)
    assert session is not None
    await a.service.sessions.revoke_all(session.id, reason="admin")
    b.service.revocations._local.clear()
    assert await me(b, pair) == 401  # checked against the store while unhealthy


async def test_me_stays_responsive_during_a_burst_of_logins(make_app: AppFactory) -> None:
    from svc_auth import DEFAULT_PARAMS

    api: AuthClient = await make_app(params=DEFAULT_PARAMS, lockout_threshold=1000)
    email, pair = await logged_in(api)
    done_me = 0
    logins_running = True

    async def burst() -> None:
        nonlocal logins_running
        try:
            await asyncio.gather(*(api.login(email) for _ in range(12)))
        finally:
            logins_running = False

    async def poll_me() -> None:
        nonlocal done_me
        for _ in range(2000):
            if not logins_running:
                return
            assert await me(api, pair) == 200
            done_me += 1

    await asyncio.wait_for(asyncio.gather(burst(), poll_me()), timeout=120)
    # argon2 ran in threads: many /auth/me completed while the logins were in flight
    assert done_me >= 12, done_me


async def test_login_metrics(api: AuthClient) -> None:
    logins = auth_metrics().logins
    ok0 = logins.labels("success")._value.get()
    bad0 = logins.labels("invalid_credentials")._value.get()
    email, _ = await logged_in(api)
    await api.client.post("/auth/login", json={"email": email, "password": "wrong wrong wrong"})
    assert logins.labels("success")._value.get() == ok0 + 1
    assert logins.labels("invalid_credentials")._value.get() == bad0 + 1
    assert uuid.UUID((await api.service.user_by_email(email)).id.hex)
