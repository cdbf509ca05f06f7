# ruff: noqa: S108, E501 - benchmark runner: scratch paths and result tables
"""svc-auth benchmarks, one command, one sitting.

1. **Authenticated requests**: ``GET /ping`` behind a bearer token, served by uvicorn
   (1 worker, uvloop, httptools) and loaded with ``wrk -t1 -c32 --latency -H
   'Authorization: Bearer …'`` after a warm-up, for ``fastapi_bare`` (no auth, the
   baseline), ``auth_memory`` and ``auth_redis`` (svc-auth) and ``fastapi_users_jwt``
   (fastapi-users' JWT backend, in its own venv). App order rotates per round.
2. **Login**: ``POST /auth/login`` on ``auth_login`` (argon2id at D3, the whole route) with
   ``wrk -c8``, against raw ``argon2-cffi`` verifies at the same parameters on as many
   threads as the server's hashing pool (the CPU count): one server, ``--login-pairs``
   pairs of ``--slice``-second raw and HTTP slices (A-B-B-A), the median of the paired
   ratios, plus a CPU-accounting ratio (CPU per raw verify / server CPU per login).

    uv run python bench/auth_run.py                      # everything, 3 rounds
    uv run python bench/auth_run.py --only http --rounds 1 --duration 5
    uv run python bench/auth_run.py --only login --login-app verify_floor   # the floor

Redis: ``BENCH_REDIS_URL`` (default redis://127.0.0.1:6390); when nothing answers there a
throw-away ``redis-server`` (``_runner.ThrowawayRedis``) is started on that port and
stopped (by PID) at the end. Servers, wrk and the rounds come from ``_runner.py``; wrk
parsing and CPU accounting from the shared ``run_http.py``.
The peer venv: ``--peer-python`` (default /tmp/bench-venvs/auth-peers/bin/python, made
with ``uv venv`` + ``uv pip install -r ../shared/bench/requirements-http.txt
fastapi-users[sqlalchemy]==15.0.5 aiosqlite``); the peer is skipped when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _runner import HERE, SHARED_BENCH, Server, ThrowawayRedis, measure, run_rounds, wrk
from _stats import summary
from run_http import parse_wrk

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390")
PEER_APPS = {"fastapi_users_jwt": "auth_peer_apps"}
LOGIN_LUA = """
wrk.method = "POST"
wrk.body   = '{"email":"bench@example.com","password":"granite harbour lamp drifts east"}'
wrk.headers["Content-Type"] = "application/json"
"""


def _server(app: str, a: argparse.Namespace, workdir: Path) -> Server:
    """uvicorn for ``app`` (the peer from ``--peer-python``), its SQLite and keys in
    ``workdir``; ready once ``GET /ping`` with the token the app wrote answers 200."""
    env = {
        "BENCH_AUTH_DIR": str(workdir),
        "BENCH_TOKEN_FILE": str(workdir / "token"),
        "BENCH_REDIS_URL": REDIS_URL,
        "SVC_SHARED_BENCH": str(SHARED_BENCH),
    }
    python = a.peer_python if app in PEER_APPS else sys.executable
    target = f"{PEER_APPS.get(app, 'auth_apps')}:{app}"

    def bearer() -> dict[str, str]:
        token = _token(workdir)
        return {"Authorization": f"Bearer {token}"} if token else {}

    return Server(
        target,
        port=a.port,
        python=python,
        cwd=HERE,
        env=env,
        ready_headers=bearer,
        ready_timeout=60,
    )


def _token(workdir: Path) -> str | None:
    """The bearer token the app wrote to ``BENCH_TOKEN_FILE`` at startup, if any."""
    token_file = workdir / "token"
    return token_file.read_text().strip() if token_file.exists() else None


def measure_app(app: str, a: argparse.Namespace) -> dict[str, Any]:
    """One run of ``app``: a fresh server and workdir, warm-up, then ``GET /ping`` under load."""
    with (
        tempfile.TemporaryDirectory(prefix=f"auth-bench-{app}-") as tmp,
        _server(app, a, Path(tmp)) as server,
    ):
        token = _token(Path(tmp))
        headers = [f"Authorization: Bearer {token}"] if token else []
        run = measure(
            server, "/ping", warmup=a.warmup, duration=a.duration, conns=a.conns, headers=headers
        )
    return run.result(cpu_util=False)


def raw_verify_rate(seconds: float) -> float:
    """argon2-cffi verifies per second at D3 on ``os.cpu_count()`` threads."""
    return raw_verify(seconds)[0]


def raw_verify(seconds: float) -> tuple[float, float]:
    """(verifies per second, CPU µs per verify) at D3 on ``os.cpu_count()`` threads."""
    import argon2

    hasher = argon2.PasswordHasher(
        time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=argon2.Type.ID
    )
    stored = hasher.hash("granite harbour lamp drifts east")
    threads = os.cpu_count() or 1
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        n = 0
        while time.perf_counter() < deadline:
            hasher.verify(stored, "granite harbour lamp drifts east")
            n += 1
        return n

    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: loop(), range(threads)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return total / wall, cpu / max(total, 1) * 1e6


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU seconds per thread of ``pid`` (from /proc/<pid>/task), keyed
    ``main`` for the event loop's thread and ``t<tid>`` for the others (CPython 3.11 does
    not name OS threads, so the argon2 pool shows as the busiest two)."""
    ticks = os.sysconf("SC_CLK_TCK")
    groups: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        name = "main" if task.name == str(pid) else f"t{task.name}"
        fields = stat[stat.rindex(")") + 2 :].split()
        groups[name] = groups.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return groups


