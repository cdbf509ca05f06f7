"""A0: the harness, and every line of the HTTP contract's "Everywhere" section.

Black-box over HTTP against ``svc-infra demo`` running as a real process, on the
embedded and the production profile. Covers HX-02, HX-05 and HX-06.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from acceptance.harness import DemoServer

PROBLEM = "application/problem+json"
ALLOWED_ORIGIN = "https://app.example.test"
LEAKS = ("Traceback", "DemoFailureError", "deliberate failure", "sqlalchemy", 'File "')


def assert_problem(resp: httpx.Response, status: int) -> dict[str, object]:
    """The response is an RFC 9457 problem with the real status and a request id."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert isinstance(body["type"], str)
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str)
    assert body["title"]
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["request_id"] == resp.headers["x-request-id"]
    for leak in LEAKS:
        assert leak not in resp.text
    return body


@pytest.fixture
def client(demo: DemoServer) -> Iterator[httpx.Client]:
    with demo.client() as c:
        yield c


def test_a0_harness_serves_the_selected_profile(demo: DemoServer, client: httpx.Client) -> None:
    info = client.get("/").json()
    assert info["profile"] == demo.profile
    if demo.profile == "production":
        assert info["database"] == "postgresql"
        assert info["kv"] == "redis"
    else:
        assert info["database"] == "sqlite"
        assert info["kv"] == "memory"
    assert "core" in info["plugins"]


def test_unknown_route_is_404_problem(client: httpx.Client) -> None:
    body = assert_problem(client.get("/no/such/route"), 404)
    assert body["title"] == "Not Found"


def test_wrong_method_is_405_problem(client: httpx.Client) -> None:
    resp = client.delete("/_dev/echo")
    assert_problem(resp, 405)
    assert "POST" in resp.headers["allow"]


def test_trace_is_405_problem(client: httpx.Client) -> None:
    assert_problem(client.request("TRACE", "/"), 405)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"message": "hi"',  # truncated
        b'{"message": hi}',  # not JSON
        b'{"message": "\xff\xfe"}',  # invalid UTF-8
        b'{"message": "hi", "count": NaN}',  # NaN is not JSON (RFC 8259)
        b'{"message": "hi", "count": Infinity}',
    ],
    ids=["truncated", "syntax", "invalid-utf8", "nan", "infinity"],
)
def test_malformed_json_is_400_problem(client: httpx.Client, raw: bytes) -> None:
    resp = client.post("/_dev/echo", content=raw, headers={"content-type": "application/json"})
    assert_problem(resp, 400)


def test_validation_error_is_422_with_fields(client: httpx.Client) -> None:
    resp = client.post("/_dev/echo", json={"message": "", "count": 99})
    body = assert_problem(resp, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    locs = {tuple(e["loc"]) for e in errors}
    assert ("body", "message") in locs
    assert ("body", "count") in locs


def test_valid_json_is_accepted(client: httpx.Client) -> None:
    resp = client.post("/_dev/echo", json={"message": "héllo ✓", "count": 2})
    assert resp.status_code == 200
    assert resp.json() == {"message": "héllo ✓", "count": 2}


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", b'{"message": "hi"}'),
        ("application/x-www-form-urlencoded", b"message=hi"),
    ],
)
def test_non_json_body_is_415_problem(client: httpx.Client, content_type: str, raw: bytes) -> None:
    resp = client.post("/_dev/echo", content=raw, headers={"content-type": content_type})
    assert_problem(resp, 415)


def test_unexpected_error_is_generic_500_problem(client: httpx.Client) -> None:
    body = assert_problem(client.get("/_dev/error"), 500)
    assert "deliberate" not in str(body["detail"])


def test_body_too_large_by_length_is_413(client: httpx.Client) -> None:
    big = b'{"message": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    resp = client.post("/_dev/echo", content=big, headers={"content-type": "application/json"})
    assert_problem(resp, 413)


def test_body_too_large_chunked_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    resp = client.post("/_dev/echo", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in resp.request.headers
    assert_problem(resp, 413)


def _raw_request(demo: DemoServer, head: bytes, body: bytes, wait: float) -> bytes:
    with socket.create_connection(("127.0.0.1", demo.port), timeout=10) as sock:
        sock.sendall(head + body)
        time.sleep(wait)
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_stalled_body_is_408(demo: DemoServer) -> None:
    head = (
        b"POST /_dev/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    started = time.monotonic()
    data = _raw_request(demo, head, b'{"message": ', wait=0)
    elapsed = time.monotonic() - started
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.split()[1] == b"408", data
    assert b"application/problem+json" in rest.lower()
    assert elapsed < 10


def test_slow_handler_is_504(client: httpx.Client) -> None:
    body = assert_problem(client.get("/_dev/sleep", params={"seconds": 5}), 504)
    assert body["status"] == 504


def test_fast_handler_is_not_timed_out(client: httpx.Client) -> None:
    assert client.get("/_dev/sleep", params={"seconds": 0.05}).status_code == 200


def test_request_id_is_echoed_when_well_formed(client: httpx.Client) -> None:
    rid = "req-2f6c1a7e.42:abc"
    resp = client.get("/", headers={"x-request-id": rid})
    assert resp.headers["x-request-id"] == rid
    resp = client.get("/nope", headers={"x-request-id": rid})
    assert resp.json()["request_id"] == rid


@pytest.mark.parametrize(
    "bad", ["has space", "x" * 200, "semi;colon", "<script>", "ünïcode"], ids=str.__len__
)
def test_malformed_request_id_is_replaced(client: httpx.Client, bad: str) -> None:
    resp = client.get("/", headers={"x-request-id": bad.encode("utf-8")})  # type: ignore[dict-item]
    rid = resp.headers["x-request-id"]
    assert rid != bad
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", rid)


def test_request_id_generated_and_unique(client: httpx.Client) -> None:
    ids = {client.get("/").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("path", ["/", "/no/such/route", "/_dev/error"])
def test_security_headers_on_every_response(client: httpx.Client, path: str) -> None:
    resp = client.get(path)
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"]
    frame_blocked = resp.headers.get("x-frame-options", "").upper() == "DENY" or (
        "frame-ancestors 'none'" in resp.headers.get("content-security-policy", "")
    )
    assert frame_blocked
    assert "x-request-id" in resp.headers
    assert "strict-transport-security" not in resp.headers  # SVC_ENV=test


def test_hsts_and_no_dev_routes_in_prod(prod_demo: DemoServer) -> None:
    with prod_demo.client() as client:
        resp = client.get("/")
        assert resp.status_code == 200
        hsts = resp.headers["strict-transport-security"]
        assert re.search(r"max-age=\d+", hsts)
        assert_problem(client.get("/_dev/error"), 404)
        assert_problem(client.post("/_dev/echo", json={"message": "x"}), 404)


def test_cors_allows_configured_origin_only(client: httpx.Client) -> None:
    ok = client.get("/", headers={"origin": ALLOWED_ORIGIN})
    assert ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = client.get("/", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_cors_preflight(client: httpx.Client) -> None:
    pre = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    ok = client.options("/_dev/echo", headers={"origin": ALLOWED_ORIGIN, **pre})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert ok.headers.get("access-control-allow-credentials") != "true" or (
        ok.headers["access-control-allow-origin"] != "*"
    )
    denied = client.options("/_dev/echo", headers={"origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in denied.headers
    assert denied.status_code >= 400


def test_openapi_is_served(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "svc-infra demo"
    assert "/_dev/echo" in spec["paths"]
