"""Probes: live, startup, ready with the health-check registry, draining."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from svc_core.sql import Database
from svc_obs import HEALTH_CHECKS_KEY, ObsSettings
from svc_obs.plugin import obs_state

HEALTH = "application/health+json"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_probes_pass_with_the_database_up(build: Any, database: Database) -> None:
    async with build(database=database) as (_, _, client):
        live = await client.get("/_ops/live")
        startup = await client.get("/_ops/startup")
        ready = await client.get("/_ops/ready")
    for response in (live, startup, ready):
        assert response.status_code == 200
        assert response.headers["content-type"] == HEALTH
        assert response.json()["status"] == "pass"
    checks = ready.json()["checks"]
    assert checks["database"][0]["status"] == "pass"
    assert "redis" not in checks


async def test_ready_fails_when_the_database_is_down(build: Any) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nowhere"
    database = Database(url)
    try:
        async with build(database=database) as (_, _, client):
            ready = await client.get("/_ops/ready")
            live = await client.get("/_ops/live")
    finally:
        await database.aclose()
    assert ready.status_code == 503
    assert ready.headers["content-type"] == HEALTH
    body = ready.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"][0]["status"] == "fail"
    assert "postgres@" not in ready.text  # no URL in the body
    assert live.status_code == 200


async def test_registered_checks_pass_warn_fail_and_time_out(build: Any) -> None:
    async def warn() -> str:
        return "warn"

    async def fail() -> bool:
        return False

    async def explode() -> bool:
        raise ConnectionError("secret-host:1234 refused")

    async def hang() -> bool:
        await asyncio.sleep(30)
        return True

    settings = ObsSettings(configure_logging=False, probe_timeout=0.5)
    async with build(obs=settings) as (_, runtime, client):
        registry = runtime.state[HEALTH_CHECKS_KEY]
        del registry["database"]  # only the checks under test (a busy machine is slow)
        registry["search"] = warn
        warned = await client.get("/_ops/ready")
        registry["cache"] = fail
        failed = await client.get("/_ops/ready")
        del registry["cache"]
        registry["broker"] = explode
        exploded = await client.get("/_ops/ready")
        del registry["broker"]
        registry["slow"] = hang
        slow = await client.get("/_ops/ready")
    assert warned.status_code == 200
    assert warned.json()["status"] == "warn"
    assert warned.json()["checks"]["search"][0]["status"] == "warn"
    assert failed.status_code == 503
    assert failed.json()["checks"]["cache"][0]["status"] == "fail"
    assert exploded.status_code == 503
    assert "secret-host" not in exploded.text
    assert slow.status_code == 503
    assert slow.json()["checks"]["slow"][0]["output"] == "timed out"


async def test_redis_check_registered_on_redis(build: Any, kv: Any) -> None:
    async with build(kv=kv) as (_, _, client):
        ready = await client.get("/_ops/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert ("redis" in checks) == (kv.backend == "redis")


async def test_startup_then_draining(build: Any) -> None:
    async with build() as (_, runtime, client):
        obs = obs_state(runtime)
        assert (await client.get("/_ops/startup")).status_code == 200
        obs.lifecycle.started = False
        starting = await client.get("/_ops/startup")
        not_ready = await client.get("/_ops/ready")
        obs.lifecycle.started = True
        obs.lifecycle.draining = True
        draining = await client.get("/_ops/ready")
        live = await client.get("/_ops/live")
    assert starting.status_code == 503
    assert starting.json() == {"status": "fail", "output": "starting"}
    assert not_ready.status_code == 503
    assert draining.status_code == 503
    assert draining.json()["output"] == "draining"
    assert live.status_code == 200
