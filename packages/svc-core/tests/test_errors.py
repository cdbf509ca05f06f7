"""svc_core.errors: the error classes, the problem+json builders and the handlers."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from svc_core.context import scope as context_scope
from svc_core.errors import (
    PROBLEM_BASE_URI,
    PROBLEM_CONTENT_TYPE,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    MissingDependencyError,
    NotFoundError,
    ServiceUnavailableError,
    SvcError,
    install_error_handlers,
    problem_body,
    problem_bytes,
    problem_response,
    problem_type,
)

# ---------------------------------------------------------------- builders


def test_problem_body_has_every_rfc9457_member() -> None:
    assert problem_body(404) == {
        "type": f"{PROBLEM_BASE_URI}#not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
    }


def test_an_unknown_status_still_gets_a_type_and_title() -> None:
    body = problem_body(418)
    assert body["type"] == problem_type("error")
    assert body["title"] == "Error"
    assert body["status"] == 418


def test_request_id_comes_from_the_context_or_the_argument() -> None:
    with context_scope(request_id="ctx-1"):
        assert problem_body(400)["request_id"] == "ctx-1"
        assert problem_body(400, request_id="explicit")["request_id"] == "explicit"
    assert "request_id" not in problem_body(400)


def test_extensions_never_override_the_standard_members() -> None:
    body = problem_body(
        422, detail="bad", extensions={"status": 200, "type": "x", "errors": [1], "detail": "y"}
    )
    assert body["status"] == 422
    assert body["detail"] == "bad"
    assert body["type"].endswith("#validation-error")
    assert body["errors"] == [1]


def test_problem_bytes_is_compact_and_survives_odd_extension_values() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    ident = uuid.UUID(int=1)
    raw = problem_bytes(409, extensions={"at": when, "id": ident})
    assert b", " not in raw
    assert b'": ' not in raw
    body = json.loads(raw)
    assert body["at"] == "2026-01-02T03:04:05+00:00"
    assert body["id"] == str(ident)


def test_problem_response_sets_the_media_type_and_headers() -> None:
    response = problem_response(429, headers={"Retry-After": "3"}, detail="Slow down.")
    assert response.status_code == 429
    assert response.media_type == PROBLEM_CONTENT_TYPE
    assert response.headers["retry-after"] == "3"
    assert json.loads(bytes(response.body))["detail"] == "Slow down."


# ---------------------------------------------------------------- classes


@pytest.mark.parametrize(
    ("cls", "status", "slug"),
    [
        (SvcError, 500, "internal-error"),
        (BadRequestError, 400, "bad-request"),
        (NotFoundError, 404, "not-found"),
        (ConflictError, 409, "conflict"),
        (ServiceUnavailableError, 503, "service-unavailable"),
        (ConfigurationError, 500, "configuration-error"),
    ],
)
def test_error_classes_carry_their_problem(cls: type[SvcError], status: int, slug: str) -> None:
    exc = cls("What happened.", extensions={"field": "x"}, headers={"X-A": "1"})
    problem = exc.to_problem()
    assert problem["status"] == status == exc.status_code
    assert problem["type"] == exc.type == problem_type(slug)
    assert problem["title"] == exc.title
    assert problem["detail"] == "What happened."
    assert problem["field"] == "x"
    assert exc.headers == {"X-A": "1"}
    assert cls().detail == cls.title


def test_missing_dependency_names_the_extra() -> None:
    exc = MissingDependencyError("asyncpg", package="svc-core", extra="postgres")
    assert isinstance(exc, ImportError)
    assert isinstance(exc, ConfigurationError)
    assert exc.install == 'pip install "svc-core[postgres]"'
    assert exc.install in str(exc)


# ---------------------------------------------------------------- handlers (no middleware)


class Item(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/items")
    async def items(item: Item) -> Item:
        return item

    @app.get("/http-dict")
    async def http_dict() -> None:
        raise HTTPException(status_code=403, detail={"why": "internal"})

    @app.get("/conflict")
    async def conflict() -> None:
        raise ConflictError(extensions={"at": dt.date(2026, 1, 1)})

    @app.get("/boom")
    async def boom() -> None:
        raise ZeroDivisionError("secret")

    return app


@pytest.fixture
async def client() -> Any:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_handlers_alone_produce_problems(client: httpx.AsyncClient) -> None:
    cases = [
        (await client.get("/nope"), 404),
        (await client.put("/items"), 405),
        (
            await client.post("/items", content=b"{", headers={"content-type": "application/json"}),
            400,
        ),
        (await client.post("/items", json={"name": 1}), 422),
        (
            await client.post("/items", content=b"name=a", headers={"content-type": "text/plain"}),
            415,
        ),
        (await client.get("/http-dict"), 403),
        (await client.get("/conflict"), 409),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
        assert response.json()["status"] == status


async def test_a_non_string_http_detail_is_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/http-dict")
    assert response.json()["detail"] == "Forbidden"
    assert "internal" not in response.text


async def test_an_unencodable_extension_does_not_break_the_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/conflict")
    assert response.json()["at"] == "2026-01-01"


async def test_an_unhandled_error_is_a_generic_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="svc_core.errors"):
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["detail"] == "An unexpected error occurred."
    assert "secret" not in response.text
    assert "ZeroDivisionError" not in response.text
    assert any(r.exc_info for r in caplog.records)


async def test_an_empty_text_body_is_a_missing_body_not_a_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", content=b"", headers={"content-type": "text/plain"})
    assert response.status_code == 422


async def test_an_expected_refusal_is_one_warning_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class RefusedError(ServiceUnavailableError):
        expected = True

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refused")
    async def refused() -> None:
        raise RefusedError("breaker open")

    @app.get("/broken")
    async def broken() -> None:
        raise ServiceUnavailableError("database gone")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        with caplog.at_level(logging.WARNING, logger="svc_core.errors"):
            assert (await c.get("/refused")).status_code == 503
        (record,) = caplog.records
        assert record.levelno == logging.WARNING
        assert record.exc_info is None
        assert "breaker open" in record.getMessage()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="svc_core.errors"):
            assert (await c.get("/broken")).status_code == 503
        (record,) = caplog.records
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None
