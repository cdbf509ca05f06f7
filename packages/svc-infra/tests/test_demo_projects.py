"""The demo's projects resource: its migration branch and ``svc-infra db … --demo``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from svc_core.plugin import CorePlugin
from svc_infra import db_cli
from svc_infra.demo import DemoPlugin, demo_plugins

runner = CliRunner()


def test_demo_plugins_add_the_demo_plugin_to_the_installed_ones() -> None:
    plugins = demo_plugins()
    assert plugins[0].name == "core"
    assert isinstance(plugins[-1], DemoPlugin)
    source = plugins[-1].migrations()
    assert source is not None
    assert source.name == "demo"


def test_db_upgrade_demo_creates_the_projects_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "app.db"
    monkeypatch.setenv("SVC_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    # Only svc-core's plugin is "installed": the demo's branch comes from --demo alone.
    monkeypatch.setattr(db_cli, "discover_plugins", lambda: [CorePlugin()])
    monkeypatch.setattr("svc_infra.demo.discover_plugins", lambda: [CorePlugin()])

    plain = runner.invoke(db_cli.db_app, ["upgrade"])
    assert plain.exit_code == 0, plain.output
    assert "No installed package has migrations" in plain.output

    pending = runner.invoke(db_cli.db_app, ["pending", "--demo"])
    assert pending.exit_code == 0, pending.output
    assert "d1_projects" in pending.output

    done = runner.invoke(db_cli.db_app, ["upgrade", "--demo"])
    assert done.exit_code == 0, done.output
    with sqlite3.connect(database) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "projects" in tables

    check = runner.invoke(db_cli.db_app, ["check", "--demo"])
    assert check.exit_code == 0, check.output
