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
Servers, wrk, Redis and the rounds come from ``_runner.py``; wrk parsing and CPU accounting
from the shared ``run_http.py``.
Targets: ``*_first`` ≥ 0.85 x ``plain``; ``*_replay`` faster than ``plain``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _runner import (
    Server,
    ThrowawayRedis,
    free_port,
    interleaved,
    interleaved_table,
    measure,
    run_rounds,
)

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


def run_scenario(
    name: str, env: dict[str, str], args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    """One run of scenario ``name``: a fresh server and SQLite file, warm-up, then load."""
    app, lua = SCENARIOS[name]
    port = free_port()
    script = tmp / f"{name}.lua"
    script.write_text(lua)
    run_env = {**env, "BENCH_DB": str(tmp / f"{name}-{port}.db")}
    with Server(f"idempotency_apps:{app}", port=port, env=run_env) as server:
        run = measure(
            server,
            "/items",
            warmup=args.warmup,
            duration=args.duration,
            conns=args.conns,
            script=script,
        )
    return run.result(cpu_util=False)


def interleaved_sittings(args: argparse.Namespace) -> None:
    """First requests, paired per cycle with the same route without idempotency, on each
    profile: embedded (SQLite handler, memory store) and production (Postgres handler,
    Redis store). Every server of a profile runs at once; wrk POSTs a new key per request
    to all of them (the plain route ignores the header)."""
    out: dict[str, Any] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idem-bench-")))
        script = tmp / "first.lua"
        script.write_text(LUA_FIRST)
        redis_url = args.redis_url or stack.enter_context(ThrowawayRedis()).url
        profiles = {
            "embedded": {"plain": "plain", "idem_memory": "idem_memory"},
            "production": {
                "plain_pg": "plain",
                "idem_redis_pg": "idem_redis",
                "idem_memory_pg": "idem_memory",
            },
        }
        for profile, apps in profiles.items():
            servers = {}
            for name, factory in apps.items():
                env = {"BENCH_REDIS_URL": redis_url, "BENCH_DB": str(tmp / f"{name}.db")}
                if profile == "production":
                    env["BENCH_DATABASE_URL"] = args.database_url
                servers[name] = stack.enter_context(
                    Server(f"idempotency_apps:{factory}", port=free_port(), env=env)
                )
            baseline = next(iter(apps))
            print(f"\n## {profile}", flush=True)
            result = interleaved(
                servers,
                baseline,
                "/items",
                cycles=args.interleave,
                seconds=args.slice,
                conns=args.conns,
                script=script,
            )
            print(interleaved_table(result, baseline))
            out[profile] = result
            for server in servers.values():
                server.stop()
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--interleave", type=int, default=0, help="cycles (paired sittings)")
    ap.add_argument("--slice", type=int, default=4, help="seconds per interleaved slice")
    ap.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="the production profile's handler database",
    )
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--redis-url", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.interleave:
        interleaved_sittings(args)
        return
    names = [n for n in args.scenarios.split(",") if n]
    env: dict[str, str] = {}
    with ExitStack() as stack:
        if any(n.startswith("redis") for n in names):
            if args.redis_url:
                env["BENCH_REDIS_URL"] = args.redis_url
            elif shutil.which("redis-server"):
                env["BENCH_REDIS_URL"] = stack.enter_context(ThrowawayRedis()).url
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="idem-bench-")))
        results = run_rounds(
            names,
            args.rounds,
            lambda name: run_scenario(name, env, args, tmp),
            lambda rnd, name, res: (
                f"round {rnd + 1} {name:13s} {res['rps']:9.1f} rps "
                f"p50 {res['p50_ms']:6.2f} ms p99 {res['p99_ms']:6.2f} ms "
                f"cpu {res['server_cpu_us_per_req']:7.1f} us/req non2xx {res['non2xx']}"
            ),
        )
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
