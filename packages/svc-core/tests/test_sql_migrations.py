"""svc_core.sql.Migrator over the two-branch fixture package (alpha: a1 → a2, beta: b1)."""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Boolean, Column, MetaData, func, inspect, literal, select, text
from sqlalchemy.types import BigInteger

from svc_core.errors import ConfigurationError
from svc_core.plugin import BasePlugin
from svc_core.sql import (
    MIGRATION_LOCK_KEY,
    NAMING_CONVENTION,
    Database,
    DatabaseUnavailableError,
    MigrationDriftError,
    MigrationError,
    MigrationSource,
    Migrator,
)

if TYPE_CHECKING:
    from types import ModuleType

    from sqlalchemy import Connection

HERE = Path(__file__).parent
A1, A2, B1 = "a1a1a1a1a1a1", "a2a2a2a2a2a2", "b1b1b1b1b1b1"
ALL_TABLES = {"fx_alpha_items", "fx_alpha_tags", "fx_beta_notes"}


@pytest.fixture
def fx(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The fixture package, importable, with its models loaded."""
    monkeypatch.syspath_prepend(str(HERE))
    module = importlib.import_module("svc_core_migration_fixture")
    importlib.import_module("svc_core_migration_fixture.alpha_models")
    importlib.import_module("svc_core_migration_fixture.beta_models")
    return module


def _metadata(fx: ModuleType) -> MetaData:
    base = importlib.import_module("svc_core_migration_fixture.base")
    metadata: MetaData = base.FixtureBase.metadata
    return metadata


def _migrator(fx: ModuleType, url: str, **kw: object) -> Migrator:
    kw.setdefault("metadata", _metadata(fx))
    return Migrator(url, fx.sources(), **kw)  # type: ignore[arg-type]


async def _tables(url: str) -> set[str]:
    async with Database(url) as db, db.engine.connect() as conn:

        def names(sync: Connection) -> set[str]:
            return set(inspect(sync).get_table_names()) - {"alembic_version"}

        return await conn.run_sync(names)


async def test_upgrade_applies_both_branches(fx: ModuleType, database_url: str) -> None:
    seen: list[tuple[str, str]] = []
    async with _migrator(fx, database_url, on_revision=lambda r, m: seen.append((r, m))) as m:
        assert set(await m.pending()) == {A1, A2, B1}
        assert await m.current() == {"alpha": None, "beta": None}

        applied = await m.upgrade()

        assert sorted(applied) == sorted([A1, A2, B1])
        assert applied.index(A1) < applied.index(A2)
        assert applied.index(A1) < applied.index(B1)  # beta depends on alpha's first revision
        assert seen[0] == (A1, "create alpha items")
        assert [rev for rev, _ in seen] == applied
        assert await m.current() == {"alpha": A2, "beta": B1}
        assert await m.pending() == []
        assert await m.upgrade() == []
    assert await _tables(database_url) == ALL_TABLES


async def test_history_reports_applied_state(fx: ModuleType, database_url: str) -> None:
    async with _migrator(fx, database_url) as m:
        await m.upgrade(f"{A1}")
        history = {info.revision: info for info in await m.history()}
    assert set(history) == {A1, A2, B1}
    assert history[A1].applied
    assert not history[A2].applied
    assert not history[B1].applied
    assert history[A2].down_revisions == (A1,)
    assert history[A2].is_head
    assert not history[A1].is_head
    assert (history[B1].source, history[B1].message) == ("beta", "create beta notes")


async def test_downgrade_one_branch(fx: ModuleType, database_url: str) -> None:
    async with _migrator(fx, database_url) as m:
        await m.upgrade()
        plan = await m.plan("alpha@-1", downgrade=True)
        assert [info.revision for info in plan] == [A2]

        assert await m.downgrade("alpha@-1") == [A2]

        assert await m.current() == {"alpha": A1, "beta": B1}
        assert await m.pending() == [A2]
        assert await _tables(database_url) == {"fx_alpha_items", "fx_beta_notes"}

        assert sorted(await m.downgrade("base")) == sorted([A1, B1])
        assert await m.current() == {"alpha": None, "beta": None}
    assert await _tables(database_url) == set()


async def test_unknown_target_is_a_migration_error(fx: ModuleType, database_url: str) -> None:
    async with _migrator(fx, database_url) as m:
        with pytest.raises(MigrationError):
            await m.upgrade("nosuchrevision")
        with pytest.raises(MigrationError):
            await m.downgrade("gamma@-1")


async def test_unknown_revision_in_database(fx: ModuleType, database_url: str) -> None:
    async with _migrator(fx, database_url) as m:
        await m.upgrade()
    async with Database(database_url) as db, db.transaction() as session:
        await session.execute(
            text("UPDATE alembic_version SET version_num = :new WHERE version_num = :old"),
            {"new": "feedfacecafe", "old": B1},
        )
    async with _migrator(fx, database_url) as m:
        with pytest.raises(MigrationError, match="feedfacecafe"):
            await m.current()


async def test_check_reports_pending_then_nothing_then_drift(
    fx: ModuleType, database_url: str
) -> None:
    async with _migrator(fx, database_url) as m:
        pending = await m.check()
        assert len(pending) == 3
        assert all(line.startswith("pending revision") for line in pending)
        await m.upgrade()
        assert await m.check() == []

    drifted = MetaData(naming_convention=NAMING_CONVENTION)
    for table in _metadata(fx).tables.values():
        table.to_metadata(drifted)
    drifted.tables["fx_beta_notes"].append_column(Column("pinned", Boolean, nullable=True))
    async with _migrator(fx, database_url, metadata=drifted) as m:
        assert await m.check() == ["add column fx_beta_notes.pinned"]
        with pytest.raises(MigrationDriftError) as info:
            await m.check(raise_on_drift=True)
    assert info.value.differences == ["add column fx_beta_notes.pinned"]


async def test_revision_autogenerates_into_the_sources_branch(
    fx: ModuleType, database_url: str, tmp_path: Path
) -> None:
    shutil.copytree(fx.ALPHA_VERSIONS, tmp_path / "alpha", ignore=_pycache)
    shutil.copytree(fx.BETA_VERSIONS, tmp_path / "beta", ignore=_pycache)
    (tmp_path / "gamma").mkdir()
    sources = [*fx.sources(tmp_path / "alpha", tmp_path / "beta")]
    sources.append(MigrationSource("gamma", tmp_path / "gamma"))
    drifted = MetaData(naming_convention=NAMING_CONVENTION)
    for table in _metadata(fx).tables.values():
        table.to_metadata(drifted)
    drifted.tables["fx_alpha_items"].append_column(Column("flag", Boolean, nullable=True))

    async with Migrator(database_url, sources, metadata=drifted) as m:
        await m.upgrade()
        path = await m.revision("alpha", "add flag")
        assert path.parent == tmp_path / "alpha"
        source = path.read_text()
        assert "down_revision: str | Sequence[str] | None = 'a2a2a2a2a2a2'" in source
        assert "add_column(sa.Column('flag'" in source
        assert "fx_beta_notes" not in source  # alpha only writes alpha's tables

        first = await m.revision("gamma", "start gamma", autogenerate=False)
        assert "branch_labels: str | Sequence[str] | None = ('gamma',)" in first.read_text()

        applied = await m.upgrade()
        assert len(applied) == 2
        assert await m.check() == []
        current = await m.current()
    assert current["gamma"] == applied[-1] or current["gamma"] == applied[0]
    assert current["alpha"] not in {None, A2}


def _pycache(_directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__"]


def test_branch_without_its_label_is_refused(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "x1_start.py").write_text(
        '"""start"""\nrevision = "x1"\ndown_revision = None\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    migrator = Migrator("sqlite://", [MigrationSource("xray", tmp_path / "v")])
    with pytest.raises(ConfigurationError, match=r"branch_labels = \(\"xray\",\)"):
        asyncio.run(migrator.upgrade())


def test_sources_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="name"):
        MigrationSource("bad name!", tmp_path)
    with pytest.raises(ConfigurationError, match="share"):
        Migrator("sqlite://", [MigrationSource("a", tmp_path), MigrationSource("a", tmp_path)])
    missing = Migrator("sqlite://", [MigrationSource("a", tmp_path / "nope")])
    with pytest.raises(ConfigurationError, match="not a directory"):
        asyncio.run(missing.pending())


def test_from_plugins_collects_branches(fx: ModuleType) -> None:
    class WithTables(BasePlugin):
        name = "alpha"

        def migrations(self) -> MigrationSource:
            return MigrationSource("alpha", fx.ALPHA_VERSIONS)

    class WithoutTables(BasePlugin):
        name = "plain"

    migrator = Migrator.from_plugins("sqlite://", [WithTables(), WithoutTables()])
    assert [source.name for source in migrator.sources] == ["alpha"]


def test_for_package_points_at_migrations_versions() -> None:
    source = MigrationSource.for_package("core", "svc_core", models=("svc_core.sql",))
    assert source.versions_dir.parts[-3:] == ("svc_core", "migrations", "versions")
    assert source.models == ("svc_core.sql",)


async def test_unreachable_database(fx: ModuleType) -> None:
    started = time.monotonic()
    async with _migrator(fx, "postgresql+asyncpg://postgres:pw@127.0.0.1:1/x") as m:
        with pytest.raises(DatabaseUnavailableError) as info:
            await m.upgrade()
    assert time.monotonic() - started < 3
    assert "pw@" not in str(info.value)


async def test_concurrent_upgrades_apply_each_revision_once(
    fx: ModuleType, postgres_url: str
) -> None:
    async with _migrator(fx, postgres_url) as first, _migrator(fx, postgres_url) as second:
        results = await asyncio.gather(first.upgrade(), second.upgrade())
        assert sorted(results[0] + results[1]) == sorted([A1, A2, B1])
        assert await first.current() == {"alpha": A2, "beta": B1}


async def test_upgrade_waits_for_the_advisory_lock(fx: ModuleType, postgres_url: str) -> None:
    key = literal(MIGRATION_LOCK_KEY, BigInteger)
    async with Database(postgres_url) as db, db.engine.connect() as holder:
        await holder.execute(select(func.pg_advisory_lock(key)))
        async with _migrator(fx, postgres_url) as m:
            task = asyncio.create_task(m.upgrade())
            await asyncio.sleep(0.5)
            assert not task.done()  # blocked behind the lock another "replica" holds
            await holder.execute(select(func.pg_advisory_unlock(key)))
            await holder.commit()
            assert sorted(await asyncio.wait_for(task, 30)) == sorted([A1, A2, B1])


_UPGRADE_SCRIPT = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
import svc_core_migration_fixture as fx
from svc_core_migration_fixture.base import FixtureBase
from svc_core.sql import Migrator

async def main():
    async with Migrator(sys.argv[2], fx.sources(), metadata=FixtureBase.metadata) as m:
        print(json.dumps(await m.upgrade()))

asyncio.run(main())
"""


async def test_replicas_in_separate_processes_migrate_once(
    fx: ModuleType, postgres_url: str
) -> None:
    async def replica() -> list[str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _UPGRADE_SCRIPT,
            str(HERE),
            postgres_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        applied: list[str] = json.loads(out.decode().strip().splitlines()[-1])
        return applied

    first, second = await asyncio.gather(replica(), replica())
    assert sorted(first + second) == sorted([A1, A2, B1])
    async with _migrator(fx, postgres_url) as m:
        assert await m.current() == {"alpha": A2, "beta": B1}
