"""svc-ratelimit vs bare FastAPI, slowapi and fastapi-limiter, in one sitting.

    uv run python bench/ratelimit_run.py --rounds 3 --out /tmp/ratelimit-http.json

Reuses the shared ``run_http.py`` through ``_runner.shared_main`` (options, wrk parsing,
CPU accounting from /proc, round rotation, summary table, JSON output) with one change:
each app starts with its *own* Python. The peers (``fastapi_bare``,
``fastapi_slowapi_mem``, ``fastapi_slowapi_redis``, ``fastapi_limiter_redis`` from the
shared ``http_apps.py``) need redis-py < 8, so they run from a separate venv built from the
shared ``requirements-http.txt`` (``/tmp/bench-venvs/http``, created on first use;
``BENCH_PEER_VENV`` overrides); our apps (``ratelimit_apps.py``) run from the workspace
venv. A throw-away redis-server (``_runner.ThrowawayRedis``) is started on a free loopback
port for the run (flushed before each Redis app, stopped by its PID at the end). After each
Redis app the server's ``INFO commandstats`` gives the client commands per request (ours:
1 EVALSHA).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ratelimit_apps
from _runner import (
    HERE,
    SHARED_BENCH,
    Server,
    ThrowawayRedis,
    free_port,
    interleaved_main,
    measure,
    peer_python,
    shared_main,
)

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable

PEER_VENV = Path(os.environ.get("BENCH_PEER_VENV", "/tmp/bench-venvs/http"))  # noqa: S108 - the team convention
PEERS = {"fastapi_bare", "fastapi_slowapi_mem", "fastapi_slowapi_redis", "fastapi_limiter_redis"}
PEER_REDIS = {"fastapi_slowapi_redis", "fastapi_limiter_redis"}
DEFAULT_APPS = ",".join(
    [
        "fastapi_bare",
        "svc_rl_mem",
        "svc_rl_mem_route",
        "fastapi_slowapi_mem",
        "svc_rl_redis",
        "svc_rl_redis_route",
        "fastapi_slowapi_redis",
        "fastapi_limiter_redis",
    ]
)
# Commands the limiters' Lua scripts run on the server: not client round trips.
_SCRIPT_INNER = {"time", "get", "set", "zcount", "zadd", "zremrangebyscore", "pexpire", "expire"}


def _peer_python() -> str:
    requirements = SHARED_BENCH / "requirements-http.txt"
    return peer_python(PEER_VENV, requirements, ["slowapi", "fastapi_limiter"])


def client_commands(redis: ThrowawayRedis) -> int:
    """Commands clients sent since the last ``CONFIG RESETSTAT`` (``INFO commandstats``),
    leaving out the Lua scripts' inner commands and this runner's own."""
    total = 0
    for line in redis.cli("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            name = name.removeprefix("cmdstat_")
            if name in _SCRIPT_INNER or name.startswith(("config", "info", "flushall")):
                continue
            total += int(rest.split(",")[0].split("=")[1])
    return total


def make_run_one(redis: ThrowawayRedis) -> Callable[[str, int, int, int, int], dict[str, Any]]:
    """``run_http.run_one`` with the app's own Python and module, and ``redis`` for the
    Redis apps."""

    def run_one(app: str, port: int, duration: int, warmup: int, conns: int) -> dict[str, Any]:
        if app in PEERS:
            python, module, cwd = _peer_python(), "http_apps", SHARED_BENCH
        else:
            python, module, cwd = sys.executable, "ratelimit_apps", HERE
        redis_app = app in PEER_REDIS or app in ratelimit_apps.REDIS_APPS
        if redis_app:
            redis.cli("FLUSHALL")
            redis.cli("CONFIG", "RESETSTAT")
        env = {"BENCH_REDIS_URL": redis.url}
        with Server(f"{module}:{app}", port=port, python=python, cwd=cwd, env=env) as server:
            run = measure(server, "/ping", warmup=warmup, duration=duration, conns=conns)
        res = run.result()
        if redis_app:
            served = res["requests"] + run.warmup_requests + 1  # + the readiness probe
            res["redis_cmds_per_req"] = round(client_commands(redis) / served, 3)
            print(f"    {app}: {res['redis_cmds_per_req']} Redis client commands per request")
        return res

    return run_one


def _servers(stack: contextlib.ExitStack[Any]) -> Any:
    redis = stack.enter_context(ThrowawayRedis())

    def server(app: str) -> Server:
        if app in PEERS:
            python, module, cwd = _peer_python(), "http_apps", SHARED_BENCH
        else:
            python, module, cwd = sys.executable, "ratelimit_apps", HERE
        env = {"BENCH_REDIS_URL": redis.url}
        return Server(f"{module}:{app}", port=free_port(), python=python, cwd=cwd, env=env)

    return server


def main() -> None:
    """Run ``run_http.main`` with per-app interpreters and our default app list.

    ``--interleave CYCLES`` (optionally ``--slice SECONDS``, ``--apps``, ``--out``) runs the
    drift-resistant sitting instead: every app up at once, slices in rotation.
    """
    if not shutil.which("wrk"):
        sys.exit("wrk is not on PATH (apt-get install -y wrk)")
    _peer_python()
    if "--interleave" in sys.argv:
        interleaved_main(DEFAULT_APPS, _servers)
        return
    with ThrowawayRedis() as redis:
        shared_main(make_run_one(redis), DEFAULT_APPS)


if __name__ == "__main__":
    main()
