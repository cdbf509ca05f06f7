"""OpenTelemetry: server spans named by route template, SQL and httpx spans, trace id in logs."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from svc_core.plugin import Runtime
from svc_obs import ObsSettings
from svc_obs.logs import JsonFormatter


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def exporter() -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


async def test_spans_for_request_sql_and_httpx(build: Any, exporter: Any) -> None:
    provider, memory = exporter
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("app.traced")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    port = _closed_port()

    def routes(app: FastAPI, runtime: Runtime) -> None:
        @app.get("/orders/{order_id}")
        async def order(order_id: int) -> dict[str, int]:
            async with runtime.database.session() as session:
                await session.execute(text("SELECT 1"))
            async with httpx.AsyncClient() as client:
                with contextlib.suppress(httpx.ConnectError):
                    await client.get(f"http://127.0.0.1:{port}/down", timeout=2)
            log.info("order served")
            return {"id": order_id}

    settings = ObsSettings(configure_logging=False, tracing=True)
    try:
        async with build(obs=settings, routes=routes, tracer_provider=provider) as (_, _, client):
            parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            response = await client.get("/orders/42", headers={"traceparent": parent})
            assert response.status_code == 200
            await client.get("/nowhere")
    finally:
        log.removeHandler(handler)
    spans = memory.get_finished_spans()
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    assert [s.name for s in server] == ["GET /orders/{order_id}", "GET <unmatched>"]
    first = server[0]
    assert first.attributes["http.route"] == "/orders/{order_id}"
    assert first.attributes["http.response.status_code"] == 200
    assert f"{first.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    children = [s for s in spans if s.parent and s.parent.span_id == first.context.span_id]
    kinds = {s.kind for s in children}
    assert SpanKind.CLIENT in kinds  # SQLAlchemy and httpx both make client spans
    assert any("SELECT" in s.name or s.attributes.get("db.statement") for s in children)
    assert any(
        s.attributes.get("http.request.method") == "GET" or "GET" in s.name
        for s in children
        if "SELECT" not in s.name
    )
    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
