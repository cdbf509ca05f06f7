"""Fixtures and plugins used by svc-infra's tests to observe create_app's wiring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from svc_core.plugin import BasePlugin, MiddlewareSpec, Runtime
from svc_core.sql import MigrationSource

VERSIONS = Path(__file__).parent / "migration_source" / "versions"


class TagMiddleware:
    """Appends its name to the ``x-trail`` response header."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("trail", []).append(self.name.decode())

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-trail", self.name))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


class RecordingPlugin(BasePlugin):
    """Records the hooks called on it, in order, into a shared list."""

    def __init__(self, name: str, events: list[str], orders: Sequence[int] = ()) -> None:
        self.name = name
        self.events = events
        self.orders = orders

    def middleware(self, runtime: Runtime) -> Sequence[MiddlewareSpec]:
        return [
            MiddlewareSpec(f"{self.name}-{o}", o, TagMiddleware, {"name": f"{self.name}-{o}"})
            for o in self.orders
        ]

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        self.events.append(f"setup:{self.name}")
        router = APIRouter()

        @router.get(f"/{self.name}/trail")
        async def trail() -> dict[str, str]:
            return {"plugin": self.name}

        app.include_router(router)

    async def startup(self, runtime: Runtime) -> None:
        self.events.append(f"startup:{self.name}")

    async def shutdown(self, runtime: Runtime) -> None:
        self.events.append(f"shutdown:{self.name}")

    def cli(self) -> typer.Typer:
        sub = typer.Typer(help=f"{self.name} commands")

        @sub.command()
        def hello() -> None:
            typer.echo(f"hello from {self.name}")

        return sub


class WidgetsPlugin(BasePlugin):
    """A plugin that owns one table through an Alembic branch."""

    name = "widgets"

    def migrations(self) -> MigrationSource:
        return MigrationSource("widgets", VERSIONS)


@pytest.fixture
def events() -> list[str]:
    """The shared hook log of the recording plugins."""
    return []


@pytest.fixture
def recording_plugins(events: list[str]) -> list[BasePlugin]:
    """Two recording plugins with interleaved middleware orders."""
    from svc_core.plugin import CorePlugin

    return [
        CorePlugin(),
        RecordingPlugin("alpha", events, orders=(650, 250)),
        RecordingPlugin("beta", events, orders=(450,)),
    ]


@pytest.fixture
def widgets_plugin() -> WidgetsPlugin:
    """A plugin owning one migration branch."""
    return WidgetsPlugin()
