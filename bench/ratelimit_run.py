"""svc-ratelimit vs bare FastAPI, slowapi and fastapi-limiter, in one sitting.

    uv run python bench/ratelimit_run.py --rounds 3 --out /tmp/ratelimit-http.json

Reuses the shared ``run_http.py`` (wrk parsing, CPU accounting from /proc, round rotation,
summary table, JSON output) with one change: each app starts with its *own* Python. The
peers (``fastapi_bare``, ``fastapi_slowapi_mem``, ``fastapi_slowapi_redis``,
``fastapi_limiter_redis`` from the shared ``http_apps.py``) need redis-py < 8, so they run
from a separate venv built from the shared ``requirements-http.txt``
(``/tmp/bench-venvs/http``, created on first use; ``BENCH_PEER_VENV`` overrides); our apps
(``ratelimit_apps.py``) run from the workspace venv. A throw-away redis-server is started
on a free loopback port for the run (flushed before each Redis app, stopped by its PID at
the end). After each Redis app the server's ``INFO commandstats`` gives the client
commands per request (ours: 1 EVALSHA).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_BENCH = Path(
    os.environ.get("SVC_SHARED_BENCH", HERE.parents[1] / "shared" / "bench")
).resolve()
sys.path.insert(0, str(SHARED_BENCH))
import ratelimit_apps  # noqa: E402
import run_http  # noqa: E402

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peer_python() -> str:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "-r",
                str(SHARED_BENCH / "requirements-http.txt"),
            ],
            check=True,
        )
    return str(python)


class Redis:
    """A redis-server of this run's own."""

    def __init__(self) -> None:
        self.port = _free_port()
        binary = shutil.which("redis-server")
        if binary is None:
            msg = "redis-server is not on PATH"
            raise RuntimeError(msg)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while self.call("PING") != "PONG":
            if time.monotonic() > deadline:
                msg = "redis-server did not start"
                raise RuntimeError(msg)
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def call(self, *args: str) -> str:
        try:
            out = subprocess.run(
                ["redis-cli", "-p", str(self.port), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except OSError:
            return ""
        return out.stdout.strip()

    def client_commands(self) -> int:
        total = 0
        for line in self.call("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, _, rest = line.partition(":")
                name = name.removeprefix("cmdstat_")
                if name in _SCRIPT_INNER or name.startswith(("config", "info", "flushall")):
                    continue
                total += int(rest.split(",")[0].split("=")[1])
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


REDIS: Redis | None = None


def run_one(app: str, port: int, duration: int, warmup: int, conns: int) -> dict[str, object]:
    """``run_http.run_one`` with the app's own Python and module."""
    url = f"http://127.0.0.1:{port}/ping"
    if app in PEERS:
        python, module, cwd = _peer_python(), "http_apps", SHARED_BENCH
    else:
        python, module, cwd = sys.executable, "ratelimit_apps", HERE
    redis_app = app in PEER_REDIS or app in ratelimit_apps.REDIS_APPS
    if redis_app and REDIS is not None:
        REDIS.call("FLUSHALL")
        REDIS.call("CONFIG", "RESETSTAT")
    cmd = [
        *(python, "-m", "uvicorn", f"{module}:{app}", "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"),
        *("--http", "httptools", "--no-access-log", "--log-level", "warning"),
    ]
    env = {**os.environ, "BENCH_REDIS_URL": REDIS.url if REDIS else ""}
    server = subprocess.Popen(cmd, cwd=cwd, env=env)
    try:
        run_http.wait_ready(url)
        wrk = ["wrk", "-t1", f"-c{conns}", "--latency", url]
        warm = [*wrk[:1], f"-d{warmup}s", *wrk[1:]]
        warm_out = subprocess.run(
            warm, check=True, capture_output=True, text=True, timeout=warmup + 30
        ).stdout
        cpu0 = run_http.cpu_seconds(server.pid)
        load = [*wrk[:1], f"-d{duration}s", *wrk[1:]]
        out = subprocess.run(
            load, check=True, capture_output=True, text=True, timeout=duration + 30
        ).stdout
        cpu1 = run_http.cpu_seconds(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    res: dict[str, object] = run_http.parse_wrk(out)
    res["server_cpu_us_per_req"] = (cpu1 - cpu0) / int(str(res["requests"])) * 1e6
    res["server_cpu_util"] = (cpu1 - cpu0) / duration
    if redis_app and REDIS is not None:
        served = int(str(res["requests"])) + run_http.parse_wrk(warm_out)["requests"] + 1
        res["redis_cmds_per_req"] = round(REDIS.client_commands() / served, 3)
        print(f"    {app}: {res['redis_cmds_per_req']} Redis client commands per request")
    return res


def main() -> None:
    """Run ``run_http.main`` with per-app interpreters and our default app list."""
    global REDIS  # noqa: PLW0603 - one server for the whole sitting
    if not any(arg == "--apps" or arg.startswith("--apps=") for arg in sys.argv[1:]):
        sys.argv[1:1] = ["--apps", DEFAULT_APPS]
    if not shutil.which("wrk"):
        sys.exit("wrk is not on PATH (apt-get install -y wrk)")
    _peer_python()
    REDIS = Redis()
    try:
        run_http.run_one = run_one
        run_http.main()
    finally:
        REDIS.stop()


if __name__ == "__main__":
    main()
