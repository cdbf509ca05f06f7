"""Client CPU per Redis script call: ``RedisKV``'s multiplexed connection vs redis-py.

    uv run python bench/kv_pipeline_micro.py [--url redis://127.0.0.1:6379/0] [--n 4000]

``conc`` callers run ``N / conc`` ``kv.run(script)`` calls each, concurrently, on uvloop;
the figure is process CPU time per call. Three clients: ``RedisKV`` built from the URL
(the default: one multiplexed connection, ``svc_core.kv._resp``), ``RedisKV`` around a
redis-py client passed in (a redis-py pipeline per event-loop iteration) and
``auto_pipeline=False`` (redis-py, one round trip per call). Keys live under a prefix unique
to the run and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import TYPE_CHECKING

import uvloop

from svc_core.kv import RedisKV, Script

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

INCR = Script(
    lua="return redis.call('INCR', KEYS[1])",
    local=lambda state, keys, _args, _now: state.incr(keys[0], 1),
    name="bench-incr",
)


async def per_call_us(call: Callable[[], Awaitable[object]], n: int, conc: int) -> float:
    """Process CPU µs per call with ``conc`` concurrent callers (after one warm-up pass)."""

    async def worker() -> None:
        for _ in range(n // conc):
            await call()

    await asyncio.gather(*(worker() for _ in range(conc)))
    t0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return (time.process_time() - t0) / n * 1e6


async def main(url: str, n: int) -> None:
    prefix = f"bench-pipe:{uuid.uuid4().hex[:8]}:"
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    async with (
        RedisKV(url, prefix, timeout=2) as channel,
        RedisKV(client, prefix, timeout=2) as piped,
        RedisKV(url, prefix, timeout=2, auto_pipeline=False) as single,
    ):
        print(
            "| callers | redis-py, one round trip per call | redis-py pipeline per iteration "
            "| multiplexed connection (default) |"
        )
        print("|---|---|---|---|")
        for conc in (1, 8, 32):
            one = await per_call_us(lambda: single.run(INCR, ["n"], []), n, conc)
            many = await per_call_us(lambda: piped.run(INCR, ["n"], []), n, conc)
            ours = await per_call_us(lambda: channel.run(INCR, ["n"], []), n, conc)
            print(f"| {conc} | {one:.1f} µs | {many:.1f} µs | {ours:.1f} µs |")
        await channel.delete("n")
    await client.aclose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--n", type=int, default=4000)
    a = ap.parse_args()
    uvloop.run(main(a.url, a.n))
