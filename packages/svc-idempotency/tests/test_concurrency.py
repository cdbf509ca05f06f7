"""1,000 concurrent requests with one key run the handler exactly once, on every store."""

from __future__ import annotations

import asyncio

import httpx
from svc_idempotency_testkit import Engine

N = 1000


async def test_thousand_concurrent_same_key_requests_execute_once(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    engine.gate = asyncio.Event()
    headers = {"Idempotency-Key": "one-key-for-all"}

    async def send() -> httpx.Response:
        return await client.post("/items", json={"name": "a"}, headers=headers)

    tasks = [asyncio.create_task(send()) for _ in range(N)]
    # Let the first half pile up while the handler is held, then release it.
    for _ in range(500):
        if engine.calls.get("items") and sum(t.done() for t in tasks) >= N // 2:
            break
        await asyncio.sleep(0.01)
    engine.gate.set()
    responses = await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)

    assert engine.calls["items"] == 1
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, sorted(set(statuses))
    executed = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(executed) == 1
    replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert all(r.content == executed[0].content for r in replays)
    assert statuses.count(409) >= 1
    # Once settled, every retry is a replay of the single execution.
    after = await client.post("/items", json={"name": "a"}, headers=headers)
    assert after.headers["idempotent-replayed"] == "true"
    assert after.content == executed[0].content
