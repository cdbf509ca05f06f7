"""svc_core.sql engine and Database: URLs, sessions, SQLite pragmas, outage translation."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from svc_core.errors import ConfigurationError, MissingDependencyError
from svc_core.settings import SvcSettings
from svc_core.sql import (
    Database,
    DatabaseUnavailableError,
    create_engine,
    is_unavailable,
    mask_url,
    normalize_url,
)

if TYPE_CHECKING:
    from pathlib import Path

CLOSED_PORT = "postgresql+asyncpg://postgres:hunter2@127.0.0.1:1/x"


async def _create_items(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)"
        )


async def _names(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.execute(text("SELECT name FROM items ORDER BY id"))
        return list(rows.scalars())


async def test_transaction_commits_and_session_reads_back(database: Database) -> None:
    await _create_items(database)
    async with database.transaction() as session:
        await session.execute(text("INSERT INTO items (id, name) VALUES (1, 'one')"))
    assert await _names(database) == ["one"]


async def test_transaction_rolls_back_on_error(database: Database) -> None:
    await _create_items(database)

    async def insert_then_fail() -> None:
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO items (id, name) VALUES (1, 'one')"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await insert_then_fail()
    assert await _names(database) == []


async def test_session_without_commit_keeps_nothing(database: Database) -> None:
    await _create_items(database)
    async with database.session() as session:
        await session.execute(text("INSERT INTO items (id, name) VALUES (1, 'one')"))
    assert await _names(database) == []


async def test_core_begin_commits_and_rolls_back(database: Database) -> None:
    await _create_items(database)
    async with database.begin() as conn:
        await conn.execute(text("INSERT INTO items (id, name) VALUES (1, 'one')"))

    async def insert_then_fail() -> None:
        async with database.begin() as conn:
            await conn.execute(text("INSERT INTO items (id, name) VALUES (2, 'two')"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await insert_then_fail()
    async with database.connect() as conn:  # no commit: nothing kept
        await conn.execute(text("INSERT INTO items (id, name) VALUES (3, 'three')"))
    assert await _names(database) == ["one"]


async def test_a_transaction_left_open_below_sqlalchemy_is_rolled_back_on_return(
    tmp_path: Path,
) -> None:
    # SQLite skips the pool's blanket rollback-on-return (a thread round trip per
    # checkout over aiosqlite) and rolls back only when a transaction is really open.
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", pool_size=1) as db:
        await _create_items(db)
        async with db.connect() as conn:
            raw = await conn.get_raw_connection()
            cursor = raw.driver_connection
            assert cursor is not None
            await cursor.execute("INSERT INTO items (id, name) VALUES (1, 'left open')")
            assert cursor.in_transaction
        async with db.begin() as conn:  # the same pooled connection, reset in between
            await conn.execute(text("INSERT INTO items (id, name) VALUES (2, 'two')"))
        assert await _names(db) == ["two"]


async def test_ping_dialect_and_masked_url(database: Database, database_url: str) -> None:
    assert await database.ping() is True
    assert database.dialect == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert database.url == mask_url(database_url)


async def test_foreign_keys_are_enforced(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
        await conn.exec_driver_sql(
            "CREATE TABLE children (id INTEGER PRIMARY KEY, "
            "parent_id INTEGER NOT NULL REFERENCES parents (id))"
        )
    with pytest.raises(sa_exc.IntegrityError):
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO children (id, parent_id) VALUES (1, 42)"))


async def test_sqlite_file_gets_directory_wal_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "app.db"
    async with Database(f"sqlite+aiosqlite:///{path}") as db, db.engine.connect() as conn:
        pragmas = {
            name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("foreign_keys", "journal_mode", "busy_timeout")
        }
    assert path.exists()
    assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 5000}


async def test_in_memory_sqlite_works(tmp_path: Path) -> None:
    async with Database("sqlite://") as db:
        assert db.dialect == "sqlite"
        assert await db.ping()
    assert list(tmp_path.iterdir()) == []


def test_urls_get_an_async_driver() -> None:
    assert normalize_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalize_url("postgres://u:p@h/db").drivername == "postgresql+asyncpg"
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_password_never_shows() -> None:
    db = Database(CLOSED_PORT)
    assert "hunter2" not in db.url
    assert "hunter2" not in repr(db)
    assert "***" in db.url
    assert mask_url("not a url") == "<invalid database URL>"


def test_invalid_and_synchronous_urls_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="invalid database URL"):
        create_engine("not a url")
    for url in ("postgresql+psycopg2://u@h/db", "sqlite+pysqlite:///x.db"):
        with pytest.raises(ConfigurationError, match="synchronous"):
            create_engine(url)
    with pytest.raises(ConfigurationError, match="unsupported"):
        create_engine("nosuchdb+nodriver://u@h/db")
    with pytest.raises(ConfigurationError, match="unsupported"):
        create_engine("postgresql+nodriver://u@h/db")


@pytest.mark.skipif(
    importlib.util.find_spec("psycopg") is not None, reason="psycopg is installed here"
)
def test_missing_postgres_driver_names_the_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"svc-core\[postgres\]") as info:
        create_engine("postgresql+psycopg://u@127.0.0.1/db")
    assert info.value.library == "psycopg"


async def test_unreachable_database_is_unavailable_and_fails_fast() -> None:
    started = time.monotonic()
    async with Database(CLOSED_PORT) as db:
        assert await db.ping() is False
        with pytest.raises(DatabaseUnavailableError) as info:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
        with pytest.raises(DatabaseUnavailableError):
            async with db.begin() as conn:
                await conn.execute(text("SELECT 1"))
    assert time.monotonic() - started < 6
    assert info.value.status_code == 503
    assert "hunter2" not in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


async def test_ping_is_bounded_by_its_timeout() -> None:
    writers: list[asyncio.StreamWriter] = []

    def accept_and_stay_silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Database(f"postgresql+asyncpg://u@127.0.0.1:{port}/x") as db:
            started = time.monotonic()
            assert await db.ping(timeout=0.3) is False
            assert time.monotonic() - started < 2
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_sql_mistakes_are_not_outages(database: Database) -> None:
    # A DatabaseUnavailableError (not a DBAPIError) would escape pytest.raises.
    with pytest.raises(sa_exc.DBAPIError, match="no_such_table"):
        async with database.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))


def test_is_unavailable_classifies_driver_errors() -> None:
    def operational(message: str) -> sa_exc.OperationalError:
        return sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    assert is_unavailable(operational("database is locked"), "sqlite")
    assert is_unavailable(operational("unable to open database file"), "sqlite")
    assert not is_unavailable(operational("no such table: x"), "sqlite")
    assert is_unavailable(ConnectionRefusedError(111, "refused"))
    assert is_unavailable(TimeoutError())
    assert not is_unavailable(ValueError("x"))
    assert not is_unavailable(
        sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")), "sqlite"
    )


async def test_from_settings_uses_embedded_sqlite_or_the_url(tmp_path: Path) -> None:
    embedded = Database.from_settings(SvcSettings(data_dir=tmp_path))
    try:
        assert embedded.dialect == "sqlite"
        assert str(tmp_path / "svc.db") in embedded.url
        assert await embedded.ping()
    finally:
        await embedded.dispose()
    configured = Database.from_settings(SvcSettings(database_url=CLOSED_PORT))
    assert configured.dialect == "postgresql"
    await configured.aclose()
