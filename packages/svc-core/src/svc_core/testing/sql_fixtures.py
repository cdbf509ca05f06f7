"""SQL fixtures of the svc-core pytest plugin: the sqlite | postgres matrix.

* ``database_url`` — parametrized ``sqlite`` | ``postgres``: a SQLite file under the
  test's ``tmp_path``, or a Postgres database created for this test on the server named
  by ``SVC_TEST_DATABASE_URL`` and dropped afterwards;
* ``database`` — a :class:`svc_core.sql.Database` on ``database_url``, closed afterwards;
* ``postgres_url`` — a fresh Postgres database only, for tests about Postgres itself.

SQLAlchemy is imported when a fixture runs, so the plugin loads without the ``sql``
extra.
"""

from __future__ import annotations

import re
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest_asyncio

from svc_core.testing.backends import database_url_or_skip, run_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import pytest

    from svc_core.sql import Database

__all__ = ["database", "database_url", "fresh_postgres_database", "postgres_url"]


def _database_name() -> str:
    raw = f"svc_test_{run_id()}_{uuid.uuid4().hex[:8]}".lower()
    return re.sub(r"[^a-z0-9_]", "_", raw)[:63]


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """Create an empty database on ``server_url``'s server; drop it (forcefully) on exit.

    Args:
        server_url: Any database URL on the server (its database is used to connect).

    Yields:
        The new database's URL, password included.
    """
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from svc_core.sql import normalize_url

    server = normalize_url(server_url)
    name = _database_name()
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


@pytest_asyncio.fixture(params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """URL of an empty database of this test's own: SQLite file or fresh Postgres."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    async with fresh_postgres_database(database_url_or_skip()) as url:
        yield url


@pytest_asyncio.fixture
async def postgres_url() -> AsyncIterator[str]:
    """URL of a fresh, empty Postgres database (skips without ``SVC_TEST_DATABASE_URL``)."""
    async with fresh_postgres_database(database_url_or_skip()) as url:
        yield url


@pytest_asyncio.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An open :class:`svc_core.sql.Database` on ``database_url``; disposed afterwards."""
    from svc_core.sql import Database

    db = Database(database_url)
    try:
        yield db
    finally:
        await db.aclose()
