"""Helpers: a FastAPI service wired like ``svc_infra.create_app`` (core + obs plugins)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from svc_core.http.stack import apply_middleware
from svc_core.kv import KV, MemoryKV
from svc_core.plugin import CorePlugin, Runtime, SvcPlugin
from svc_core.settings import SvcSettings
from svc_core.sql import Database
from svc_obs import ObsPlugin, ObsSettings

Build = Callable[..., Any]


@asynccontextmanager
async def running_app(
    *,
    kv: KV | None = None,
    database: Database | None = None,
    tmp_path: Path,
    obs: ObsSettings | None = None,
    env: str = "test",
    routes: Callable[[FastAPI, Runtime], None] | None = None,
    extra_plugins: Sequence[SvcPlugin] = (),
    tracer_provider: Any = None,
) -> AsyncIterator[tuple[FastAPI, Runtime, httpx.AsyncClient]]:
    """Start a service with the core and obs plugins; yield it with a client."""
    settings = SvcSettings(env=env, data_dir=tmp_path / "data")  # type: ignore[arg-type]
    own_db = database is None
    db = database or Database.from_settings(settings)
    store = kv or MemoryKV()
    plugin = ObsPlugin(obs or ObsSettings(configure_logging=False), tracer_provider=tracer_provider)
    plugins: list[SvcPlugin] = [CorePlugin(), plugin, *extra_plugins]
    runtime = Runtime(settings=settings, kv=store, database=db, plugins=tuple(plugins))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for p in plugins:
            await p.startup(runtime)
        try:
            yield
        finally:
            for p in reversed(plugins):
                await p.shutdown(runtime)

    app = FastAPI(lifespan=lifespan)
    app.state.runtime = runtime
    for p in plugins:
        p.setup(app, runtime)
    if routes is not None:
        routes(app, runtime)
    apply_middleware(app, [spec for p in plugins for spec in p.middleware(runtime)])
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield app, runtime, client
    finally:
        if own_db:
            await db.aclose()
        if kv is None:
            await store.aclose()


@pytest.fixture
def build(tmp_path: Path) -> Build:
    """``build(**kwargs)`` → an async context manager from :func:`running_app`."""

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("tmp_path", tmp_path)
        return running_app(**kwargs)

    return factory


class Prom:
    """Reading the Prometheus exposition (the ``prom`` fixture)."""

    @staticmethod
    def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of an exposition, keyed by (name, labels)."""
        out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return out

    @staticmethod
    def value(text: str, name: str, **labels: str) -> float:
        """The value of one sample (0 when absent)."""
        return Prom.samples(text).get((name, frozenset(labels.items())), 0.0)

    @staticmethod
    def families(text: str) -> dict[str, str]:
        """Family name -> type."""
        return {f.name: f.type for f in text_string_to_metric_families(text)}


@pytest.fixture
def prom() -> type[Prom]:
    """Exposition readers: ``prom.value(text, name, **labels)`` …"""
    return Prom
