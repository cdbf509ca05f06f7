"""The svc-infra CLI: version, plugin sub-commands, and the demo's migration policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from svc_core.plugin import BasePlugin, CorePlugin
from svc_infra import cli

runner = CliRunner()


def test_version_lists_installed_packages() -> None:
    result = runner.invoke(cli.app, ["version"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.startswith("svc-core 0.") for line in lines)
    assert any(line.startswith("svc-infra 0.") for line in lines)


def test_plugin_commands_are_mounted(
    monkeypatch: pytest.MonkeyPatch, recording_plugins: list[BasePlugin]
) -> None:
    monkeypatch.setattr(cli, "discover_plugins", lambda: recording_plugins)
    monkeypatch.setattr(cli, "app", typer.Typer(name="svc-infra"))
    cli.app.command()(cli.version)
    cli._mount_plugin_commands()
    result = runner.invoke(cli.app, ["beta", "hello"])
    assert result.exit_code == 0, result.output
    assert "hello from beta" in result.output


def test_middleware_command_prints_the_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SVC_DATA_DIR", str(tmp_path))
    result = runner.invoke(cli.app, ["middleware"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("request") < out.index("error")


def test_demo_refuses_pending_migrations_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, widgets_plugin: BasePlugin
) -> None:
    db = tmp_path / "prod.db"
    monkeypatch.setenv("SVC_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setattr(cli, "discover_plugins", lambda: [CorePlugin(), widgets_plugin])
    result = runner.invoke(cli.app, ["demo", "--port", "0"])
    assert result.exit_code == 1
    assert "pending" in result.output
    assert "svc-infra db upgrade" in result.output
