"""X-Request-ID: what is echoed, what is replaced, and the context it sets."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from svc_core.context import get_request_id
from svc_core.http import (
    REQUEST_ID_PATTERN,
    RequestIdMiddleware,
    is_valid_request_id,
    new_request_id,
)

WELL_FORMED = re.compile(REQUEST_ID_PATTERN)
START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}


class App:
    """Answers with a shared (never copied) start message; records the context it saw."""

    def __init__(self, start: Message = START) -> None:
        self.start = start
        self.seen: list[str | None] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(get_request_id())
        await send(self.start)
        await send({"type": "http.response.body", "body": b"ok"})


async def call(
    middleware: Any, headers: list[tuple[bytes, bytes]], scope_type: str = "http"
) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware({"type": scope_type, "headers": headers}, receive, send)
    return sent


def response_ids(sent: list[Message], name: bytes = b"x-request-id") -> list[bytes]:
    return [v for k, v in sent[0]["headers"] if k == name]


async def test_a_well_formed_id_is_echoed_and_set_in_the_context() -> None:
    app = App()
    sent = await call(RequestIdMiddleware(app), [(b"x-request-id", b"req:42.a_b-C")])
    assert response_ids(sent) == [b"req:42.a_b-C"]
    assert app.seen == ["req:42.a_b-C"]
    assert get_request_id() is None  # reset after the request


@pytest.mark.parametrize(
    "bad",
    [b"", b"a b", b"a\nb", b"a\r\nSet-Cookie: x=1", b"x" * 129, b"\xff\xfe", b"a,b", b"a\tb"],
)
async def test_a_malformed_id_is_replaced_by_a_fresh_one(bad: bytes) -> None:
    app = App()
    sent = await call(RequestIdMiddleware(app), [(b"x-request-id", bad)])
    (rid,) = response_ids(sent)
    assert rid != bad
    assert re.fullmatch(rb"[0-9a-f]{32}", rid)
    assert app.seen == [rid.decode()]


async def test_the_first_header_wins() -> None:
    sent = await call(
        RequestIdMiddleware(App()), [(b"x-request-id", b"first"), (b"x-request-id", b"second")]
    )
    assert response_ids(sent) == [b"first"]


async def test_trust_incoming_false_always_generates() -> None:
    sent = await call(
        RequestIdMiddleware(App(), trust_incoming=False), [(b"x-request-id", b"client-chosen")]
    )
    (rid,) = response_ids(sent)
    assert rid != b"client-chosen"


async def test_a_custom_header_name() -> None:
    sent = await call(
        RequestIdMiddleware(App(), header_name="X-Correlation-ID"),
        [(b"x-correlation-id", b"corr-1"), (b"x-request-id", b"ignored")],
    )
    assert response_ids(sent, b"x-correlation-id") == [b"corr-1"]
    assert response_ids(sent) == []


async def test_the_apps_own_request_id_header_is_replaced_and_its_message_not_mutated() -> None:
    start = {**START, "headers": [(b"x-request-id", b"from-app"), (b"content-length", b"2")]}
    snapshot = [*start["headers"]]
    middleware = RequestIdMiddleware(App(start))
    for rid in (b"one", b"two"):
        sent = await call(middleware, [(b"x-request-id", rid)])
        assert response_ids(sent) == [rid]
    assert start["headers"] == snapshot


async def test_concurrent_requests_keep_their_own_ids() -> None:
    seen: dict[str, str | None] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.01)
        seen[scope["tag"]] = get_request_id()
        await send(START)
        await send({"type": "http.response.body", "body": b""})

    middleware = RequestIdMiddleware(app)

    async def one(tag: str) -> None:
        async def receive() -> Message:
            raise AssertionError

        async def send(message: Message) -> None:
            pass

        scope = {"type": "http", "tag": tag, "headers": [(b"x-request-id", tag.encode())]}
        await middleware(scope, receive, send)

    await asyncio.gather(*(one(f"id-{i}") for i in range(20)))
    assert seen == {f"id-{i}": f"id-{i}" for i in range(20)}


async def test_the_context_is_reset_even_when_the_app_fails() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError

    with pytest.raises(RuntimeError):
        await call(RequestIdMiddleware(app), [(b"x-request-id", b"abc")])
    assert get_request_id() is None


async def test_non_http_scopes_pass_through_untouched() -> None:
    app = App()
    sent = await call(RequestIdMiddleware(app), [(b"x-request-id", b"abc")], scope_type="websocket")
    assert app.seen == [None]
    assert sent[0] is START


def test_helpers() -> None:
    assert is_valid_request_id("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert is_valid_request_id(b"01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert is_valid_request_id("a" * 128)
    assert not is_valid_request_id("a" * 129)
    assert not is_valid_request_id("")
    assert not is_valid_request_id("abc\n")
    ids = [new_request_id() for _ in range(1000)]  # several batches of the id pool
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


async def test_threads_never_share_an_id() -> None:
    def many() -> list[str]:
        return [new_request_id() for _ in range(3000)]

    batches = await asyncio.gather(*(asyncio.to_thread(many) for _ in range(4)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids)


@settings(max_examples=300, deadline=None)
@given(value=st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_any_header_value_is_safe_and_the_echo_is_always_well_formed(value: bytes) -> None:
    async def scenario() -> tuple[list[bytes], list[str | None]]:
        app = App()
        sent = await call(RequestIdMiddleware(app), [(b"x-request-id", value)])
        return response_ids(sent), app.seen

    ids, seen = asyncio.run(scenario())
    assert len(ids) == 1
    (rid,) = ids
    assert WELL_FORMED.fullmatch(rid.decode("ascii"))
    assert seen == [rid.decode("ascii")]
    assert (rid == value) == (WELL_FORMED.fullmatch(value.decode("latin-1")) is not None)
