"""svc-obs metrics middleware vs prometheus-fastapi-instrumentator vs bare FastAPI.

One sitting, the shared runner (``run_http.py`` of the anchor folder: wrk parsing, CPU
accounting, round rotation, summary table, JSON). Each app is served by its own Python:

* ``fastapi_bare``, ``obs_metrics``, ``obs_layers``: the workspace venv (this interpreter);
* ``fastapi_prom`` (the instrumentator, defaults): the peers' venv built from the anchor
  folder's ``requirements-http.txt`` (same FastAPI/Starlette/uvicorn versions), made
  under ``$OBS_BENCH_VENV`` (default ``/tmp/bench-venvs/http``) when missing.

    uv run python bench/obs_http.py --rounds 5 --out /tmp/obs-http.json

Options are ``run_http.py``'s; ``--apps`` defaults to
``fastapi_bare,fastapi_prom,obs_metrics,obs_layers``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import http_apps_svc  # noqa: E402 - puts the shared bench folder on sys.path

SHARED = http_apps_svc.SHARED_BENCH
sys.path.insert(0, str(SHARED))
import run_http  # noqa: E402

DEFAULT_APPS = "fastapi_bare,fastapi_prom,obs_metrics,obs_layers"
PEER_VENV = Path(os.environ.get("OBS_BENCH_VENV", "/tmp/bench-venvs/http"))  # noqa: S108 - scratch venv
PEER_APPS = {"fastapi_prom"}


def peer_python() -> str:
    """The peers' venv interpreter, creating the venv from requirements-http.txt if needed."""
    python = PEER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import prometheus_fastapi_instrumentator, uvloop, httptools"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return str(python)
    requirements = str(SHARED / "requirements-http.txt")
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "--python", sys.executable, str(PEER_VENV)], check=True)
        subprocess.run([uv, "pip", "install", "-p", str(python), "-r", requirements], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-r", requirements], check=True)
    return str(python)


def server_command(app: str, port: int) -> tuple[list[str], Path]:
    """The uvicorn command line and working directory serving ``app``."""
    if app in PEER_APPS:
        python, target, cwd = peer_python(), f"http_apps:{app}", SHARED
    elif app.startswith("obs_"):
        python, target, cwd = sys.executable, f"obs_apps:{app}", HERE
    else:
        python, target, cwd = sys.executable, f"http_apps_svc:{app}", HERE
    cmd = [
        *(python, "-m", "uvicorn", target, "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"),
        *("--http", "httptools", "--no-access-log", "--log-level", "warning"),
    ]
    return cmd, cwd


def run_one(app: str, port: int, duration: int, warmup: int, conns: int) -> dict[str, object]:
    """``run_http.run_one`` with a per-app interpreter."""
    url = f"http://127.0.0.1:{port}/ping"
    cmd, cwd = server_command(app, port)
    env = {**os.environ, "SVC_SHARED_BENCH": str(SHARED)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # single process: the default registry
    server = subprocess.Popen(cmd, cwd=cwd, env=env)
    try:
        run_http.wait_ready(url)
        wrk = ["wrk", "-t1", f"-c{conns}", "--latency", url]
        warm = [*wrk[:1], f"-d{warmup}s", *wrk[1:]]
        subprocess.run(warm, check=True, capture_output=True, timeout=warmup + 30)
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
    return res


def main() -> None:
    """Run ``run_http.main`` with per-app interpreters and our default app list."""
    if not any(arg == "--apps" or arg.startswith("--apps=") for arg in sys.argv[1:]):
        sys.argv[1:1] = ["--apps", DEFAULT_APPS]
    run_http.run_one = run_one
    run_http.http_apps = http_apps_svc
    run_http.main()


if __name__ == "__main__":
    main()