def login_sitting(a: argparse.Namespace) -> dict[str, Any]:
    """One server for the whole sitting; raw and HTTP slices alternate (A-B-B-A …).

    The shared machine's speed drifts by tens of percent over minutes, so each HTTP slice
    is paired with the raw slice next to it and the median of those paired ratios is the
    result. A second reading that drift hardly moves: CPU per verify (raw, process
    time over the slice) / server CPU per login (from /proc).
    """
    pairs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="auth-bench-login-") as tmp:
        script = Path(tmp) / "login.lua"
        script.write_text(LOGIN_LUA)
        with _server(a.login_app, a, Path(tmp)) as server:
            url = server.url("/auth/login")
            wrk(url, a.warmup, a.login_conns, script=script)
            for i in range(a.login_pairs):
                order = ("raw", "http") if i % 2 == 0 else ("http", "raw")
                pair: dict[str, float] = {}
                for what in order:
                    if what == "raw":
                        pair["raw_rps"], pair["raw_cpu_us"] = raw_verify(a.slice)
                    else:
                        cpu0 = server.cpu_seconds()
                        threads0 = thread_cpu_seconds(server.pid)
                        res = parse_wrk(wrk(url, a.slice, a.login_conns, script=script))
                        cpu1 = server.cpu_seconds()
                        threads1 = thread_cpu_seconds(server.pid)
                        done = max(res["requests"], 1)
                        pair["threads_us"] = {  # type: ignore[assignment]
                            name: (threads1[name] - threads0.get(name, 0.0)) / done * 1e6
                            for name in threads1
                            if threads1[name] - threads0.get(name, 0.0) > 0
                        }
                        pair["http_rps"] = res["rps"]
                        pair["non2xx"] = res["non2xx"]
                        pair["http_cpu_us"] = (cpu1 - cpu0) / max(res["requests"], 1) * 1e6
                pair["ratio"] = pair["http_rps"] / pair["raw_rps"]
                pair["cpu_ratio"] = pair["raw_cpu_us"] / pair["http_cpu_us"]
                pairs.append(pair)
                print(
                    f"pair {i} raw {pair['raw_rps']:.1f}/s ({pair['raw_cpu_us']:.0f} us CPU) | "
                    f"login {pair['http_rps']:.1f}/s ({pair['http_cpu_us']:.0f} us CPU) | "
                    f"ratio {pair['ratio']:.3f} cpu-ratio {pair['cpu_ratio']:.3f} "
                    f"non2xx={pair['non2xx']:.0f}",
                    flush=True,
                )
                split = ", ".join(
                    f"{name} {us:.0f}"
                    for name, us in sorted(
                        pair.get("threads_us", {}).items(),  # type: ignore[union-attr]
                        key=lambda item: -item[1],
                    )[:5]
                )
                print(f"    server CPU per login by thread, us: {split}", flush=True)
    ratios = summary([p["ratio"] for p in pairs])
    cpu_ratios = summary([p["cpu_ratio"] for p in pairs])
    print(
        f"\n| measure | median | spread |\n|---|---|---|\n"
        f"| raw argon2id verify (D3, {os.cpu_count()} threads), /s | {summary([p['raw_rps'] for p in pairs])['median']:.1f} | - |\n"
        f"| POST /auth/login ({a.login_app}, D3), /s | {summary([p['http_rps'] for p in pairs])['median']:.1f} | - |\n"
        f"| login / raw verify, paired per slice | {ratios['median']:.3f} | {ratios['spread_pct']}% |\n"
        f"| CPU per verify / server CPU per login | {cpu_ratios['median']:.3f} | {cpu_ratios['spread_pct']}% |\n"
        f"\nnon-2xx {sum(p['non2xx'] for p in pairs):.0f}"
    )
    return {"pairs": pairs, "ratio": ratios, "cpu_ratio": cpu_ratios}


