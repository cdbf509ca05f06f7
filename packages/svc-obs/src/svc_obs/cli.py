"""``svc-infra obs …``: alert rules, dashboards and maintenance mode from the command line."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from svc_core.errors import ConfigurationError

__all__ = ["obs_app"]

obs_app = typer.Typer(
    name="obs",
    help="Observability: SLO alert rules, Grafana dashboard, maintenance mode.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_SLOS_HELP = (
    "Where the SLOs are declared, as 'package.module:NAME' (a sequence of svc_obs.SLO); "
    "default: svc_obs.slo:DEFAULT_SLOS."
)


def load_slos(spec: str | None) -> list[Any]:
    """Import the SLO list named by ``spec`` (``module:attribute``).

    Raises:
        ConfigurationError: The spec is malformed or does not name SLOs.
    """
    from svc_obs.slo import DEFAULT_SLOS, SLO

    if not spec:
        return list(DEFAULT_SLOS)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        msg = f"--slos must look like 'package.module:NAME', got {spec!r}"
        raise ConfigurationError(msg)
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        msg = f"cannot load SLOs from {spec!r}: {exc}"
        raise ConfigurationError(msg) from exc
    slos = list(value)
    if not slos or not all(isinstance(s, SLO) for s in slos):
        msg = f"{spec!r} must be a non-empty sequence of svc_obs.SLO"
        raise ConfigurationError(msg)
    return slos


SlosOption = Annotated[str | None, typer.Option("--slos", help=_SLOS_HELP)]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
]
ServiceOption = Annotated[
    str | None, typer.Option(help="Service name for labels and titles (default SVC_SERVICE_NAME).")
]


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}", err=True)


def _service(service: str | None) -> str:
    if service:
        return service
    from svc_core.settings import SvcSettings

    return SvcSettings().service_name


@obs_app.command("rules")
def rules(
    slos: SlosOption = None,
    out: OutOption = None,
    service: ServiceOption = None,
) -> None:
    """Write Prometheus recording and multi-window burn-rate alert rules (YAML)."""
    import yaml  # type: ignore[import-untyped,unused-ignore]

    from svc_obs.slo import alert_rules

    doc = alert_rules(load_slos(slos), service=_service(service))
    _emit(yaml.safe_dump(doc, sort_keys=False, width=1000), out)


@obs_app.command("dashboard")
def dashboard_cmd(
    slos: SlosOption = None,
    out: OutOption = None,
    service: ServiceOption = None,
) -> None:
    """Write a Grafana dashboard (JSON) for the HTTP metrics and the SLOs."""
    from svc_obs.slo import dashboard

    doc = dashboard(load_slos(slos), service=_service(service))
    _emit(json.dumps(doc, indent=2) + "\n", out)


async def _maintenance(action: str, retry_after: int | None, reason: str | None) -> dict[str, Any]:
    from svc_core.kv import kv_from_settings
    from svc_core.settings import SvcSettings
    from svc_obs.maintenance import Maintenance
    from svc_obs.settings import ObsSettings

    settings, obs = SvcSettings(), ObsSettings()
    async with kv_from_settings(settings) as kv:
        if kv.backend == "memory" and action != "status":
            msg = (
                "without SVC_REDIS_URL the flag lives inside each server process; "
                "use PUT /_ops/maintenance on the running service instead"
            )
            raise ConfigurationError(msg)
        switch = Maintenance(
            kv, forced=obs.maintenance, retry_after=obs.maintenance_retry_after, refresh=0.001
        )
        if action == "on":
            await switch.enable(retry_after=retry_after, reason=reason)
        elif action == "off":
            await switch.disable()
        return (await switch.current()).to_dict()


@obs_app.command("maintenance")
def maintenance(
    action: Annotated[str, typer.Argument(help="on | off | status")],
    retry_after: Annotated[
        int | None, typer.Option(help="Retry-After seconds (with 'on').")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Shown to clients (with 'on').")] = None,
) -> None:
    """Turn maintenance mode on or off for every replica sharing SVC_REDIS_URL."""
    if action not in {"on", "off", "status"}:
        raise typer.BadParameter("action must be on, off or status")
    typer.echo(json.dumps(asyncio.run(_maintenance(action, retry_after, reason))))
