"""svc-core middleware stack vs bare FastAPI, in one sitting, with the shared runner.

Reuses ``run_http.py`` from the shared anchor benchmark (its wrk parsing, CPU accounting,
round rotation, summary table and JSON output); only the server command differs: it
serves ``http_apps_svc:<app>`` (the shared factories plus ours) from this folder.

    uv run python bench/run_core_http.py --rounds 3 --out /tmp/core-http.json

Options are ``run_http.py``'s; ``--apps`` defaults to
``fastapi_bare,fastapi_asgi3,svc_core_stack``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import http_apps_svc  # noqa: E402 - puts the shared bench folder on sys.path

sys.path.insert(0, str(http_apps_svc.SHARED_BENCH))
import run_http  # noqa: E402

DEFAULT_APPS = "fastapi_bare,fastapi_asgi3,svc_core_stack"


def run_one(app: str, port: int, duration: int, warmup: int, conns: int) -> dict[str, object]:
    """``run_http.run_one`` serving ``http_apps_svc`` instead of ``http_apps``."""
    url = f"http://127.0.0.1:{port}/ping"
    cmd = [
        *(sys.executable, "-m", "uvicorn", f"http_apps_svc:{app}", "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"),
        *("--http", "httptools", "--no-access-log", "--log-level", "warning"),
    ]
    env = {**os.environ, "SVC_SHARED_BENCH": str(http_apps_svc.SHARED_BENCH)}
    server = subprocess.Popen(cmd, cwd=HERE, env=env)
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
    """Run ``run_http.main`` with our server command and default app list."""
    if not any(arg == "--apps" or arg.startswith("--apps=") for arg in sys.argv[1:]):
        sys.argv[1:1] = ["--apps", DEFAULT_APPS]
    run_http.run_one = run_one
    run_http.http_apps = http_apps_svc  # REDIS_APPS / ALL lookups
    run_http.main()


if __name__ == "__main__":
    main()
