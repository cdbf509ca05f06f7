"""TEST-CATALOGUE rows PW-01, 02, 04, 06, 07 and LG-03, 04, 05, over HTTP through the router."""

from __future__ import annotations

import base64
import unicodedata
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select
from svc_auth_testkit import PASSWORD, AppFactory, AuthClient, Backend, bearer, unique_email

from svc_auth import DEFAULT_PARAMS, TEST_PARAMS
from svc_auth.models import User


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    return body


def error_types(body: dict[str, Any]) -> set[str]:
    return {str(e["type"]) for e in body.get("errors", [])}


async def register(api: AuthClient, email: str, password: str) -> httpx.Response:
    return await api.client.post("/auth/register", json={"email": email, "password": password})


# ---------------------------------------------------------------- PW


async def test_pw01_length_limits(make_app: AppFactory) -> None:
    api: AuthClient = await make_app()
    body = problem(await register(api, unique_email(), "kq7#Lm2"), 422)
    assert "password.too_short" in error_types(body)
    assert any("15" in e["msg"] for e in body["errors"])
    body = problem(await register(api, unique_email(), "vx9 plume ork!"), 422)  # 14
    assert "password.too_short" in error_types(body)
    assert (await register(api, unique_email(), "vx9 plume orkz!")).status_code == 201  # 15
    too_long = "plum velvet orchard " * 13  # 260 characters
    assert "password.too_long" in error_types(
        problem(await register(api, unique_email(), too_long), 422)
    )
    mfa: AuthClient = await make_app(mfa_required=True)
    assert (await register(mfa, unique_email(), "kq7#Lm2x")).status_code == 201  # 8
    assert "password.too_short" in error_types(
        problem(await register(mfa, unique_email(), "kq7#Lm2"), 422)
    )


async def test_pw02_unicode_passphrase(api: AuthClient) -> None:
    password = "quiet morning walk 🌲 森林の散歩 under tall green pines 🌄 and rivers flow"[:64]
    assert len(password) == 64
    email = unique_email()
    assert (await register(api, email, password)).status_code == 201
    await api.client.post("/auth/verify", json={"token": api.last_token(email, "verify")})
    await api.login(email, password)


async def test_pw04_common_breached_and_context_words(api: AuthClient) -> None:
    for common in ("password1234", "qwertyuiopasdf", "password123456789", "123456789012345"):
        body = problem(await register(api, unique_email(), common), 422)
        assert "password.compromised" in error_types(body), common
    body = problem(await register(api, unique_email(), "my svc-infra account passphrase"), 422)
    assert "password.contains_context_word" in error_types(body)
    email = f"zebracorn@{uuid.uuid4().hex[:12]}.example.com"
    body = problem(await register(api, email, "zebracorn likes long walks home"), 422)
    assert "password.contains_context_word" in error_types(body)
    # the reason is readable, the password never echoed
    assert "zebracorn likes" not in str(body)
    # change password applies the same policy
    ok_email = unique_email()
    await api.register(ok_email)
    pair = await api.login(ok_email)
    resp = await api.client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "qwertyuiopasdfgh"},
        headers=bearer(pair["access_token"]),
    )
    assert "password.compromised" in error_types(problem(resp, 422))
    assert (
        await register(api, unique_email(), "granite harbour lamp drifts east")
    ).status_code == 201


async def test_pw06_nfkc_and_nul(api: AuthClient) -> None:
    password = "Caf\u00e9 \u00c5land harbour at sunrise"
    email = unique_email()
    await api.register(email, password)
    decomposed = unicodedata.normalize("NFD", password)
    assert decomposed != password
    assert "e\u0301" in decomposed
    assert "A\u030a" in decomposed
    await api.login(email, decomposed)
    body = problem(await register(api, unique_email(), "nul inside\x00 this long passphrase"), 422)
    assert "password.invalid_character" in error_types(body)
    # never truncated: a prefix of the stored password does not log in
    resp = await api.client.post("/auth/login", json={"email": email, "password": password[:-1]})
    problem(resp, 401)


async def _stored_hash(api: AuthClient, email: str) -> str:
    async with api.auth.database.session() as db:
        user = (await db.execute(select(User).where(User.email == email))).scalar_one()
        return user.password_hash


async def test_pw07_stored_credential_and_rehash(make_app: AppFactory) -> None:
    assert (DEFAULT_PARAMS.memory_kib, DEFAULT_PARAMS.time_cost, DEFAULT_PARAMS.parallelism) == (
        19456,
        2,
        1,
    )
    prod: AuthClient = await make_app(params=DEFAULT_PARAMS)
    a, b = unique_email("a"), unique_email("b")
    await prod.register(a)
    await prod.register(b)
    ha, hb = await _stored_hash(prod, a), await _stored_hash(prod, b)
    for h in (ha, hb):
        assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        salt = h.split("$")[4]
        assert len(base64.b64decode(salt + "=" * (-len(salt) % 4))) >= 16
    assert ha != hb
    assert ha.split("$")[4] != hb.split("$")[4]
    # an account hashed with lower parameters is re-hashed at its next login
    cheap: AuthClient = await make_app(params=TEST_PARAMS)
    c = unique_email("c")
    await cheap.register(c)
    assert not (await _stored_hash(cheap, c)).startswith("$argon2id$v=19$m=19456")
    await prod.login(c)
    assert (await _stored_hash(prod, c)).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    await prod.login(c)