def redis_answers(url: str) -> bool:
    """True when a Redis server answers PING at ``url``."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def table(runs: dict[str, list[dict[str, Any]]], baseline: str) -> dict[str, Any]:
    base = runs.get(baseline)
    out: dict[str, Any] = {}
    print(
        f"\n| app | RPS median | spread | p50 ms | p99 ms | server CPU us/req | RPS / {baseline} | paired min-max | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for app, rs in runs.items():
        row: dict[str, Any] = {
            k: summary([x[k] for x in rs])
            for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req")
        }
        ratio, paired = 0.0, [0.0]
        if base:
            ratio = row["rps"]["median"] / summary([x["rps"] for x in base])["median"]
            paired = [x["rps"] / b["rps"] for x, b in zip(rs, base, strict=False)]
        row["ratio"] = ratio
        row["non2xx"] = sum(x["non2xx"] for x in rs)
        out[app] = row
        print(
            f"| {app} | {row['rps']['median']:.0f} | {row['rps']['spread_pct']}% | "
            f"{row['p50_ms']['median']:.2f} | {row['p99_ms']['median']:.2f} | "
            f"{row['server_cpu_us_per_req']['median']:.1f} | {ratio:.3f} | "
            f"{min(paired):.3f}-{max(paired):.3f} | {row['non2xx']} |"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["all", "http", "login"], default="all")
    ap.add_argument(
        "--apps",
        default="fastapi_bare,fastapi_dep,auth_memory,auth_redis,auth_memory_dep,auth_redis_dep,"
        "fastapi_users_jwt",
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--login-conns", type=int, default=8)
    ap.add_argument("--login-pairs", type=int, default=8, help="raw/HTTP slice pairs")
    ap.add_argument(
        "--login-app",
        default="auth_login",
        help="auth_login (svc-auth's router) or verify_floor (body + one verify, nothing else)",
    )
    ap.add_argument("--slice", type=int, default=4, help="seconds per login slice")
    ap.add_argument("--port", type=int, default=8078)
    ap.add_argument("--peer-python", default="/tmp/bench-venvs/auth-peers/bin/python")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk)")
    apps = a.apps.split(",")
    if "fastapi_users_jwt" in apps and not Path(a.peer_python).exists():
        print(f"skipping fastapi_users_jwt: {a.peer_python} missing", flush=True)
        apps.remove("fastapi_users_jwt")
    result: dict[str, Any] = {"params": vars(a)}
    needs_redis = any(app.startswith("auth_redis") for app in apps)
    with ExitStack() as stack:
        if a.only in ("all", "http") and needs_redis and not redis_answers(REDIS_URL):
            port = urlsplit(REDIS_URL).port or 6379
            stack.enter_context(ThrowawayRedis(port))  # on BENCH_REDIS_URL's port
        if a.only in ("all", "http"):
            runs = run_rounds(
                apps,
                a.rounds,
                lambda app: measure_app(app, a),
                lambda r, app, res: (
                    f"round {r} {app:20s} rps={res['rps']:9.1f} p50={res['p50_ms']:.2f}ms "
                    f"cpu/req={res['server_cpu_us_per_req']:.1f}us non2xx={res['non2xx']}"
                ),
            )
            result["http"] = table(runs, "fastapi_bare")
        if a.only in ("all", "login"):
            result["login"] = login_sitting(a)
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
