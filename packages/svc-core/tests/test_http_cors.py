"""CORS: deny by default, listed origins only, never a wildcard with credentials."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from svc_core.errors import PROBLEM_CONTENT_TYPE, ConfigurationError, install_error_handlers
from svc_core.http import StrictCORSMiddleware, apply_middleware, core_middleware, cors_options
from svc_core.settings import HttpSettings, SvcSettings

APP_ORIGIN = "https://app.example.com"
EVIL_ORIGIN = "https://evil.example.net"


def make_app(**http: Any) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/things")
    async def things() -> list[str]:
        return []

    @app.post("/things")
    async def create() -> dict[str, bool]:
        return {"ok": True}

    apply_middleware(app, core_middleware(SvcSettings(env="test", http=HttpSettings(**http))))
    return app


async def request(app: FastAPI, method: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.request(method, "/things", headers=headers)


def preflight(origin: str, method: str = "POST", **extra: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, **extra}


def assert_no_cors(response: httpx.Response) -> None:
    for name in response.headers:
        assert not name.lower().startswith("access-control-allow"), name


# ---------------------------------------------------------------- default: no CORS


async def test_no_configured_origin_means_no_cors_layer_and_no_cors_headers() -> None:
    app = make_app()
    assert "cors" not in {s.name for s in core_middleware(SvcSettings(env="test"))}
    response = await request(app, "GET", {"Origin": APP_ORIGIN})
    assert response.status_code == 200
    assert_no_cors(response)


async def test_no_configured_origin_fails_every_preflight() -> None:
    response = await request(make_app(), "OPTIONS", preflight(APP_ORIGIN))
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert_no_cors(response)


# ---------------------------------------------------------------- configured origins


async def test_a_listed_origin_is_allowed_and_can_read_the_request_id() -> None:
    app = make_app(cors_origins=f"{APP_ORIGIN}, https://admin.example.com")
    response = await request(app, "GET", {"Origin": APP_ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "Origin" in response.headers["vary"]
    exposed = [
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    ]
    assert "x-request-id" in exposed
    assert "retry-after" in exposed
    assert "access-control-allow-credentials" not in response.headers


async def test_a_listed_origins_preflight_is_answered() -> None:
    app = make_app(cors_origins=APP_ORIGIN)
    response = await request(
        app,
        "OPTIONS",
        preflight(APP_ORIGIN, **{"Access-Control-Request-Headers": "Idempotency-Key"}),
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_unlisted_origin_gets_no_cors_headers() -> None:
    response = await request(make_app(cors_origins=APP_ORIGIN), "GET", {"Origin": EVIL_ORIGIN})
    assert response.status_code == 200
    assert_no_cors(response)
    assert "Origin" in response.headers["vary"]


async def test_a_request_without_origin_only_learns_that_the_answer_varies() -> None:
    app = make_app(cors_origins=APP_ORIGIN)

    @app.get("/varies")
    async def varies() -> JSONResponse:
        return JSONResponse([], headers={"Vary": "Accept-Encoding"})

    response = await request(app, "GET", {})
    assert_no_cors(response)
    assert response.headers.get_list("vary") == ["Origin"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        merged = await c.get("/varies")
    assert merged.headers.get_list("vary") == ["Accept-Encoding, Origin"]


@pytest.mark.parametrize(
    "headers",
    [
        preflight(EVIL_ORIGIN),
        preflight("null"),
        preflight(APP_ORIGIN, method="TRACE"),
        preflight(APP_ORIGIN, **{"Access-Control-Request-Headers": "X-Evil"}),
    ],
    ids=["unlisted-origin", "null-origin", "method", "header"],
)
async def test_a_refused_preflight_is_a_403_problem(headers: dict[str, str]) -> None:
    response = await request(make_app(cors_origins=APP_ORIGIN), "OPTIONS", headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["status"] == 403
    assert problem["type"].endswith("#cors-denied")
    assert problem["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-frame-options"] == "DENY"
    assert_no_cors(response)


async def test_credentials_mirror_the_exact_origin() -> None:
    app = make_app(cors_origins=APP_ORIGIN, cors_allow_credentials=True)
    response = await request(app, "GET", {"Origin": APP_ORIGIN})
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_a_wildcard_without_credentials_allows_any_origin() -> None:
    response = await request(make_app(cors_origins="*"), "GET", {"Origin": EVIL_ORIGIN})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


# ---------------------------------------------------------------- misconfiguration


def test_a_wildcard_with_credentials_is_refused_by_the_settings() -> None:
    with pytest.raises(ConfigurationError):
        HttpSettings(cors_origins="*", cors_allow_credentials=True)


def test_a_wildcard_with_credentials_is_refused_even_without_validation() -> None:
    http = HttpSettings.model_construct(cors_origins=["*"], cors_allow_credentials=True)
    with pytest.raises(ConfigurationError):
        cors_options(http)
    with pytest.raises(ConfigurationError):
        core_middleware(SvcSettings.model_construct(env="test", http=http))


def test_the_middleware_itself_refuses_a_wildcard_with_credentials_and_regexes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError

    with pytest.raises(ConfigurationError):
        StrictCORSMiddleware(app, allow_origins=["*"], allow_credentials=True)
    with pytest.raises(ConfigurationError):
        StrictCORSMiddleware(app, allow_origins=[], allow_origin_regex=r"https://.*")


def test_cors_options_from_settings() -> None:
    assert cors_options(HttpSettings()) is None
    assert cors_options(HttpSettings(cors_origins=" , ")) is None
    options = cors_options(
        HttpSettings(cors_origins=APP_ORIGIN, cors_allow_methods="get,post", cors_max_age=60)
    )
    assert options is not None
    assert options["allow_origins"] == (APP_ORIGIN,)
    assert options["allow_methods"] == ("GET", "POST")
    assert options["max_age"] == 60
    assert options["allow_credentials"] is False
