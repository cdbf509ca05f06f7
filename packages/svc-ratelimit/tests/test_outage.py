"""Store outages (RL-06, D7): a test-owned redis-server killed mid-run, then restarted.

Also: a store that accepts connections but never answers is given up on within the
store timeout, and one decision is exactly one Redis command (EVALSHA).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from svc_core.kv import RedisKV
from svc_ratelimit import Limit, Policy, RateLimiter, RateLimiterUnavailableError


def degraded() -> float | None:
    return REGISTRY.get_sample_value("ratelimit_degraded")


def outcomes(outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "ratelimit_decisions_total", {"policy": "default", "outcome": outcome}
        )
        or 0.0
    )


@pytest.mark.parametrize("mode", ["closed", "open", "local"])
async def test_killing_the_store_applies_the_configured_mode_then_recovers(
    redis_server: Any, http: Any, app_factory: Any, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.WARNING, logger="svc_ratelimit")
    async with RedisKV(redis_server.url, "rl-outage:", timeout=0.25) as kv:
        env = {
            "default": "3/minute",
            "auth": "5/minute",
            "on_store_error": mode,
            "retry_store_seconds": 0.3,
        }
        app, _ = app_factory(kv, env=env)
        client = await http(app)
        assert [(await client.get("/items")).status_code for _ in range(2)] == [200, 200]
        assert degraded() == 0 or degraded() is None

        redis_server.kill()
        started = time.monotonic()
        during = [await client.get("/items") for _ in range(5)]
        login = await client.post("/auth/login")
        assert time.monotonic() - started < 5  # fails fast: no request waits on the dead store

        # Auth routes fail closed whatever the mode.
        assert login.status_code == 503
        assert login.headers["content-type"].startswith("application/problem+json")
        assert int(login.headers["retry-after"]) >= 1
        codes = [r.status_code for r in during]
        if mode == "closed":
            assert codes == [503] * 5
            assert during[0].json()["status"] == 503
        elif mode == "open":
            assert codes == [200] * 5
            assert "ratelimit" not in during[0].headers
        else:
            # The in-process cap: the same policy counted locally, no 5xx.
            assert codes == [200, 200, 200, 429, 429]
            assert during[0].headers["ratelimit-policy"] == '"default";q=3;w=60'
        assert degraded() == 1
        assert any("degraded" in r.getMessage() for r in caplog.records)

        redis_server.start()  # same port, empty data
        await asyncio.sleep(0.4)  # past retry_store_seconds: the next call tries the store
        after = await client.get("/items")
        assert after.status_code == 200
        assert after.headers["ratelimit"].startswith('"default";r=2;')  # on Redis again
        assert degraded() == 0
        assert any("recovered" in r.getMessage() for r in caplog.records)
        assert (await client.post("/auth/login")).status_code == 200


async def test_a_silent_store_is_given_up_within_its_timeout(blackhole: int) -> None:
    async with RedisKV(f"redis://127.0.0.1:{blackhole}/0", "rl-silent:", timeout=0.25) as kv:
        limiter = RateLimiter(kv, on_store_error="closed")
        policy = Policy("default", (Limit(3, 60),))
        started = time.monotonic()
        with pytest.raises(RateLimiterUnavailableError):
            await limiter.hit(policy, "ip:1", tenant=None)
        assert time.monotonic() - started < 1.5  # 250 ms budget, generous bound
        local = RateLimiter(kv, on_store_error="local")
        assert (await local.hit(policy, "ip:1", tenant=None)).degraded


class Monitor:
    """Redis MONITOR on a raw socket: every command the server receives, with its origin."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"MONITOR\r\n")
        self.buffer = b""
        while b"+OK\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        self.buffer = self.buffer.split(b"+OK\r\n", 1)[1]

    def lines(self, until: str) -> list[str]:
        """Lines received until one containing ``until`` (a marker command)."""
        deadline = time.monotonic() + 10
        while until.encode() not in self.buffer and time.monotonic() < deadline:
            self.buffer += self.sock.recv(65536)
        self.sock.close()
        return [line for line in self.buffer.decode().splitlines() if line.startswith("+")]


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "gcra"])
async def test_one_decision_is_one_round_trip(redis_server: Any, algorithm: str) -> None:
    """MONITOR shows exactly one client command (EVALSHA) per decision; the rest of the
    work (TIME, GET, SET) happens inside the script on the server."""
    async with RedisKV(redis_server.url, "rl-rtt:", timeout=1) as kv:
        limiter = RateLimiter(kv)
        policy = Policy("default", (Limit(10, 1), Limit(1000, 3600)), algorithm=algorithm)  # type: ignore[arg-type]
        await limiter.hit(policy, "ip:warm", tenant=None)  # connects and loads the script
        await kv.client.ping()  # the marker's connection is set up before MONITOR starts
        monitor = Monitor(redis_server.port)
        decisions = [await limiter.hit(policy, f"ip:{i}", tenant="t") for i in range(50)]
        await kv.client.echo("end-of-run")
        lines = monitor.lines("end-of-run")
    assert all(d.allowed for d in decisions)
    from_client = [line for line in lines if "lua]" not in line and "end-of-run" not in line]
    assert len(from_client) == 50
    assert all('"EVALSHA"' in line for line in from_client)
    in_scripts = [line for line in lines if "lua]" in line]
    assert sum('"TIME"' in line for line in in_scripts) == 50
