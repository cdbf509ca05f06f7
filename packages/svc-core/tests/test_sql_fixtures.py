"""The sqlite | postgres fixtures of the svc-core pytest plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import make_url

from svc_core.sql import Database
from svc_core.testing.backends import database_url_or_skip
from svc_core.testing.sql_fixtures import fresh_postgres_database

if TYPE_CHECKING:
    from pathlib import Path


async def _database_exists(server_url: str, name: str) -> bool:
    async with Database(server_url) as db, db.session() as session:
        found = await session.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        return found.scalar() is not None


async def test_database_url_is_private_and_empty(database_url: str, tmp_path: Path) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database == str(tmp_path / "test.db")
    else:
        assert url.database is not None
        assert url.database.startswith("svc_test_")
        assert url.database == url.database.lower()
    async with Database(database_url) as db, db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: sync.dialect.get_table_names(sync))
    assert tables == []


async def test_database_fixture_is_open_on_database_url(
    database: Database, database_url: str
) -> None:
    assert database.url == make_url(database_url).render_as_string(hide_password=True)
    assert await database.ping()


async def test_postgres_url_is_postgres(postgres_url: str) -> None:
    assert make_url(postgres_url).get_backend_name() == "postgresql"


async def test_fresh_postgres_database_is_dropped_afterwards() -> None:
    server = database_url_or_skip()
    async with fresh_postgres_database(server) as url:
        name = make_url(url).database
        assert name is not None
        assert await _database_exists(server, name)
        # A pooled connection left open must not stop the drop (WITH (FORCE)).
        leftover = Database(url)
        async with leftover.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    await leftover.aclose()
    assert not await _database_exists(server, name)
