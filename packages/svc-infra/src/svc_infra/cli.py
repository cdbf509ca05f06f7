"""The ``svc-infra`` command line.

Built-in commands: ``demo`` (run the reference service), ``version``, ``middleware``
(print the middleware stack) and ``db …`` (migrations). Every installed plugin whose
``cli()`` returns a typer app adds a sub-command named after the plugin
(``svc-infra auth …``, ``svc-infra jobs …``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from importlib.metadata import distributions

import typer
from rich.console import Console
from rich.table import Table

from svc_core.errors import SvcError
from svc_core.plugin import Runtime, discover_plugins
from svc_core.settings import SvcSettings
from svc_infra.db_cli import db_app
from svc_infra.wiring import wire_idempotency_purge, wire_outbox_relay

__all__ = ["app", "main"]

console = Console(stderr=True)

app = typer.Typer(
    name="svc-infra",
    help="svc-infra: run the demo service, migrate databases, operate the packages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")


@app.command()
def version() -> None:
    """Print the versions of the installed svc-infra packages."""
    seen: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        if name.startswith("svc-"):
            seen[name] = dist.version
    for name in sorted(seen):
        typer.echo(f"{name} {seen[name]}")


@app.command()
def middleware() -> None:
    """Print the middleware stack the installed plugins build, outermost first."""
    from svc_infra.app import create_app, middleware_stack

    settings = SvcSettings()
    built = create_app(settings)
    runtime: Runtime = built.state.runtime
    table = Table("order", "name", "factory")
    for spec in middleware_stack(runtime):
        factory = getattr(spec.factory, "__qualname__", repr(spec.factory))
        table.add_row(str(spec.order), spec.name, f"{spec.factory.__module__}.{factory}")
    Console().print(table)


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on.", min=0, max=65535),
    migrate: bool = typer.Option(
        False,  # noqa: FBT003 - typer option default
        "--migrate",
        help="Apply pending migrations at start (always done on the embedded profile).",
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    workers: int = typer.Option(1, help="Worker processes (metrics aggregate across them).", min=1),
) -> None:
    """Run the demo service (embedded profile unless SVC_DATABASE_URL / SVC_REDIS_URL are set)."""
    import uvicorn

    from svc_infra.app import ensure_schema
    from svc_infra.demo import create_demo_app, demo_plugins

    try:
        settings = SvcSettings()
        plugins = demo_plugins()
        applied = asyncio.run(ensure_schema(settings, plugins, migrate=migrate or None))
    except SvcError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(code=1) from None
    if applied:
        console.print(f"applied {len(applied)} migration(s)")
    console.print(
        f"svc-infra demo on http://{host}:{port} (profile: {settings.profile}, env: {settings.env})"
    )
    if workers > 1:
        # Several processes: uvicorn needs an import string; prometheus-client's
        # multiprocess mode makes /metrics report the sum over the workers.
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="svc-metrics-")
        uvicorn.run(
            "svc_infra.demo:app_factory",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=60,  # a busy machine imports the app slowly
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            proxy_headers=False,
            server_header=False,
        )
        return
    application = create_demo_app(settings, migrate=migrate or None)
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise typer.Exit(code=1)


def _mount_plugin_commands() -> None:
    try:
        plugins = discover_plugins()
    except SvcError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        return
    for plugin in plugins:
        sub = plugin.cli()
        if sub is not None:
            # A plugin's typer may name its command (svc-tenancy: `tenants`).
            app.add_typer(sub, name=getattr(sub.info, "name", None) or plugin.name)


def main() -> None:
    """Entry point of the ``svc-infra`` script."""
    wire_outbox_relay()
    wire_idempotency_purge()
    _mount_plugin_commands()
    try:
        app()
    except SvcError as exc:
        console.print(f"[red]error:[/red] {exc.detail}")
        sys.exit(1)
