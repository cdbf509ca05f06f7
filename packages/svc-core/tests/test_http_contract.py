"""HTTP-CONTRACT "Everywhere" through a real FastAPI app with the whole core stack.

The app is what a service gets from ``install_error_handlers`` + ``core_middleware``;
requests go through httpx's ASGI transport, so every layer runs as in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from svc_core.errors import PROBLEM_CONTENT_TYPE, ConflictError, install_error_handlers
from svc_core.http import REQUEST_ID_PATTERN, apply_middleware, core_middleware, handler_timeout
from svc_core.settings import HttpSettings, SvcSettings

SECRET = "password=hunter2 at /srv/app/db.py"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}


class Item(BaseModel):
    name: str
    price: float


def make_app(env: str = "test", **http: Any) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/items", status_code=201)
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/boom-sync")
    def boom_sync() -> None:
        raise KeyError(SECRET)

    @app.get("/conflict")
    async def conflict() -> None:
        raise ConflictError("The version does not match.", headers={"ETag": '"3"'})

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(5)
        return {"ok": True}

    @app.get("/slow-allowed", dependencies=[Depends(handler_timeout(2.0))])
    async def slow_allowed() -> dict[str, bool]:
        await asyncio.sleep(0.3)
        return {"ok": True}

    @app.get("/own-headers")
    async def own_headers() -> Response:
        return JSONResponse(
            {"ok": True},
            headers={
                "Content-Security-Policy": "default-src 'self'",
                "X-Frame-Options": "SAMEORIGIN",
                "X-Request-ID": "set-by-the-app",
            },
        )

    settings = SvcSettings(env=env, http=HttpSettings(**{"handler_timeout": 0.2, **http}))
    apply_middleware(app, core_middleware(settings))
    return app


@pytest.fixture
def app() -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is a complete RFC 9457 problem for ``status``; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert_security_headers(response)
    return body


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name
    assert re.fullmatch(REQUEST_ID_PATTERN, response.headers["x-request-id"])
    assert len(response.headers.get_list("x-request-id")) == 1


def assert_no_leak(response: httpx.Response) -> None:
    text = response.text
    for needle in ("hunter2", "Traceback", "RuntimeError", "KeyError", "db.py", 'File "'):
        assert needle not in text


# ---------------------------------------------------------------- errors are problems


async def test_success_carries_request_id_and_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert_security_headers(response)
    assert "strict-transport-security" not in response.headers


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/no/such/route"), 404)


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/ping")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_trace_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.request("TRACE", "/ping")
    assert_problem(response, 405)
    assert_no_leak(response)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"name": "a", "price": ', "truncated"),
        (b'{"name": "a" "price": 1}', "malformed"),
    ],
)
async def test_malformed_json_is_a_400_problem(
    client: httpx.AsyncClient, content: bytes, why: str
) -> None:
    response = await client.post(
        "/items", content=content, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["type"].endswith("#malformed-json"), why
    assert_no_leak(response)


@pytest.mark.parametrize(
    "content",
    [
        b'{"name": "\xff\xfe", "price": 1}',  # invalid UTF-8
        '{"name": "a", "price": 1}'.encode("utf-16"),  # JSON, but not UTF-8
        b'{"name": "a", "price": NaN}',
        b'{"name": "a", "price": Infinity}',
        b'{"name": "a", "price": -Infinity}',
    ],
    ids=["invalid-utf8", "utf16", "nan", "infinity", "minus-infinity"],
)
async def test_non_strict_json_is_a_400_problem(client: httpx.AsyncClient, content: bytes) -> None:
    # HX-02: Python's json would accept all of these (NaN as a float); RFC 8259 does not.
    response = await client.post(
        "/items", content=content, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert body["type"].endswith("#malformed-json")
    assert_no_leak(response)


async def test_nan_inside_a_string_is_fine(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "NaN Infinity", "price": 1.5})
    assert response.status_code == 201
    assert response.json() == {"name": "NaN Infinity", "price": 1.5}


async def test_validation_failure_is_a_422_problem_listing_the_fields(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/items", json={"name": 3, "extra": True})
    body = assert_problem(response, 422)
    locations = {tuple(err["loc"]) for err in body["errors"]}
    assert ("body", "name") in locations
    assert ("body", "price") in locations
    for err in body["errors"]:
        assert set(err) == {"loc", "msg", "type"}


async def test_missing_body_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", headers={"content-type": "application/json"})
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "a", "price": 1}', "text/plain"),
        (b"name=a&price=1", "application/x-www-form-urlencoded"),
        (b'{"name": "a", "price": 1}', None),
    ],
    ids=["text-plain", "form", "no-content-type"],
)
async def test_a_non_json_body_on_a_json_endpoint_is_a_415_problem(
    client: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/items", content=content, headers=headers)
    body = assert_problem(response, 415)
    assert body["type"].endswith("#unsupported-media-type")
    assert response.headers["accept"] == "application/json"


async def test_json_suffix_media_types_are_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/items",
        content=b'{"name": "a", "price": 1}',
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )
    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/boom", "/boom-sync"])
async def test_a_crash_is_a_generic_500_problem_with_every_header(
    client: httpx.AsyncClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="svc_core.http"):
        response = await client.get(path)
    body = assert_problem(response, 500)
    assert body["detail"] == "An unexpected error occurred."
    assert set(body) == {"type", "title", "status", "detail", "request_id"}
    assert_no_leak(response)
    # ... but the operator gets the traceback, tagged with the route, not the raw path.
    record = next(r for r in caplog.records if r.name == "svc_core.http")
    assert record.exc_info is not None
    assert f"GET {path}" in record.getMessage()


async def test_an_svc_error_keeps_its_status_title_and_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    body = assert_problem(response, 409)
    assert body["detail"] == "The version does not match."
    assert response.headers["etag"] == '"3"'


# ---------------------------------------------------------------- limits and timeouts


async def test_a_body_over_the_limit_is_a_413_problem() -> None:
    app = make_app(max_body_bytes=100)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.post("/items", json={"name": "x" * 200, "price": 1})
        body = assert_problem(response, 413)
        assert "100 bytes" in body["detail"]
        assert response.headers["connection"] == "close"
        ok = await c.post("/items", json={"name": "x", "price": 1})
        assert ok.status_code == 201


async def test_a_slow_handler_is_a_504_problem(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING, logger="svc_core.http"):
        response = await client.get("/slow")
    assert loop.time() - started < 2
    assert_problem(response, 504)
    assert any("GET /slow" in r.getMessage() for r in caplog.records)


async def test_a_route_dependency_can_extend_its_timeout(client: httpx.AsyncClient) -> None:
    response = await client.get("/slow-allowed")  # 0.3 s > the 0.2 s default
    assert response.status_code == 200


# ---------------------------------------------------------------- headers


async def test_the_app_keeps_its_own_csp_and_frame_options_but_not_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/own-headers", headers={"X-Request-ID": "abc-123"})
    assert response.headers.get_list("content-security-policy") == ["default-src 'self'"]
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("x-request-id") == ["abc-123"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_hsts_only_in_prod() -> None:
    for env, expected in (
        ("dev", None),
        ("test", None),
        ("prod", "max-age=600; includeSubDomains"),
    ):
        app = make_app(env=env, hsts_max_age=600)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for response in (await c.get("/ping"), await c.get("/nowhere"), await c.get("/boom")):
                assert response.headers.get("strict-transport-security") == expected, env


async def test_docs_page_still_loads_its_scripts(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    # Only framing is restricted: Swagger UI's CDN scripts are not blocked.
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"


# ---------------------------------------------------------------- request id


async def test_a_well_formed_request_id_is_echoed_in_header_and_problem(
    client: httpx.AsyncClient,
) -> None:
    rid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    ok = await client.get("/ping", headers={"X-Request-ID": rid})
    assert ok.headers["x-request-id"] == rid
    problem = await client.get("/nowhere", headers={"X-Request-ID": rid})
    assert problem.json()["request_id"] == rid
    crash = await client.get("/boom", headers={"X-Request-ID": rid})
    assert crash.json()["request_id"] == rid


@pytest.mark.parametrize(
    "bad",
    [
        "has spaces",
        "x" * 129,
        "semi;colon",
        'quote"d',
        "",
        "ünïcode",
        "<script>",
    ],
)
async def test_a_malformed_request_id_is_replaced(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get("/nowhere", headers={"X-Request-ID": bad.encode("utf-8")})
    rid = response.headers["x-request-id"]
    assert rid != bad
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert response.json()["request_id"] == rid


async def test_request_ids_are_generated_fresh_for_each_request(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/ping")).headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


async def test_a_128_char_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    rid = "a" * 128
    assert (await client.get("/ping", headers={"X-Request-ID": rid})).headers["x-request-id"] == rid


async def test_problem_bodies_are_compact_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert json.loads(response.content) == response.json()
    assert response.headers["content-length"] == str(len(response.content))
