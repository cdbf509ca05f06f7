"""create_app(): plugin hooks, middleware order, lifespan and the schema policy."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from svc_core.errors import ConfigurationError
from svc_core.plugin import BasePlugin, CorePlugin
from svc_core.settings import SvcSettings
from svc_infra import PendingMigrationsError, create_app, ensure_schema, middleware_stack


async def _call(app: FastAPI, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)


def _settings(tmp_path: Path, **kw: object) -> SvcSettings:
    return SvcSettings(data_dir=tmp_path / "data", **kw)  # type: ignore[arg-type]


async def test_middleware_runs_in_order_smaller_outer(
    tmp_path: Path, recording_plugins: list[BasePlugin]
) -> None:
    app = create_app(_settings(tmp_path), plugins=recording_plugins)
    resp = await _call(app, "/alpha/trail")
    assert resp.status_code == 200
    # Each layer appends on the way out: innermost first.
    assert resp.headers.get_list("x-trail") == ["alpha-650", "beta-450", "alpha-250"]
    # The core layers wrap them all: the request id and security headers are present.
    assert resp.headers["x-request-id"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    orders = [s.order for s in middleware_stack(app.state.runtime)]
    assert orders == sorted(orders)


async def test_plugin_hooks_are_called_in_order(
    tmp_path: Path, recording_plugins: list[BasePlugin], events: list[str]
) -> None:
    app = create_app(_settings(tmp_path), plugins=recording_plugins)
    assert events == ["setup:alpha", "setup:beta"]
    await _call(app, "/beta/trail")
    assert events[2:] == ["startup:alpha", "startup:beta", "shutdown:beta", "shutdown:alpha"]


async def test_errors_from_any_route_are_problems(
    tmp_path: Path, recording_plugins: list[BasePlugin]
) -> None:
    app = create_app(_settings(tmp_path), plugins=recording_plugins)
    resp = await _call(app, "/missing")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["request_id"] == resp.headers["x-request-id"]


async def test_embedded_profile_applies_migrations(
    tmp_path: Path, widgets_plugin: BasePlugin
) -> None:
    settings = _settings(tmp_path)
    assert settings.profile == "embedded"
    plugins = [CorePlugin(), widgets_plugin]
    applied = await ensure_schema(settings, plugins)
    assert applied == ["a1_widgets"]
    assert await ensure_schema(settings, plugins) == []


async def test_production_refuses_pending_migrations(
    tmp_path: Path, database_url: str, widgets_plugin: BasePlugin
) -> None:
    settings = _settings(tmp_path, database_url=database_url)
    assert settings.profile == "production"
    plugins = [CorePlugin(), widgets_plugin]
    with pytest.raises(PendingMigrationsError, match="svc-infra db upgrade"):
        await ensure_schema(settings, plugins)
    app = create_app(settings, plugins=plugins)
    with pytest.raises(PendingMigrationsError):
        await _call(app, "/")
    assert await ensure_schema(settings, plugins, migrate=True) == ["a1_widgets"]
    assert await ensure_schema(settings, plugins) == []
    app = create_app(settings, plugins=plugins)
    assert (await _call(app, "/missing")).status_code == 404


def test_duplicate_middleware_names_are_refused(
    tmp_path: Path, recording_plugins: list[BasePlugin]
) -> None:
    alpha = recording_plugins[1]
    with pytest.raises(ConfigurationError, match="repeated: alpha-250, alpha-650"):
        create_app(_settings(tmp_path), plugins=[alpha, alpha])
