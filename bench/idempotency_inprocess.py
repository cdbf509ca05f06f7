"""svc-idempotency's cost per first request, paired in process (the steadier reading).

The ASGI apps of ``idempotency_apps.py`` (``plain`` and ``idem_memory``: ``POST /items``
inserting one row into SQLite) are called directly, no HTTP, one request of each in turn
(the order flips every pair), and the event loop thread's CPU time is summed per app.
Interleaving one by one means both apps see the same moment of a machine whose speed
drifts by tens of percent within minutes, which HTTP sittings of several seconds do not.
Each request carries a new ``Idempotency-Key``, so every idempotent request runs the
handler (a first request).

    uv run python bench/idempotency_inprocess.py                # 6,000 pairs, 3 repeats
    uv run python bench/idempotency_inprocess.py --pairs 2000 --repeats 1

The ratio printed (plain CPU / idempotent CPU) is what an HTTP server bound by its event
loop would show as RPS ratio if HTTP cost nothing; HTTP adds the same to both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _asgi import post_scope

BODY = b'{"name":"bench","qty":1}'
_KEYS = itertools.count()


def _request(app: Any, *, keyed: bool) -> Any:
    """A coroutine function sending one ``POST /items`` to ``app``."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(_message: dict[str, Any]) -> None:
        return None

    base = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ]

    async def one() -> None:
        headers = list(base)
        if keyed:
            headers.append((b"idempotency-key", f"inprocess-{next(_KEYS)}".encode()))
        scope = post_scope(app, "/items", headers)
        await app(scope, receive, send)

    return one


async def sitting(pairs: int) -> tuple[float, float]:
    """CPU µs per request of ``plain`` and ``idem_memory``, ``pairs`` interleaved pairs."""
    import idempotency_apps

    apps = {"plain": idempotency_apps.plain(), "idem_memory": idempotency_apps.idem_memory()}
    contexts = [app.router.lifespan_context(app) for app in apps.values()]
    for context in contexts:
        await context.__aenter__()
    try:
        calls = {
            "plain": _request(apps["plain"], keyed=False),
            "idem_memory": _request(apps["idem_memory"], keyed=True),
        }
        for _ in range(300):  # warm-up: compiled statements, caches, pools
            for call in calls.values():
                await call()
        spent = dict.fromkeys(calls, 0.0)
        clock = time.thread_time
        order = list(calls.items())
        for i in range(pairs):
            for name, call in order if i % 2 == 0 else reversed(order):
                start = clock()
                await call()
                spent[name] += clock() - start
    finally:
        for context in contexts:
            await context.__aexit__(None, None, None)
    return spent["plain"] / pairs * 1e6, spent["idem_memory"] / pairs * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=6000, help="interleaved request pairs")
    ap.add_argument("--repeats", type=int, default=3, help="sittings, each with fresh apps")
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    ratios = []
    for r in range(a.repeats):
        os.environ["BENCH_DB"] = str(Path(tempfile.mkdtemp(prefix="idem-inproc-")) / "b.db")
        plain, idem = asyncio.run(sitting(a.pairs))
        ratios.append(plain / idem)
        print(
            f"repeat {r}: plain {plain:.0f} us, idem_memory {idem:.0f} us, "
            f"layer {idem - plain:.0f} us, ratio {plain / idem:.3f}",
            flush=True,
        )
    print(f"median ratio plain / idem_memory: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
