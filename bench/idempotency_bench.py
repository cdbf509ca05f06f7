"""svc-idempotency overhead on a POST: first request and replay vs the same route without it.

    uv run python bench/idempotency_bench.py --rounds 3 --out /tmp/idempotency-bench.json

Scenarios (app / what wrk sends):

* ``plain``          — ``plain`` app, no key (the baseline: handler validates + inserts a row);
* ``mem_first``      — ``idem_memory``, a new ``Idempotency-Key`` per request (every request runs);
* ``mem_replay``     — ``idem_memory``, one key for every request (all but the first replay);
* ``mem_nokey``      — ``idem_memory``, no key (the middleware passes through);
* ``redis_first`` / ``redis_replay`` — the same on Redis.

Each scenario gets a fresh uvicorn (one worker, uvloop, httptools, no access log) and a
fresh SQLite file, a warm-up, then ``wrk -t1 -c32 -d<duration>s --latency`` with a Lua
script that POSTs a JSON body. The order rotates every round. A throw-away redis-server is
started on a free loopback port (``--redis-url`` to use another) and stopped by its PID.
Reuses the shared ``run_http.py`` (wrk parsing, CPU accounting) by path.
Targets: ``*_first`` ≥ 0.85 x ``plain``; ``*_replay`` faster than ``plain``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED_BENCH = Path(
    os.environ.get("SVC_SHARED_BENCH", HERE.parents[1] / "shared" / "bench")
).resolve()
sys.path.insert(0, str(SHARED_BENCH))
import run_http  # noqa: E402

BODY = '{"name":"bench","qty":1}'
LUA_FIRST = """
wrk.method = "POST"
wrk.body = 'BODY'
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time() + os.clock() * 1e6)
local prefix = string.format("%d-%d", math.random(1, 2000000000), os.time())
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. n,
  })
end
""".replace("BODY", BODY)
LUA_REPLAY = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Idempotency-Key"] = "bench-replay-key"
"""
LUA_NOKEY = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""

SCENARIOS = {
    "plain": ("plain", LUA_NOKEY),
    "mem_first": ("idem_memory", LUA_FIRST),
    "mem_replay": ("idem_memory", LUA_REPLAY),
    "mem_nokey": ("idem_memory", LUA_NOKEY),
    "redis_first": ("idem_redis", LUA_FIRST),
    "redis_replay": ("idem_redis", LUA_REPLAY),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    msg = f"server not ready at {url}"
    raise RuntimeError(msg)


def run_scenario(name: str, env: dict[str, str], args: argparse.Namespace, tmp: Path) -> dict:
    app, lua = SCENARIOS[name]
    port = free_port()
    script = tmp / f"{name}.lua"
    script.write_text(lua)
    run_env = {**os.environ, **env, "BENCH_DB": str(tmp / f"{name}-{port}.db")}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        f"idempotency_apps:{app}",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(cmd, cwd=HERE, env=run_env)
    url = f"http://127.0.0.1:{port}/items"
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping")
        wrk = ["wrk", "-t1", f"-c{args.conns}", "--latency", "-s", str(script)]
        subprocess.run(
            [*wrk, f"-d{args.warmup}s", url],
            check=True,
            capture_output=True,
            timeout=args.warmup + 30,
        )
        cpu0 = run_http.cpu_seconds(server.pid)
        out = subprocess.run(
            [*wrk, f"-d{args.duration}s", url],
            check=True,
            capture_output=True,
            text=True,
            timeout=args.duration + 30,
        ).stdout
        cpu1 = run_http.cpu_seconds(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    res = run_http.parse_wrk(out)
    res["server_cpu_us_per_req"] = (cpu1 - cpu0) / max(1, res["requests"]) * 1e6
    return res


class RedisServer:
    """A redis-server of this run's own on a free loopback port, stopped by PID."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        msg = "redis-server did not start"
        raise RuntimeError(msg)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--redis-url", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    names = [n for n in args.scenarios.split(",") if n]
    redis = None
    env: dict[str, str] = {}
    if any(n.startswith("redis") for n in names):
        if args.redis_url:
            env["BENCH_REDIS_URL"] = args.redis_url
        elif shutil.which("redis-server"):
            redis = RedisServer()
            env["BENCH_REDIS_URL"] = redis.url
    results: dict[str, list[dict]] = {n: [] for n in names}
    try:
        with tempfile.TemporaryDirectory(prefix="idem-bench-") as tmp:
            for rnd in range(args.rounds):
                order = names[rnd % len(names) :] + names[: rnd % len(names)]
                for name in order:
                    res = run_scenario(name, env, args, Path(tmp))
                    results[name].append(res)
                    print(
                        f"round {rnd + 1} {name:13s} {res['rps']:9.1f} rps "
                        f"p50 {res['p50_ms']:6.2f} ms p99 {res['p99_ms']:6.2f} ms "
                        f"cpu {res['server_cpu_us_per_req']:7.1f} us/req non2xx {res['non2xx']}",
                        flush=True,
                    )
    finally:
        if redis is not None:
            redis.stop()
    plain = results.get("plain")
    base = statistics.median(r["rps"] for r in plain) if plain else None
    print("\n| scenario | median RPS | p50 ms | p99 ms | CPU µs/req | x plain |")
    print("|---|---|---|---|---|---|")
    summary = {}
    for name in names:
        runs = results[name]
        rps = statistics.median(r["rps"] for r in runs)
        row = {
            "rps": rps,
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "cpu_us": statistics.median(r["server_cpu_us_per_req"] for r in runs),
            "ratio": rps / base if base else None,
            "non2xx": sum(r["non2xx"] for r in runs),
        }
        summary[name] = row
        ratio = f"{row['ratio']:.2f}" if row["ratio"] else "-"
        print(
            f"| {name} | {rps:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {row['cpu_us']:.0f} | {ratio} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"runs": results, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
