"""``svc-infra db …`` against a SQLite file and a test plugin owning one branch."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from typer.testing import CliRunner

from svc_core.plugin import BasePlugin, CorePlugin
from svc_core.sql import NAMING_CONVENTION, MigrationSource, Migrator
from svc_infra import db_cli

runner = CliRunner()

G1, G2 = "g1cli0000001", "g2cli0000002"

_REVISION = '''"""{message}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down!r}
branch_labels = {labels!r}
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''


@dataclass
class Project:
    versions: Path
    metadata: MetaData
    database: Path

    def drift(self, column: str) -> None:
        self.metadata.tables["cli_gadgets"].append_column(Column(column, Integer))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    versions = tmp_path / "gadgets" / "versions"
    versions.mkdir(parents=True)
    (versions / f"{G1}_create.py").write_text(
        _REVISION.format(
            message="create gadgets",
            revision=G1,
            down=None,
            labels=("gadgets",),
            upgrade='op.create_table("cli_gadgets", sa.Column("id", sa.Integer, primary_key=True),'
            ' sa.Column("name", sa.String(50), nullable=False))',
            downgrade='op.drop_table("cli_gadgets")',
        )
    )
    (versions / f"{G2}_color.py").write_text(
        _REVISION.format(
            message="add gadget color",
            revision=G2,
            down=G1,
            labels=None,
            upgrade='with op.batch_alter_table("cli_gadgets") as batch:\n'
            '        batch.add_column(sa.Column("color", sa.String(20), nullable=True))',
            downgrade='with op.batch_alter_table("cli_gadgets") as batch:\n'
            '        batch.drop_column("color")',
        )
    )
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    Table(
        "cli_gadgets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False),
        Column("color", String(20)),
    )
    database = tmp_path / "data" / "app.db"
    monkeypatch.setenv("SVC_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    source = MigrationSource("gadgets", versions)

    class GadgetsPlugin(BasePlugin):
        name = "gadgets"

        def migrations(self) -> MigrationSource:
            return source

    class TestMigrator(Migrator):
        """Compares against the test's metadata instead of the shared Base's."""

        def __init__(self, *args: Any, **kw: Any) -> None:
            kw.setdefault("metadata", metadata)
            super().__init__(*args, **kw)

    monkeypatch.setattr(db_cli, "discover_plugins", lambda: [CorePlugin(), GadgetsPlugin()])
    monkeypatch.setattr(db_cli, "Migrator", TestMigrator)
    return Project(versions, metadata, database)


def _db(*args: str) -> Any:
    return runner.invoke(db_cli.db_app, list(args))


def test_pending_upgrade_current(project: Project) -> None:
    result = _db("pending")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{G1}  [gadgets]  create gadgets",
        f"{G2}  [gadgets]  add gadget color",
    ]

    result = _db("upgrade")
    assert result.exit_code == 0, result.output
    assert "Applying 2 revision(s)" in result.output
    assert f"+ {G1} [gadgets] create gadgets" in result.output
    assert "Applied 2 revision(s)" in result.output
    assert project.database.exists()

    result = _db("current")
    assert result.exit_code == 0, result.output
    assert "gadgets" in result.stdout
    assert G2 in result.stdout

    assert "No pending migrations" in _db("pending").output
    assert "up to date" in _db("upgrade").output


def test_downgrade_and_history(project: Project) -> None:
    assert _db("upgrade").exit_code == 0
    result = _db("downgrade", "gadgets@-1")
    assert result.exit_code == 0, result.output
    assert f"- {G2} [gadgets] add gadget color" in result.output
    assert "Reverted 1 revision(s)" in result.output

    result = _db("history")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"[x] {G1}  [gadgets]  create gadgets",
        f"[ ] {G2}  [gadgets]  add gadget color",
    ]
    assert "Nothing to revert" in _db("downgrade", G1).output


def test_check_fails_on_pending_and_on_drift(project: Project) -> None:
    result = _db("check")
    assert result.exit_code == 1
    assert f"pending revision {G1}" in result.stdout

    assert _db("upgrade").exit_code == 0
    result = _db("check")
    assert result.exit_code == 0, result.output
    assert "agree" in result.output

    project.drift("size")
    result = _db("check")
    assert result.exit_code == 1
    assert "- add column cli_gadgets.size" in result.stdout


def test_revision_writes_a_file_that_upgrade_applies(project: Project) -> None:
    assert _db("upgrade").exit_code == 0
    project.drift("size")
    result = _db("revision", "gadgets", "-m", "add gadget size")
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path.parent == project.versions
    text = path.read_text()
    assert f"down_revision: str | Sequence[str] | None = '{G2}'" in text
    assert "sa.Column('size'" in text

    result = _db("upgrade")
    assert result.exit_code == 0, result.output
    assert "Applied 1 revision(s)" in result.output
    assert _db("check").exit_code == 0


def test_bad_input_is_one_clear_line(project: Project) -> None:
    result = _db("downgrade", "nosuch@-1")
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "unknown branch 'nosuch'" in result.output

    result = _db("revision", "nosuch", "-m", "x")
    assert result.exit_code == 1
    assert "unknown migration source 'nosuch'" in result.output
    assert "Traceback" not in result.output


def test_unreachable_database_never_shows_the_password(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_DATABASE_URL", "postgresql+asyncpg://app:s3cr3t-pw@127.0.0.1:1/app")
    for command in (["upgrade"], ["current"], ["pending"], ["check"]):
        result = _db(*command)
        assert result.exit_code == 1, result.output
        assert "error:" in result.output
        assert "unavailable" in result.output
        assert "s3cr3t-pw" not in result.output
        assert "Traceback" not in result.output


def test_without_migrations(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SVC_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setattr(db_cli, "discover_plugins", lambda: [CorePlugin()])
    result = _db("current")
    assert result.exit_code == 0, result.output
    assert "No installed package has migrations" in result.output
    assert "No installed package has migrations" in _db("upgrade").output


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is not None, reason="psycopg installed")
def test_missing_driver_names_the_extra(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_DATABASE_URL", "postgresql+psycopg://app:pw@127.0.0.1/app")
    result = _db("upgrade")
    assert result.exit_code == 1
    assert 'pip install "svc-core[postgres]"' in result.output
