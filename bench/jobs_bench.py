"""svc-jobs vs raw taskiq-redis RedisStreamBroker vs arq: 10,000 no-op jobs, one worker.

One command, no editing (run from the repository root; needs redis-server on PATH)::

    uv run python bench/jobs_bench.py --repeats 3 --out /tmp/jobs-bench.json

It follows ../shared/bench/queue_bench.py (same no-op job counting, same two modes:
``e2e`` = worker idle-waiting, first enqueue → N-th job done, client enqueuing
sequentially; ``drain`` = queue pre-filled, worker's first → N-th job) and runs, in one
sitting, against a throw-away ``redis-server`` it starts on a free loopback port (and
stops by PID):

* ``svc_jobs``       — ``svc-infra jobs worker`` (our layer on taskiq-redis' stream broker:
  reclaim, heartbeat leases, XACK+XDEL, retry/DLQ bookkeeping, context restore), client
  ``Jobs.enqueue``; concurrency 100 and batch 100, like taskiq's defaults;
* ``taskiq_stream``  — raw ``taskiq worker`` with taskiq-redis' ``RedisStreamBroker``
  (taskiq defaults), this workspace's venv (taskiq 0.13.0, taskiq-redis 1.2.4, redis 8.1);
* ``arq_tuned``      — arq 0.28 (max_jobs 100, poll_delay 0.01 s) from a venv built from
  ../shared/bench/requirements-arq.txt under /tmp/bench-venvs/arq (made if missing).

Every run is bounded by ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("BENCH_SHARED", "/work/shared/bench"))
ARQ_VENV = Path(os.environ.get("BENCH_ARQ_VENV", "/tmp/bench-venvs/arq"))  # noqa: S108 - brief
BIN = Path(sys.executable).parent

sys.path.insert(0, str(SHARED))
from _stats import summary, write_json  # noqa: E402


def queues() -> dict[str, tuple[dict[str, str], list[str], list[str], Path]]:
    """name -> (env, worker command, enqueue command, cwd)."""
    py = sys.executable
    arq_py = str(ARQ_VENV / "bin" / "python")
    svc_worker = [
        py,
        "-c",
        "from svc_jobs.cli import jobs_cli; jobs_cli()",
        "worker",
        "--app",
        "jobs_bench_jobs",
    ]
    return {
        "svc_jobs": (
            {"BENCH_QUEUE": "svc_jobs", "SVC_JOBS__CONCURRENCY": "100", "SVC_JOBS__BATCH": "100"},
            svc_worker,
            [py, str(HERE / "jobs_bench.py"), "enqueue-svc"],
            HERE,
        ),
        "taskiq_stream": (
            {"BENCH_QUEUE": "taskiq_stream"},
            [str(BIN / "taskiq"), "worker", "queue_jobs:broker", "--workers", "1"],
            [py, str(SHARED / "queue_bench.py"), "enqueue"],
            SHARED,
        ),
        "arq_tuned": (
            {"BENCH_QUEUE": "arq", "BENCH_ARQ_MAX_JOBS": "100", "BENCH_ARQ_POLL_DELAY": "0.01"},
            [str(ARQ_VENV / "bin" / "arq"), "queue_jobs.ArqWorker"],
            [arq_py, str(SHARED / "queue_bench.py"), "enqueue"],
            SHARED,
        ),
    }


def ensure_arq_venv() -> None:
    if (ARQ_VENV / "bin" / "arq").exists():
        return
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", str(ARQ_VENV), "--python", "3.11"], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "-r", str(SHARED / "requirements-arq.txt")],
            env={**os.environ, "VIRTUAL_ENV": str(ARQ_VENV)},
            check=True,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(ARQ_VENV)], check=True)
        subprocess.run(
            [
                str(ARQ_VENV / "bin" / "pip"),
                "install",
                "-q",
                "-r",
                str(SHARED / "requirements-arq.txt"),
            ],
            check=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(tmp: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def flush(url: str) -> None:
    port = url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    subprocess.run(["redis-cli", "-p", port, "flushall"], check=True, capture_output=True)


def wait_file(path: Path, deadline: float, *, nonempty: bool = False) -> None:
    while not path.exists() or (nonempty and path.stat().st_size == 0):
        if time.time() > deadline:
            raise TimeoutError(path)
        time.sleep(0.005)


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process of group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp, after state and ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the group of the worker we started
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_once(name: str, mode: str, n: int, url: str, timeout: float, tmp: str) -> dict[str, float]:
    extra, worker_cmd, enqueue_cmd, cwd = queues()[name]
    ready, done = Path(tmp) / "ready", Path(tmp) / "done"
    for p in (ready, done):
        p.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVC_")}
    env.update(
        BENCH_N=str(n),
        BENCH_DONE=str(done),
        BENCH_READY=str(ready),
        BENCH_REDIS_URL=url,
        BENCH_SHARED=str(SHARED),
        SVC_REDIS_URL=url,
        SVC_REDIS_PREFIX="bench:",
        SVC_DATA_DIR=tmp,
        PYTHONPATH=os.pathsep.join([str(HERE), str(SHARED)]),
        **extra,
    )
    flush(url)
    deadline = time.time() + timeout

    def client() -> dict[str, float]:
        out = subprocess.run(
            [*enqueue_cmd, "--n", str(n)],
            env=env,
            cwd=cwd,
            check=True,
            capture_output=True,
            text=True,
            timeout=max(1, deadline - time.time()),
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    def worker() -> subprocess.Popen[bytes]:
        log = (Path(tmp) / f"{name}-{mode}.log").open("ab")
        return subprocess.Popen(
            worker_cmd,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    proc = None
    try:
        if mode == "e2e":
            proc = worker()
            wait_file(ready, deadline)
            time.sleep(0.5)  # both kinds: let the worker reach its first read
            enq = client()
        else:
            enq = client()
            proc = worker()
        wait_file(done, deadline, nonempty=True)
        first, last = map(float, done.read_text().split())
        cpu = group_cpu(proc.pid) if proc else 0.0
    finally:
        if proc:
            stop(proc)
    res = {"enqueue_per_s": n / (enq["t1"] - enq["t0"]), "worker_cpu_us_per_job": cpu / n * 1e6}
    if mode == "e2e":
        res["wall_s"] = last - enq["t0"]
        res["jobs_per_s"] = n / res["wall_s"]
    else:
        res["wall_s"] = last - first
        res["jobs_per_s"] = (n - 1) / res["wall_s"]
    return res


async def _enqueue_svc(n: int) -> tuple[float, float]:
    import jobs_bench_jobs  # noqa: F401 - declares the job

    from svc_core.kv import kv_from_settings
    from svc_core.plugin import Runtime
    from svc_core.settings import SvcSettings
    from svc_core.sql import Database
    from svc_jobs import Jobs

    settings = SvcSettings()
    kv = kv_from_settings(settings)
    database = Database.from_settings(settings)
    jobs = Jobs(Runtime(settings=settings, kv=kv, database=database))
    await jobs.start()
    t0 = time.time()
    for _ in range(n):
        await jobs.enqueue("bench.noop")
    t1 = time.time()
    await jobs.stop()
    await kv.aclose()
    await database.aclose()
    return t0, t1


def report(runs: dict[str, list[dict[str, Any]]], n: int, modes: list[str]) -> None:
    """Print the markdown table and the ratios svc_jobs / peer."""
    keys = ("jobs_per_s", "wall_s", "enqueue_per_s", "worker_cpu_us_per_job")
    cols = "jobs/s median | min-max | spread | wall s | enqueue/s | worker CPU us/job"
    print(f"\n| queue / mode (N={n}) | {cols} |")
    print("|---|---|---|---|---|---|---|")
    table: dict[str, dict[str, Any]] = {}
    for key, rs in runs.items():
        ok = [x for x in rs if "error" not in x]
        if not ok:
            print(f"| {key} | timeout | | | | | |")
            continue
        row = {k: summary([float(x[k]) for x in ok]) for k in keys}
        table[key] = row
        j = row["jobs_per_s"]
        print(
            f"| {key} | {j['median']:.0f} | {j['min']:.0f}-{j['max']:.0f} | {j['spread_pct']}% | "
            f"{row['wall_s']['median']:.2f} | {row['enqueue_per_s']['median']:.0f} | "
            f"{row['worker_cpu_us_per_job']['median']:.0f} |"
        )
    for mode in modes:
        ours = table.get(f"svc_jobs {mode}")
        for peer in ("taskiq_stream", "arq_tuned"):
            theirs = table.get(f"{peer} {mode}")
            if ours and theirs:
                rate = ours["jobs_per_s"]["median"] / theirs["jobs_per_s"]["median"]
                cpu = (
                    ours["worker_cpu_us_per_job"]["median"]
                    / theirs["worker_cpu_us_per_job"]["median"]
                )
                print(
                    f"svc_jobs / {peer} ({mode}): {rate:.2f}x jobs/s, {cpu:.2f}x worker CPU per job"
                )


def main() -> None:
    if sys.argv[1:2] == ["enqueue-svc"]:
        import uvloop

        n = int(sys.argv[sys.argv.index("--n") + 1])
        t0, t1 = uvloop.run(_enqueue_svc(n))
        print(json.dumps({"t0": t0, "t1": t1}))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--queues", default="svc_jobs,taskiq_stream,arq_tuned")
    ap.add_argument("--modes", default="e2e,drain")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if "arq_tuned" in a.queues:
        ensure_arq_venv()
    tmp = tempfile.mkdtemp(prefix="jobs_bench_")
    redis, url = start_redis(tmp)
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        for r in range(a.repeats):
            for name in a.queues.split(","):
                for mode in a.modes.split(","):
                    try:
                        res: dict[str, object] = dict(
                            run_once(name, mode, a.n, url, a.timeout, tmp)
                        )
                    except (TimeoutError, subprocess.TimeoutExpired) as exc:
                        res = {"error": f"timeout {exc}"}
                    runs.setdefault(f"{name} {mode}", []).append(res)
                    print(f"rep {r} {name:14s} {mode:5s} {res}", flush=True)
    finally:
        redis.kill()
        redis.wait(10)
    report(runs, a.n, a.modes.split(","))
    write_json(a.out, {"params": vars(a), "runs": runs, "logs": tmp})


if __name__ == "__main__":
    main()
