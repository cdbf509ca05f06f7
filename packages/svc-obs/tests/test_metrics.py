"""HTTP metrics: route templates, statuses, histograms, the endpoint and its token."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from svc_core.plugin import Runtime
from svc_core.sql import Database
from svc_obs import ObsSettings
from svc_obs.metrics import HTTP_BUCKETS


def routes(app: FastAPI, _runtime: Runtime) -> None:
    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")


async def test_route_template_labels_never_raw_paths(build: Any, prom: Any) -> None:
    async with build(routes=routes) as (_, _, client):
        before = (await client.get("/metrics")).text
        for i in (1, 2, 3):
            assert (await client.get(f"/items/{i}")).status_code == 200
        assert (await client.get("/items/x")).status_code == 422
        assert (await client.get("/no/such/path/42")).status_code == 404
        assert (await client.post("/items/1")).status_code == 405
        text = (await client.get("/metrics")).text
    name = "http_server_requests_total"
    tpl = "/items/{item_id}"
    assert (
        prom.value(text, name, method="GET", route=tpl, status_code="200")
        - prom.value(before, name, method="GET", route=tpl, status_code="200")
        == 3
    )
    assert prom.value(text, name, method="GET", route=tpl, status_code="422") >= 1
    assert prom.value(text, name, method="POST", route=tpl, status_code="405") >= 1
    assert prom.value(text, name, method="GET", route="<unmatched>", status_code="404") >= 1
    routes_seen = {dict(labels).get("route") for (_, labels) in prom.samples(text)}
    assert not any(r and ("/items/1" in r or "/no/such" in r) for r in routes_seen)


async def test_handler_exception_counts_as_500(build: Any, prom: Any) -> None:
    async with build(routes=routes) as (_, _, client):
        before = (await client.get("/metrics")).text
        assert (await client.get("/boom")).status_code == 500
        text = (await client.get("/metrics")).text
    labels = {"method": "GET", "route": "/boom", "status_code": "500"}
    name = "http_server_requests_total"
    assert prom.value(text, name, **labels) - prom.value(before, name, **labels) == 1


async def test_naming_histogram_and_in_flight(build: Any, prom: Any) -> None:
    async with build(routes=routes) as (_, _, client):
        await client.get("/items/7")
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    kinds = prom.families(text)
    assert kinds["http_server_requests"] == "counter"
    assert kinds["http_server_request_duration_seconds"] == "histogram"
    assert kinds["http_server_requests_in_flight"] == "gauge"
    for name, kind in kinds.items():
        if kind == "counter":
            assert f"{name}_total" in text
        if kind == "histogram":
            assert name.endswith("_seconds")
    labels = {"method": "GET", "route": "/items/{item_id}", "status_code": "200"}
    count = prom.value(text, "http_server_request_duration_seconds_count", **labels)
    assert count >= 1
    top = prom.value(text, "http_server_request_duration_seconds_bucket", le="+Inf", **labels)
    assert top == count
    assert len([b for b in HTTP_BUCKETS if b <= 1]) >= 5
    # only the scrape itself is in flight while it renders
    assert prom.value(text, "http_server_requests_in_flight") >= 0


async def test_unknown_methods_share_one_label(build: Any, prom: Any) -> None:
    async with build(routes=routes) as (_, _, client):
        await client.request("BREW", "/items/1")
        text = (await client.get("/metrics")).text
    assert (
        prom.value(
            text,
            "http_server_requests_total",
            method="_OTHER",
            route="/items/{item_id}",
            status_code="405",
        )
        >= 1
    )
    assert "BREW" not in text


async def test_metrics_token(build: Any, prom: Any) -> None:
    settings = ObsSettings(configure_logging=False, metrics_token="s3cret-scrape-token")
    async with build(obs=settings) as (_, _, client):
        denied = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        ok = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        post = await client.post("/metrics")
    assert denied.status_code == 401
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert "s3cret" not in denied.text + wrong.text
    assert ok.status_code == 200
    assert "http_server_requests_total" in ok.text
    assert post.status_code == 405


async def test_metrics_can_be_disabled(build: Any, prom: Any) -> None:
    async with build(obs=ObsSettings(configure_logging=False, metrics=False)) as (_, _, client):
        assert (await client.get("/metrics")).status_code == 404


async def test_db_pool_gauges(build: Any, prom: Any, database: Database) -> None:
    from sqlalchemy import text as sql

    def db_routes(app: FastAPI, runtime: Runtime) -> None:
        @app.get("/db")
        async def db() -> dict[str, int]:
            async with runtime.database.session() as session:
                return {"one": (await session.execute(sql("SELECT 1"))).scalar_one()}

    async with build(database=database, routes=db_routes) as (_, _, client):
        before = (await client.get("/metrics")).text
        for _ in range(3):
            assert (await client.get("/db")).json() == {"one": 1}
        text = (await client.get("/metrics")).text
    assert (
        prom.value(text, "db_pool_checkouts_total") - prom.value(before, "db_pool_checkouts_total")
        >= 3
    )
    assert prom.value(text, "db_pool_connections_open") >= 1
    assert prom.value(text, "db_pool_connections_in_use") == 0
    assert prom.value(text, "db_pool_size") >= 1


class _Reject:
    """Answers 401 before routing, like an authentication layer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/items/"):
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


class _RejectPlugin:
    name = "reject"

    def middleware(self, runtime: Runtime) -> list[Any]:
        from svc_core.plugin import MiddlewareSpec

        return [MiddlewareSpec("reject", 650, _Reject)]

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        pass

    async def startup(self, runtime: Runtime) -> None:
        pass

    async def shutdown(self, runtime: Runtime) -> None:
        pass

    def cli(self) -> None:
        return None

    def migrations(self) -> None:
        return None


async def test_answers_before_routing_keep_the_template(build: Any, prom: Any) -> None:
    async with build(routes=routes, extra_plugins=[_RejectPlugin()]) as (_, _, client):
        assert (await client.get("/items/99")).status_code == 401
        text = (await client.get("/metrics")).text
    labels = {"method": "GET", "route": "/items/{item_id}", "status_code": "401"}
    assert prom.value(text, "http_server_requests_total", **labels) >= 1
