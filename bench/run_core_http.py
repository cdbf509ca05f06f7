"""svc-core middleware stack vs bare FastAPI, in one sitting, with the shared runner.

Reuses ``run_http.py`` from the shared anchor benchmark through ``_runner.shared_main`` (its
options, wrk parsing, CPU accounting, round rotation, summary table and JSON output); only
the server differs: ``_runner.Server`` serves ``http_apps_svc:<app>`` (the shared
factories plus ours) from this folder.

    uv run python bench/run_core_http.py --rounds 3 --out /tmp/core-http.json

Options are ``run_http.py``'s; ``--apps`` defaults to
``fastapi_bare,fastapi_asgi3,svc_core_stack``.

    uv run python bench/run_core_http.py --interleave 8 --slice 3

runs the drift-resistant sitting instead (``_runner.interleaved``): every app up at once,
short slices in rotation, ratios paired within each cycle.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from _runner import (
    SHARED_BENCH,
    Server,
    free_port,
    interleaved_main,
    measure,
    shared_main,
)

if TYPE_CHECKING:
    import contextlib

DEFAULT_APPS = "fastapi_bare,fastapi_asgi3,svc_core_stack"


def run_one(app: str, port: int, duration: int, warmup: int, conns: int) -> dict[str, Any]:
    """``run_http.run_one`` serving ``http_apps_svc`` instead of ``http_apps``."""
    env = {"SVC_SHARED_BENCH": str(SHARED_BENCH)}
    with Server(f"http_apps_svc:{app}", port=port, env=env) as server:
        run = measure(server, "/ping", warmup=warmup, duration=duration, conns=conns)
    return run.result()


def _servers(_stack: contextlib.ExitStack[Any]) -> Any:
    env = {"SVC_SHARED_BENCH": str(SHARED_BENCH)}
    return lambda app: Server(f"http_apps_svc:{app}", port=free_port(), env=env)


def main() -> None:
    """Run ``run_http.main`` with our server and default app list (or ``--interleave``)."""
    if "--interleave" in sys.argv:
        interleaved_main(DEFAULT_APPS, _servers)
        return
    shared_main(run_one, DEFAULT_APPS)


if __name__ == "__main__":
    main()
