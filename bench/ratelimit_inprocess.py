"""svc-ratelimit's memory store in process: CPU per request vs bare FastAPI, paired.

Calls the ASGI apps of ``ratelimit_apps.py`` (and a bare FastAPI ``GET /ping``) directly
on uvloop with a canned scope, no server and no network, in rotated batches; each batch of
a limited app is paired with the bare batch of the same round, so the machine's drift
cancels. Reports the median of the paired CPU ratios (bare / app) and their quartiles.
It leaves out what the server pays for the two extra response fields (the HTTP sittings in
``ratelimit_run.py`` include it).

    uv run python bench/ratelimit_inprocess.py --rounds 40 --batch 500
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING

import ratelimit_apps
import uvloop
from core_http_micro import SCOPE, receive, send
from fastapi import FastAPI

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def fastapi_bare() -> FastAPI:
    app = FastAPI()

    @app.get("/ping", response_model=None)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


async def batch(app: ASGIApp, n: int) -> float:
    """CPU microseconds per request over ``n`` requests."""
    start = time.process_time()
    for _ in range(n):
        await app({**SCOPE, "state": {}}, receive, send)
    return (time.process_time() - start) / n * 1e6


async def main(rounds: int, n: int, names: list[str]) -> None:
    apps: dict[str, ASGIApp] = {"fastapi_bare": fastapi_bare()}
    apps.update({name: getattr(ratelimit_apps, name)() for name in names})
    for app in apps.values():
        await batch(app, 200)  # warm up
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    order = list(apps)
    for r in range(rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            cpu[name].append(await batch(apps[name], n))
    print("| app | CPU µs/request (median) | CPU ratio bare/app (paired median) | quartiles |")
    print("|---|---|---|---|")
    for name, values in cpu.items():
        ratios = [b / a for b, a in zip(cpu["fastapi_bare"], values, strict=True)]
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        print(
            f"| {name} | {statistics.median(values):.1f} | {statistics.median(ratios):.3f} "
            f"| {q1:.3f}-{q3:.3f} |"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--apps", default="svc_rl_mem,svc_rl_mem_route")
    a = ap.parse_args()
    uvloop.run(main(a.rounds, a.batch, a.apps.split(",")))
