"""svc-auth across replicas: revoked = refused at the next request, on every replica.

Two apps built by ``create_app`` share one Postgres database and one Redis. Each caches
verified access tokens and keeps revoked sessions in a local set fed by Redis pub/sub;
a revocation made on one must be honoured by the other at the very next request.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from svc_auth import TEST_PARAMS, AuthPlugin
from svc_core.plugin import CorePlugin
from svc_core.settings import SvcSettings
from svc_core.testing import redis_url_or_skip
from svc_infra import create_app

PASSWORD = "granite harbour lamp drifts east"


@pytest.fixture
def production(postgres_url: str, tmp_path: Path) -> SvcSettings:
    return SvcSettings(
        env="test",
        database_url=postgres_url,
        redis_url=redis_url_or_skip(),
        redis_prefix=f"svc-it-auth:{uuid.uuid4().hex[:8]}:",
        data_dir=tmp_path,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    resp = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_revoke_on_one_replica_is_refused_on_the_other(production: SvcSettings) -> None:
    first = create_app(
        production, plugins=[CorePlugin(), AuthPlugin(params=TEST_PARAMS)], migrate=True
    )
    second = create_app(
        production, plugins=[CorePlugin(), AuthPlugin(params=TEST_PARAMS)], migrate=True
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(first.router.lifespan_context(first))
        await stack.enter_async_context(second.router.lifespan_context(second))
        a = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a")
        )
        b = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b")
        )
        email = f"replica-{uuid.uuid4().hex[:8]}@example.com"
        assert (
            await a.post("/auth/register", json={"email": email, "password": PASSWORD})
        ).status_code == 201
        mail = (await a.get("/_dev/mail", params={"to": email})).json()
        assert (
            await b.post("/auth/verify", json={"token": mail[-1]["data"]["token"]})
        ).status_code == 200

        for _ in range(10):
            keep, doomed = await _login(a, email), await _login(b, email)
            for client in (a, b):  # both replicas verify and cache both tokens
                for pair in (keep, doomed):
                    assert (
                        await client.get("/auth/me", headers=bearer(pair["access_token"]))
                    ).status_code == 200
            rows = (await a.get("/auth/sessions", headers=bearer(keep["access_token"]))).json()
            [doomed_id] = [r["id"] for r in rows if not r["current"]]
            resp = await a.delete(
                f"/auth/sessions/{doomed_id}", headers=bearer(keep["access_token"])
            )
            assert resp.status_code == 204
            # the very next request on B is refused; `keep` still works there
            resp = await b.get("/auth/me", headers=bearer(doomed["access_token"]))
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"].startswith("Bearer")
            assert (
                await b.get("/auth/me", headers=bearer(keep["access_token"]))
            ).status_code == 200
            # logout on B is refused on A at once
            assert (
                await b.post("/auth/logout", headers=bearer(keep["access_token"]))
            ).status_code == 204
            assert (
                await a.get("/auth/me", headers=bearer(keep["access_token"]))
            ).status_code == 401
