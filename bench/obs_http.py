"""svc-obs metrics middleware vs prometheus-fastapi-instrumentator vs bare FastAPI.

One sitting, the shared runner (``run_http.py`` of the anchor folder through
``_runner.shared_main``: options, wrk parsing, CPU accounting, round rotation, summary
table, JSON). Each app is served by its own Python:

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
import sys
from pathlib import Path
from typing import Any

from _runner import HERE, SHARED_BENCH, Server, measure, peer_python, shared_main

DEFAULT_APPS = "fastapi_bare,fastapi_prom,obs_metrics,obs_layers"
PEER_VENV = Path(os.environ.get("OBS_BENCH_VENV", "/tmp/bench-venvs/http"))  # noqa: S108 - scratch venv
PEER_APPS = {"fastapi_prom"}


def server(app: str, port: int) -> Server:
    """The uvicorn server for ``app``: its interpreter, module and working directory."""
    if app in PEER_APPS:
        requirements = SHARED_BENCH / "requirements-http.txt"
        python = peer_python(PEER_VENV, requirements, ["prometheus_fastapi_instrumentator"])
        target, cwd = f"http_apps:{app}", SHARED_BENCH
    elif app.startswith("obs_"):
        python, target, cwd = sys.executable, f"obs_apps:{app}", HERE
    else:
        python, target, cwd = sys.executable, f"http_apps_svc:{app}", HERE
    env: dict[str, str | None] = {
        "SVC_SHARED_BENCH": str(SHARED_BENCH),
        "PROMETHEUS_MULTIPROC_DIR": None,  # single process: the default registry
    }
    return Server(target, port=port, python=python, cwd=cwd, env=env)


def run_one(app: str, port: int, duration: int, warmup: int, conns: int) -> dict[str, Any]:
    """``run_http.run_one`` with a per-app interpreter."""
    with server(app, port) as srv:
        run = measure(srv, "/ping", warmup=warmup, duration=duration, conns=conns)
    return run.result()


def main() -> None:
    """Run ``run_http.main`` with per-app interpreters and our default app list."""
    shared_main(run_one, DEFAULT_APPS)


if __name__ == "__main__":
    main()
