"""Runtime plumbing of :mod:`svc_core.sql.migrations`: configuration, locks, errors."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
from argparse import Namespace
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import BigInteger, func, literal, select
from sqlalchemy.exc import SQLAlchemyError

from svc_core.errors import ConfigurationError
from svc_core.sql._alembic_hooks import render_item
from svc_core.sql.errors import DatabaseUnavailableError, MigrationError, is_unavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence

    from sqlalchemy import Connection, MetaData
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from svc_core.sql.migrations import MigrationSource

__all__ = [
    "alembic_config",
    "alembic_errors",
    "alembic_guard",
    "check_target",
    "current_heads",
    "load_script",
    "migration_connection",
    "revision_sources",
]

logger = logging.getLogger("svc_core.sql.migrations")

SCRIPT_LOCATION = Path(__file__).with_name("_alembic")

# Alembic's ``context`` and ``op`` are process-wide proxies: two migrations running at
# once in one process (two tasks, or two event loops in two threads) would swap each
# other's.  A threading lock polled from the event loop serialises them without being
# tied to any one loop.
_ALEMBIC_LOCK = threading.Lock()
_POLL_SECONDS = 0.01


@asynccontextmanager
async def alembic_guard() -> AsyncIterator[None]:
    """Hold the process-wide Alembic lock for the block."""
    while not _ALEMBIC_LOCK.acquire(blocking=False):  # noqa: ASYNC110 - lock spans event loops
        await asyncio.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        _ALEMBIC_LOCK.release()


def _ini(value: str) -> str:
    # Config values go through ConfigParser interpolation.
    return value.replace("%", "%%")


def alembic_config(
    sources: Sequence[MigrationSource],
    metadata: MetaData,
    connection: Connection | None,
    **configure: Any,
) -> Config:
    """An Alembic ``Config`` built in code for ``sources``, read by ``_alembic/env.py``.

    ``configure`` entries are passed to ``context.configure`` on top of the defaults.
    """
    # quiet: the caller reports progress; Alembic must not print to stdout.
    config = Config(stdout=io.StringIO(), cmd_opts=Namespace(quiet=True))
    config.set_main_option("script_location", _ini(str(SCRIPT_LOCATION)))
    config.set_main_option("path_separator", "os")
    locations = os.pathsep.join(str(source.versions_dir.resolve()) for source in sources)
    config.set_main_option("version_locations", _ini(locations))
    config.attributes["connection"] = connection
    config.attributes["configure"] = {
        "target_metadata": metadata,
        # Batch mode lets one revision file alter tables on SQLite and Postgres alike.
        "render_as_batch": True,
        "compare_type": True,
        "transaction_per_migration": True,
        "render_item": render_item,
        **configure,
    }
    return config


def load_script(sources: Sequence[MigrationSource], metadata: MetaData) -> ScriptDirectory:
    """The script directory over every source's versions directory.

    Raises:
        ConfigurationError: A versions directory does not exist.
    """
    for source in sources:
        if not source.versions_dir.is_dir():
            msg = f"migration source {source.name!r}: {source.versions_dir} is not a directory"
            raise ConfigurationError(msg)
    return ScriptDirectory.from_config(alembic_config(sources, metadata, None))


def revision_sources(script: ScriptDirectory, sources: Sequence[MigrationSource]) -> dict[str, str]:
    """Map every revision id to its source's name; check each branch's base is labelled.

    Raises:
        ConfigurationError: A branch's first revision lacks its branch label.
        MigrationError: The revision files are inconsistent.
    """
    dirs = {source.versions_dir.resolve(): source.name for source in sources}
    owners: dict[str, str] = {}
    with alembic_errors(None, ""):
        revisions = list(script.walk_revisions())
    for rev in revisions:
        name = dirs.get(Path(rev.path).resolve().parent)
        if name is None:
            continue
        owners[rev.revision] = name
        if rev.down_revision is None and name not in rev.branch_labels:
            msg = (
                f"revision {rev.revision} starts branch {name!r} but does not declare "
                f'branch_labels = ("{name}",)'
            )
            raise ConfigurationError(msg)
    return owners


def check_target(target: str, owners: dict[str, str]) -> None:
    """Refuse ``<branch>@…`` targets naming neither a source nor a known revision.

    Alembic answers those with an ``AssertionError`` deep in its revision map.

    Raises:
        MigrationError: The branch is unknown.
    """
    if "@" not in target:
        return
    prefix = target.split("@", maxsplit=1)[0]
    known = set(owners.values())
    if prefix in known or any(rev.startswith(prefix) for rev in owners):
        return
    msg = f"unknown branch {prefix!r} in target {target!r} (branches: {', '.join(sorted(known))})"
    raise MigrationError(msg)


def current_heads(connection: Connection) -> tuple[str, ...]:
    """The revision ids stored in the database's version table."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


@contextmanager
def alembic_errors(dialect: str | None, url: str) -> Iterator[None]:
    """Translate Alembic and SQLAlchemy failures into :mod:`svc_core.sql.errors`."""
    try:
        yield
    except (CommandError, RevisionError) as exc:
        raise MigrationError(str(exc)) from exc
    except SQLAlchemyError as exc:
        if is_unavailable(exc, dialect):
            msg = f"database {url} is unavailable: {exc}"
            raise DatabaseUnavailableError(msg) from exc
        msg = f"migration failed: {exc}"
        raise MigrationError(msg) from exc


@asynccontextmanager
async def migration_connection(
    engine: AsyncEngine, url: str, *, lock_key: int | None
) -> AsyncIterator[AsyncConnection]:
    """A connection, holding the migration lock when ``lock_key`` is given.

    On Postgres the lock is ``pg_advisory_lock(lock_key)``, session-level, released on
    exit (or by closing the connection if that fails). On SQLite, foreign keys are off
    for the block instead, so batch table rebuilds cannot cascade.

    Raises:
        DatabaseUnavailableError: The database cannot be reached.
    """
    dialect = engine.dialect.name
    try:
        async with engine.connect() as conn:
            if lock_key is not None and dialect == "postgresql":
                await conn.execute(select(func.pg_advisory_lock(literal(lock_key, BigInteger))))
                await conn.commit()  # the lock is session-level; Alembic wants no open txn
            elif lock_key is not None and dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await conn.commit()
            try:
                yield conn
            finally:
                if lock_key is not None:
                    await _release(conn, dialect, lock_key)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        if not is_unavailable(exc, dialect):
            raise
        msg = f"database {url} is unavailable: {type(exc).__name__}: {exc}"
        raise DatabaseUnavailableError(msg) from exc


async def _release(conn: AsyncConnection, dialect: str, lock_key: int) -> None:
    try:
        if conn.in_transaction():
            await conn.rollback()
        if dialect == "postgresql":
            await conn.execute(select(func.pg_advisory_unlock(literal(lock_key, BigInteger))))
        elif dialect == "sqlite":
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        await conn.commit()
    except SQLAlchemyError:
        # Dropping the connection ends the server session, which releases the lock.
        logger.warning("could not release the migration lock; closing the connection")
        await conn.invalidate()
