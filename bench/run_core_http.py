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

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from _runner import (
    SHARED_BENCH,
    Server,
    free_port,
    interleaved,
    interleaved_table,
    measure,
    shared_main,
)

DEFAULT_APPS = "fastapi_bare,fastapi_asgi3,svc_core_stack"


def run_one(app: str, port: int, duration: int, warmup: int, conns: int) -> dict[str, Any]:
    """``run_http.run_one`` serving ``http_apps_svc`` instead of ``http_apps``."""
    env = {"SVC_SHARED_BENCH": str(SHARED_BENCH)}
    with Server(f"http_apps_svc:{app}", port=port, env=env) as server:
        run = measure(server, "/ping", warmup=warmup, duration=duration, conns=conns)
    return run.result()


def interleaved_sitting(cycles: int, seconds: int, apps: list[str], out: str) -> None:
    """Every app up at once, short slices in rotation, ratios paired within a cycle."""
    env = {"SVC_SHARED_BENCH": str(SHARED_BENCH)}
    with contextlib.ExitStack() as stack:
        servers = {
            app: stack.enter_context(Server(f"http_apps_svc:{app}", port=free_port(), env=env))
            for app in apps
        }
        result = interleaved(
            servers, "fastapi_bare", "/ping", cycles=cycles, seconds=seconds, conns=32
        )
    print()
    print(interleaved_table(result, "fastapi_bare"))
    if out:
        Path(out).write_text(json.dumps(result, indent=2, default=str))
        print(f"wrote {out}")


def main() -> None:
    """Run ``run_http.main`` with our server and default app list (or ``--interleave``)."""
    if "--interleave" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--interleave", type=int, required=True, help="cycles")
        ap.add_argument("--slice", type=int, default=3, help="seconds per app per cycle")
        ap.add_argument("--apps", default=DEFAULT_APPS)
        ap.add_argument("--out", default="")
        a = ap.parse_args()
        interleaved_sitting(a.interleave, a.slice, a.apps.split(","), a.out)
        return
    shared_main(run_one, DEFAULT_APPS)


if __name__ == "__main__":
    main()
