"""Idempotency-Key over HTTP (ID-02..ID-05) on every store, in process.

Each test runs on memory, Redis, SQL on SQLite and SQL on Postgres (the ``engine``
fixture). Handlers count their executions, so "not re-run" is checked directly.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from svc_idempotency_testkit import Engine

from svc_core.errors import problem_type

PROBLEM = "application/problem+json"


def new_key() -> str:
    return str(uuid.uuid4())


def assert_problem(resp: httpx.Response, status: int, slug: str | None = None) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status
    if slug is not None:
        assert body["type"] == problem_type(slug)
    return body


async def test_retry_after_completion_replays_without_running_again(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    key = new_key()
    first = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert engine.calls["items"] == 1


async def test_json_key_order_and_spacing_do_not_change_the_payload(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    key = new_key()
    headers = {"Idempotency-Key": key, "content-type": "application/json"}
    await client.post("/items", content=b'{"name":"a","qty":2}', headers=headers)
    again = await client.post("/items", content=b'{ "qty": 2, "name": "a" }', headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert engine.calls["items"] == 1


async def test_quoted_sf_string_key_is_the_same_key(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    key = new_key()
    await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    again = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": f'"{key}"'})
    assert again.headers["idempotent-replayed"] == "true"
    assert engine.calls["items"] == 1


async def test_ttl_expiry_executes_as_new(client: httpx.AsyncClient, engine: Engine) -> None:
    """ID-02: within 24 h a replay; after the TTL the key is new again (frozen clock)."""
    key = new_key()
    await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    if engine.clock is None:
        # Redis and Postgres keep their own clocks: shorten the TTL of a fresh engine.
        engine.manager.ttl = 1.0
        key = new_key()
        await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
        await asyncio.sleep(1.3)
    else:
        engine.clock.advance(24 * 3600 - 1)
        within = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
        assert within.headers["idempotent-replayed"] == "true"
        engine.clock.advance(2)
    before = engine.calls["items"]
    after = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    assert after.status_code == 201
    assert "idempotent-replayed" not in after.headers
    assert engine.calls["items"] == before + 1


async def test_different_body_is_422_and_not_run(client: httpx.AsyncClient, engine: Engine) -> None:
    """ID-03: one field changed."""
    key = new_key()
    await client.post("/items", json={"name": "a", "qty": 1}, headers={"Idempotency-Key": key})
    resp = await client.post(
        "/items", json={"name": "a", "qty": 2}, headers={"Idempotency-Key": key}
    )
    assert_problem(resp, 422, "idempotency-key-mismatch")
    assert engine.calls["items"] == 1


async def test_same_key_on_another_route_method_or_path_is_422(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """ID-03: the key is bound to the request it was first used with."""
    key = new_key()
    headers = {"Idempotency-Key": key}
    await client.post("/items", json={"name": "a"}, headers=headers)
    assert_problem(await client.post("/other", json={"name": "a"}, headers=headers), 422)
    assert_problem(await client.put("/items", json={"name": "a"}, headers=headers), 422)
    assert engine.calls == {"items": 1}
    key2 = new_key()
    await client.patch("/items/1", json={"name": "a"}, headers={"Idempotency-Key": key2})
    resp = await client.patch("/items/2", json={"name": "a"}, headers={"Idempotency-Key": key2})
    assert_problem(resp, 422)
    assert engine.calls["patch"] == 1


async def test_keys_are_scoped_to_principal_and_tenant(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    key = new_key()
    await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    bob = await client.post(
        "/items", json={"name": "a"}, headers={"Idempotency-Key": key, "x-test-user": "bob"}
    )
    other_tenant = await client.post(
        "/items", json={"name": "a"}, headers={"Idempotency-Key": key, "x-test-tenant": "t2"}
    )
    for resp in (bob, other_tenant):
        assert resp.status_code == 201
        assert "idempotent-replayed" not in resp.headers
    assert engine.calls["items"] == 3


async def test_missing_key_where_required_is_400_with_doc_link(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """ID-04."""
    body = assert_problem(await client.post("/items", json={"name": "a"}), 400)
    assert body["type"] == problem_type("idempotency-key-missing")
    assert str(body["type"]).startswith("https://")
    assert "items" not in engine.calls


async def test_optional_route_without_key_runs_every_time(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    for _ in range(2):
        assert (await client.patch("/items/1", json={"name": "a"})).status_code == 200
    assert engine.calls["patch"] == 2


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a" * 256,
        '"' + "a" * 256 + '"',
        "a,b",
        '"a", "b"',
        "ab\x01cd",
        "ab cd",
        '"unterminated',
        '"a";x=1',
        "caf\u00e9",
    ],
    ids=[
        "empty",
        "256",
        "quoted-256",
        "list",
        "sf-list",
        "control",
        "space",
        "unterminated",
        "params",
        "non-ascii",
    ],
)
async def test_malformed_keys_are_400(
    client: httpx.AsyncClient, engine: Engine, value: str
) -> None:
    """ID-04: too long, control characters, not an sf-string."""
    raw = [(b"idempotency-key", value.encode("latin-1")), (b"content-type", b"application/json")]
    transport = client._transport
    request = httpx.Request("POST", "http://test/items", headers=raw, content=b'{"name":"a"}')
    request.headers["x-test-user"] = "alice"
    resp = await transport.handle_async_request(request)
    await resp.aread()
    assert resp.status_code == 400, value
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert "items" not in engine.calls


async def test_two_header_lines_are_a_list_and_400(client: httpx.AsyncClient) -> None:
    headers = [("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    resp = await client.post("/items", json={"name": "a"}, headers=headers)
    assert_problem(resp, 400, "idempotency-key-invalid")


async def test_key_of_255_chars_is_accepted(client: httpx.AsyncClient) -> None:
    resp = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": "k" * 255})
    assert resp.status_code == 201


async def test_validation_failure_stores_nothing(client: httpx.AsyncClient, engine: Engine) -> None:
    """ID-05 (first half): a 422 before the handler, then a corrected retry executes."""
    key = new_key()
    bad = await client.post("/items", json={"qty": "x"}, headers={"Idempotency-Key": key})
    assert_problem(bad, 422, "validation-error")
    good = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    assert good.status_code == 201
    assert "idempotent-replayed" not in good.headers
    assert engine.calls["items"] == 1


async def test_malformed_json_stores_nothing(client: httpx.AsyncClient, engine: Engine) -> None:
    key = new_key()
    headers = {"Idempotency-Key": key, "content-type": "application/json"}
    bad = await client.post("/items", content=b'{"name": ', headers=headers)
    assert bad.status_code == 400
    good = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    assert good.status_code == 201
    assert engine.calls["items"] == 1


async def test_500_after_execution_started_is_replayed(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """ID-05 (second half) and D8: the stored 500 is replayed, the handler not re-run."""
    key = new_key()
    first = await client.post("/boom", json={"name": "a"}, headers={"Idempotency-Key": key})
    body = assert_problem(first, 500)
    assert "internal detail" not in first.text
    again = await client.post("/boom", json={"name": "a"}, headers={"Idempotency-Key": key})
    assert again.status_code == 500
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == body
    assert engine.calls["boom"] == 1


async def test_in_flight_retry_is_409_then_replays(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    key = new_key()
    engine.gate = asyncio.Event()
    first = asyncio.create_task(
        client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    )
    for _ in range(200):
        if engine.calls.get("items"):
            break
        await asyncio.sleep(0.01)
    busy = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    body = assert_problem(busy, 409, "idempotency-key-in-use")
    assert busy.headers["retry-after"] == "1"
    assert body["detail"]
    other = await client.post("/items", json={"name": "b"}, headers={"Idempotency-Key": key})
    assert_problem(other, 422, "idempotency-key-mismatch")
    engine.gate.set()
    assert (await first).status_code == 201
    again = await client.post("/items", json={"name": "a"}, headers={"Idempotency-Key": key})
    assert again.headers["idempotent-replayed"] == "true"
    assert engine.calls["items"] == 1


async def test_safe_methods_ignore_the_header(client: httpx.AsyncClient) -> None:
    resp = await client.get("/items", headers={"Idempotency-Key": ""})
    assert resp.status_code == 405  # no GET route; the key is not even parsed


async def test_record_in_commits_with_the_handlers_transaction(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """SQL store: the record is written in the handler's transaction.

    The handler commits its record and then crashes: the retry replays the committed
    201 (what the transaction did), not the 500 the client saw.
    """
    if engine.database is None:
        resp = await client.post("/tx", json={"name": "a"}, headers={"Idempotency-Key": new_key()})
        assert_problem(resp, 500)  # record_in() needs the SQL store: a configuration error
        return
    key = new_key()
    crashed = await client.post(
        "/tx", json={"name": "crash-after-commit"}, headers={"Idempotency-Key": key}
    )
    assert crashed.status_code == 500
    again = await client.post(
        "/tx", json={"name": "crash-after-commit"}, headers={"Idempotency-Key": key}
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == "/x"
    assert again.json() == {"n": 1, "name": "crash-after-commit"}
    assert engine.calls["tx"] == 1