# ---------------------------------------------------------------- LG


async def _expire(api: AuthClient, backend: Backend, seconds: int) -> None:
    if backend.name == "embedded":
        backend.clock.advance(seconds + 1)  # MemoryKV runs on the same frozen clock
    else:
        import asyncio

        await asyncio.sleep(seconds + 0.2)


async def test_lg03_lockout_per_account(make_app: AppFactory, backend: Backend) -> None:
    api: AuthClient = await make_app(lockout_threshold=5, lockout_base=1, ip_lockout_threshold=500)
    email = unique_email()
    await api.register(email)
    statuses = []
    for i in range(100):
        resp = await api.client.post(
            "/auth/login",
            json={"email": email, "password": f"wrong password number {i}"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert len(statuses) <= 6
    assert set(statuses[:-1]) == {401}
    # the right password while locked gets the same throttled answer
    locked = problem(
        await api.client.post("/auth/login", json={"email": email, "password": PASSWORD}), 429
    )
    resp = await api.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    retry = int(resp.headers["retry-after"])
    assert 1 <= retry <= 1
    assert locked["type"].endswith("too-many-requests")
    # another account from the same client is not locked
    other = unique_email("other")
    await api.register(other)
    await api.login(other)
    # after the cool-down: 200, and the counter starts over
    await _expire(api, backend, retry)
    await api.login(email)
    resp = await api.client.post(
        "/auth/login", json={"email": email, "password": "still wrong here"}
    )
    problem(resp, 401)


async def test_lg03_cooldown_escalates(make_app: AppFactory, backend: Backend) -> None:
    api: AuthClient = await make_app(lockout_threshold=3, lockout_base=1, lockout_max=60)
    email = unique_email()
    await api.register(email)
    for _ in range(3):
        await api.client.post("/auth/login", json={"email": email, "password": "nope nope nope"})
    first = await api.client.post("/auth/login", json={"email": email, "password": "nope nope"})
    assert first.status_code == 429
    await _expire(api, backend, int(first.headers["retry-after"]))
    problem(await api.client.post("/auth/login", json={"email": email, "password": "nope"}), 401)
    second = await api.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 2 * int(first.headers["retry-after"])


async def test_lg03_lockout_per_client_address(make_app: AppFactory) -> None:
    api: AuthClient = await make_app(ip_lockout_threshold=4, lockout_threshold=100)
    for i in range(4):
        resp = await api.client.post(
            "/auth/login",
            json={"email": unique_email(f"spray{i}"), "password": "guess guess guess"},
        )
        problem(resp, 401)
    email = unique_email()
    await api.register(email)
    resp = await api.client.post("/auth/login", json={"email": email, "password": PASSWORD})
    problem(resp, 429)
    assert int(resp.headers["retry-after"]) >= 1


async def test_lg04_canonical_email(api: AuthClient) -> None:
    domain = f"{uuid.uuid4().hex[:12]}.example.com"
    await api.register(f"alice@{domain}")
    for variant in (
        f"Alice@{domain}",
        f"ALICE@{domain.upper()}",
        f"\uff41\uff4c\uff49\uff43\uff45@{domain}",
    ):
        problem(await register(api, variant, "granite harbour lamp drifts east"), 409)
    pair = await api.login(f"ALICE@{domain}")
    me = await api.client.get("/auth/me", headers=bearer(pair["access_token"]))
    assert me.json()["email"] == f"alice@{domain}"
    for bad in (f"ad\u200bmin@{domain}", f"admin\u202e@{domain}", f"ad\x07min@{domain}"):
        problem(await register(api, bad, "granite harbour lamp drifts east"), 422)


async def test_lg05_no_default_accounts(api: AuthClient) -> None:
    bodies = []
    for user, password in (("admin", "admin"), ("root", "root"), ("sa", "sa")):
        for email in (user, f"{user}@localhost", f"{user}@example.com"):
            body = problem(
                await api.client.post("/auth/login", json={"email": email, "password": password}),
                401,
            )
            body.pop("request_id", None)
            bodies.append(body)
    assert all(b == bodies[0] for b in bodies)
    async with api.auth.database.session() as db:
        assert (await db.execute(select(func.count()).select_from(User))).scalar_one() == 0


async def test_identical_401_for_unknown_wrong_and_disabled(api: AuthClient) -> None:
    email, disabled = unique_email(), unique_email("disabled")
    await api.register(email)
    user_id = await api.register(disabled)
    await api.service.set_active(uuid.UUID(user_id), active=False)
    attempts = [
        (unique_email("unknown"), PASSWORD),
        (email, "definitely not the password"),
        (disabled, PASSWORD),
    ]
    seen = []
    for e, p in attempts:
        resp = await api.client.post("/auth/login", json={"email": e, "password": p})
        body = problem(resp, 401)
        body.pop("request_id", None)
        seen.append((body, resp.headers.get("www-authenticate")))
    assert seen[0] == seen[1] == seen[2]
