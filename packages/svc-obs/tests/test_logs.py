"""Log lines: JSON and console formats, context in every line, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request

from svc_core.context import Principal, scope
from svc_core.plugin import Runtime
from svc_obs import ObsSettings, configure_logging, redact
from svc_obs.logs import ConsoleFormatter, JsonFormatter, QuietPathsFilter

PASSWORD = "correct-horse-battery-staple-9"
JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyLTEiLCJ0aWQiOiJ0MSJ9.c2lnbmF0dXJlLXZhbHVl"
REFRESH = "rt_4f9a0c2e7b1d4c8aa1b2c3d4e5f60718"
API_KEY = "sk_live_51HxYzAbCdEfGh"
COOKIE = "sid-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SECRETS = (PASSWORD, JWT, REFRESH, API_KEY, COOKIE)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _record(msg: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {JWT}",
        f"authorization=Bearer {REFRESH}",
        f'{{"password": "{PASSWORD}", "email": "a@example.com"}}',
        f"{{'refresh_token': '{REFRESH}'}}",
        f"GET /auth/verify?token={REFRESH}&next=/",
        f"headers=[(b'authorization', b'Bearer {JWT}'), (b'cookie', b'session={COOKIE}')]",
        f"Cookie: session={COOKIE}; theme=dark",
        f"X-API-Key: {API_KEY}",
        f"api_key={API_KEY}",
        f"token {JWT} leaked",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
    ],
)
def test_redact_removes_secrets(text: str) -> None:
    out = redact(text)
    assert "[REDACTED]" in out
    for secret in (*SECRETS, "aGFzaGhhc2hoYXNo"):
        assert secret not in out


def test_redact_keeps_ordinary_text() -> None:
    text = "GET /projects/42 200 in 3 ms for a@example.com"
    assert redact(text) == text


def test_json_lines_carry_the_context() -> None:
    principal = Principal("user-7", roles=frozenset({"admin"}))
    with scope(request_id="req-1", tenant_id="tenant-9", principal=principal):
        line = JsonFormatter().format(
            _record("login by %s", "a@example.com", password=PASSWORD, attempt=2)
        )
    data = json.loads(line)
    assert data["message"] == "login by a@example.com"
    assert data["request_id"] == "req-1"
    assert data["tenant_id"] == "tenant-9"
    assert data["principal"] == "user-7"
    assert data["level"] == "info"
    assert data["attempt"] == 2
    assert data["password"] == "[REDACTED]"
    assert PASSWORD not in line


def test_console_lines_carry_the_context() -> None:
    with scope(request_id="req-2", tenant_id="t-1"):
        line = ConsoleFormatter().format(_record("hello", body={"token": REFRESH}))
    assert "hello" in line
    assert "request_id=req-2" in line
    assert "tenant_id=t-1" in line
    assert REFRESH not in line


def test_tracebacks_are_redacted() -> None:
    try:
        raise ValueError(f"bad password={PASSWORD}")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    assert PASSWORD not in JsonFormatter().format(record)
    assert PASSWORD not in ConsoleFormatter().format(record)


def test_quiet_paths_filter() -> None:
    quiet = QuietPathsFilter(("/_ops/", "/metrics"))

    def access(path: str, status: int) -> logging.LogRecord:
        return _record('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", path, "1.1", status)

    assert not quiet.filter(access("/_ops/ready", 200))
    assert not quiet.filter(access("/metrics?x=1", 200))
    assert quiet.filter(access("/_ops/ready", 503))  # failures stay visible
    assert quiet.filter(access("/projects", 200))


async def test_full_request_flow_logs_no_secret(
    build: Any, restore_logging: None, tmp_path: Any
) -> None:
    """Secrets in headers, bodies, query strings and log calls never reach the log."""
    stream = io.StringIO()
    log = logging.getLogger("app.flow")

    def routes(app: FastAPI, _runtime: Runtime) -> None:
        @app.post("/login")
        async def login(request: Request) -> dict[str, str]:
            body = await request.json()
            log.debug("login body %s", body)
            log.debug("headers %s", list(request.headers.items()))
            log.info("issued tokens", extra={"access_token": JWT, "refresh_token": REFRESH})
            return {"access_token": JWT, "refresh_token": REFRESH}

        @app.get("/me")
        async def me(request: Request) -> dict[str, str]:
            log.debug("raw scope headers %s", request.scope["headers"])
            log.info("query %s", request.url)
            return {"id": "u1"}

    async with build(routes=routes, obs=ObsSettings(configure_logging=False)) as (_, _, client):
        configure_logging(fmt="json", level="DEBUG", stream=stream)
        r = await client.post(
            "/login",
            json={"email": "a@example.com", "password": PASSWORD},
            headers={"X-API-Key": API_KEY, "Cookie": f"session={COOKIE}"},
        )
        assert r.status_code == 200
        me = await client.get(
            f"/me?token={REFRESH}&api_key={API_KEY}",
            headers={"Authorization": f"Bearer {JWT}", "Cookie": f"session={COOKIE}"},
        )
        assert me.status_code == 200
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    flow = [line for line in lines if line["logger"] == "app.flow"]
    assert len(flow) == 5
    assert all(line["request_id"] for line in flow)
    for secret in SECRETS:
        assert secret not in output, secret
