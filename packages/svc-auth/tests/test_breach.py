"""Common and breached password checkers (PW-04 at library level).

The HIBP checker is tested against httpx's MockTransport and against a real HTTP server
on 127.0.0.1 started by the test: never the internet.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from svc_auth.breach import BreachChecker, BundledListChecker, CompositeChecker, HIBPRangeChecker
from svc_auth.errors import BreachCheckUnavailableError

BREACHED = "hunter2 is my favourite breached passphrase"
SAFE = "tangerine orbit whispers softly"


def _sha1(password: str) -> str:
    return hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()


def _range_body(password: str, *, count: int = 42, padding: int = 3) -> str:
    suffix = _sha1(password)[5:]
    rows = [f"{'0' * 34}{i:01X}:0" for i in range(padding)]  # padding rows: count 0
    rows.insert(1, f"{suffix}:{count}")
    rows.append("ABCDEF0123456789ABCDEF0123456789ABC:7")
    return "\r\n".join(rows)


# --- bundled list ---


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "qwertyuiopasdf",
        "QwertyUiopAsdf",
        "".join(chr(ord(c) + 0xFEE0) for c in "qwertyuiopasdf"),  # fullwidth
        "123456789012345",
        "passwordpassword",
        "1234567890qwertyuiop",
        "asdfghjkl;'",
        "trustno1trustno1",
        "987654321098765",
        "abcdefghijklmnop",
    ],
)
async def test_bundled_list_refuses_common_values(password: str) -> None:
    assert await BundledListChecker().is_compromised(password)


@pytest.mark.parametrize(
    "password",
    [
        SAFE,
        "violet lanterns drift over harbour",
        "quiet rivers carry lanterns 灯籠",
        "Xk4#mQ9!vLp2&Zr8",
    ],
)
async def test_bundled_list_accepts_uncommon_values(password: str) -> None:
    assert not await BundledListChecker().is_compromised(password)


def test_bundled_list_is_a_shipped_data_file_loaded_once() -> None:
    words = BundledListChecker.words()
    assert words is BundledListChecker.words()
    assert len(words) > 10_000
    assert {"password1234", "qwertyuiopasdf"} <= words
    assert all(w == w.casefold() for w in list(words)[:500])


async def test_bundled_list_extra_words() -> None:
    checker = BundledListChecker(extra=["Acme Widgets Forever"])
    assert await checker.is_compromised("acme widgets forever")
    assert not await BundledListChecker().is_compromised("acme widgets forever")


def test_checkers_satisfy_the_protocol() -> None:
    assert isinstance(BundledListChecker(), BreachChecker)
    assert isinstance(HIBPRangeChecker(), BreachChecker)
    assert isinstance(CompositeChecker(BundledListChecker()), BreachChecker)


# --- HIBP with MockTransport ---


class _Recorder:
    def __init__(self, body: str = "", status: int = 200, exc: Exception | None = None) -> None:
        self.body, self.status, self.exc = body, status, exc
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.exc is not None:
            raise self.exc
        return httpx.Response(self.status, text=self.body)


async def _hibp(recorder: _Recorder, **kwargs: Any) -> tuple[HIBPRangeChecker, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return HIBPRangeChecker("https://hibp.invalid", client=client, **kwargs), client


async def test_hibp_sends_only_the_prefix_and_matches_suffix() -> None:
    recorder = _Recorder(_range_body(BREACHED))
    checker, client = await _hibp(recorder)
    async with client:
        assert await checker.is_compromised(BREACHED)
        assert not await checker.is_compromised(SAFE)
    digest = _sha1(BREACHED)
    request = recorder.requests[0]
    assert request.method == "GET"
    assert request.url.path == f"/range/{digest[:5]}"
    assert request.headers["Add-Padding"] == "true"
    sent = str(request.url) + "".join(f"{k}:{v}" for k, v in request.headers.items())
    sent += request.content.decode()
    assert digest[5:] not in sent
    assert digest[5:].lower() not in sent
    assert BREACHED not in sent
    assert request.content == b""


async def test_hibp_ignores_zero_count_padding_rows() -> None:
    recorder = _Recorder(_range_body(BREACHED, count=0))
    checker, client = await _hibp(recorder)
    async with client:
        assert not await checker.is_compromised(BREACHED)


async def test_hibp_min_count() -> None:
    recorder = _Recorder(_range_body(BREACHED, count=3))
    checker, client = await _hibp(recorder, min_count=10)
    async with client:
        assert not await checker.is_compromised(BREACHED)


async def test_hibp_hashes_the_nfkc_form() -> None:
    recorder = _Recorder(_range_body("café au lait forever"))
    checker, client = await _hibp(recorder)
    async with client:
        assert await checker.is_compromised("cafe\u0301 au lait forever")


@pytest.mark.parametrize(
    "recorder",
    [
        _Recorder(exc=httpx.ConnectError("boom")),
        _Recorder(exc=httpx.ReadTimeout("slow")),
        _Recorder(status=503, body="down"),
    ],
    ids=["connect", "timeout", "http-503"],
)
async def test_hibp_failure_falls_back_to_the_bundled_list(
    recorder: _Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    checker, client = await _hibp(recorder)
    with caplog.at_level(logging.WARNING, logger="svc_auth.breach"):
        async with client:
            assert await checker.is_compromised("password1234")
            assert not await checker.is_compromised(SAFE)
    assert "fallback" in caplog.text
    assert "password1234" not in caplog.text
    assert SAFE not in caplog.text
    assert _sha1(SAFE)[:5] not in caplog.text


async def test_hibp_fail_closed_raises_503() -> None:
    checker, client = await _hibp(_Recorder(exc=httpx.ConnectError("boom")), fail_closed=True)
    async with client:
        with pytest.raises(BreachCheckUnavailableError) as info:
            await checker.is_compromised(SAFE)
    assert info.value.status_code == 503
    assert SAFE not in str(info.value.to_problem())


async def test_hibp_custom_fallback() -> None:
    class Never:
        async def is_compromised(self, password: str) -> bool:
            return False

    checker, client = await _hibp(_Recorder(exc=httpx.ConnectError("boom")), fallback=Never())
    async with client:
        assert not await checker.is_compromised("password1234")


# --- HIBP against a real local server ---


class _RangeHandler(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]]
    body: str

    def do_GET(self) -> None:
        type(self).seen.append((self.path, dict(self.headers.items())))
        payload = type(self).body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def range_server() -> Iterator[tuple[str, type[_RangeHandler]]]:
    handler = type("Handler", (_RangeHandler,), {"seen": [], "body": _range_body(BREACHED)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_hibp_against_a_local_server(range_server: tuple[str, type[_RangeHandler]]) -> None:
    url, handler = range_server
    async with HIBPRangeChecker(url, timeout=5) as checker:
        assert await checker.is_compromised(BREACHED)
        assert not await checker.is_compromised(SAFE)
    paths = [path for path, _ in handler.seen]
    assert paths == [f"/range/{_sha1(BREACHED)[:5]}", f"/range/{_sha1(SAFE)[:5]}"]
    for _, headers in handler.seen:
        assert headers.get("Add-Padding") == "true"
        assert headers.get("User-Agent") == "svc-auth"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_hibp_unreachable_server_falls_back() -> None:
    async with HIBPRangeChecker(f"http://127.0.0.1:{_closed_port()}", timeout=2) as checker:
        assert await checker.is_compromised("qwertyuiopasdf")
        assert not await checker.is_compromised(SAFE)


# --- composite ---


async def test_composite_stops_at_first_yes_and_closes_children() -> None:
    calls: list[str] = []

    class Spy:
        def __init__(self, name: str, *, answer: bool) -> None:
            self.name, self.answer, self.closed = name, answer, False

        async def is_compromised(self, password: str) -> bool:
            calls.append(self.name)
            return self.answer

        async def aclose(self) -> None:
            self.closed = True

    first, second = Spy("first", answer=True), Spy("second", answer=False)
    composite = CompositeChecker(first, second)
    assert await composite.is_compromised("x")
    assert calls == ["first"]
    calls.clear()
    assert not await CompositeChecker(second, Spy("third", answer=False)).is_compromised("x")
    assert calls == ["second", "third"]
    await composite.aclose()
    assert first.closed
    assert second.closed
    with pytest.raises(ValueError, match="at least one"):
        CompositeChecker()
