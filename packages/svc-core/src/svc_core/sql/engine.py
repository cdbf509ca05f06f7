"""The async engine factory and :class:`Database`, the one handle a service keeps.

* SQLite (``sqlite+aiosqlite:///path.db``): foreign keys on, WAL journal and a busy
  timeout on every connection; the file's directory is created if missing.
* Postgres (``postgresql+asyncpg://…`` or ``postgresql+psycopg://…``; a bare
  ``postgresql://`` or ``postgres://`` picks asyncpg): a pre-ping on checkout (one round
  trip on asyncpg, skipped for a connection back in the pool for less than
  ``ping_idle_after`` seconds, as PgBouncer's ``server_check_delay``) and a connect
  timeout, so a dropped connection is replaced and a dead server fails fast instead of
  hanging a request.

Failures to reach the database surface as :class:`DatabaseUnavailableError` (503).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    InvalidatePoolError,
    InvalidRequestError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

try:  # SQLAlchemy 2.1
    from sqlalchemy.util.concurrency import await_
except ImportError:  # pragma: no cover - SQLAlchemy 2.0 spells it await_only
    from sqlalchemy.util import await_only as await_

from svc_core.errors import ConfigurationError, MissingDependencyError
from svc_core.settings import SvcSettings
from svc_core.sql import _aiosqlite
from svc_core.sql.errors import DatabaseUnavailableError, is_unavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

__all__ = ["Database", "create_engine", "mask_url", "normalize_url"]

logger = logging.getLogger("svc_core.sql")

#: Milliseconds a SQLite connection waits for a competing writer before failing.
SQLITE_BUSY_TIMEOUT_MS = 5_000

_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_PG_DRIVER_LIBRARY = {"asyncpg": "asyncpg", "psycopg": "psycopg", "psycopg_async": "psycopg"}
_SYNC_DRIVERS = frozenset({"psycopg2", "psycopg2cffi", "pg8000", "pysqlite", "pysqlcipher"})


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and fill in the async driver when it names none.

    ``sqlite:///x.db`` becomes ``sqlite+aiosqlite:///x.db``; ``postgres://`` and
    ``postgresql://`` become ``postgresql+asyncpg://``.

    Raises:
        ConfigurationError: The URL cannot be parsed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        msg = f"invalid database URL: {exc}"
        raise ConfigurationError(msg) from exc
    backend = "postgresql" if parsed.drivername == "postgres" else parsed.get_backend_name()
    if "+" not in parsed.drivername and backend in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")
    return parsed


def mask_url(url: str | URL) -> str:
    """``url`` as a string with the password replaced by ``***`` (safe for logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def _sqlite_on_connect(wal: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL is durable across application crashes with NORMAL; FULL only adds
                # protection against power loss at a large write-latency cost.
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return on_connect


#: Seconds a returned Postgres connection is reused without a ping (see create_engine).
DEFAULT_PING_IDLE_AFTER = 1.0


def create_engine(
    url: str | URL,
    *,
    connect_timeout: float = 10.0,
    ping_idle_after: float = DEFAULT_PING_IDLE_AFTER,
    **kw: Any,
) -> AsyncEngine:
    """Create an :class:`~sqlalchemy.ext.asyncio.AsyncEngine` for ``url``. No I/O happens.

    Args:
        url: SQLAlchemy URL; see the module docstring for the accepted forms.
        connect_timeout: Seconds to wait for a new Postgres connection.
        ping_idle_after: asyncpg only: a pooled connection is pinged on checkout when it
            has been back in the pool for at least this many seconds (``0``: on every
            checkout). Under load a connection is reused within milliseconds and the
            round trip is saved; the price is that a server restart is noticed by the
            first statement on a connection returned less than this long before it,
            which fails (503) and invalidates the pool, instead of by the ping.
        **kw: Passed to :func:`sqlalchemy.ext.asyncio.create_async_engine`
            (``pool_size``, ``echo``, ``poolclass`` …).

    Returns:
        The engine. Call ``await engine.dispose()`` when done.

    Raises:
        MissingDependencyError: The URL's driver is not installed.
        ConfigurationError: The URL is invalid or names a synchronous driver.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if parsed.get_driver_name() in _SYNC_DRIVERS:
        msg = (
            f"{parsed.drivername!r} is a synchronous driver; use sqlite+aiosqlite, "
            "postgresql+asyncpg or postgresql+psycopg"
        )
        raise ConfigurationError(msg)
    # A pre-ping finds connections a server dropped (restart, failover, idle timeout);
    # an SQLite file has no server, and the ping would cost a round trip per checkout.
    # SQLAlchemy's asyncpg ping is three round trips (BEGIN, ";", ROLLBACK); ours is one.
    light_ping = parsed.get_driver_name() == "asyncpg" and "pool_pre_ping" not in kw
    kw.setdefault("pool_pre_ping", backend != "sqlite" and not light_ping)
    wal = False
    if backend == "sqlite":
        database = parsed.database or ""
        in_memory = database in {"", ":memory:"} or database.startswith("file::memory:")
        if not in_memory and not parsed.query.get("uri"):
            Path(database).resolve().parent.mkdir(parents=True, exist_ok=True)
            wal = True
        # The pool's reset-on-return rolls back every returned connection; over aiosqlite
        # that is a thread round trip even when no transaction is open (the common case:
        # the session or connection already committed or rolled back). _sqlite_reset
        # does the rollback only when SQLite says a transaction is open.
        kw.setdefault("pool_reset_on_return", None)
        if parsed.get_driver_name() == "aiosqlite" and "module" not in kw:
            # One thread round trip per statement, none for a no-op commit/rollback.
            fast = _aiosqlite.dbapi()
            if fast is not None:
                kw["module"] = fast
    elif backend == "postgresql":
        connect_args = dict(kw.pop("connect_args", {}))
        key = "timeout" if parsed.get_driver_name() == "asyncpg" else "connect_timeout"
        connect_args.setdefault(key, connect_timeout if key == "timeout" else int(connect_timeout))
        kw["connect_args"] = connect_args
    try:
        engine = _create_async_engine(parsed, **kw)
    except (ImportError, NoSuchModuleError) as exc:
        raise _missing_driver(parsed, exc) from exc
    except InvalidRequestError as exc:
        msg = f"{parsed.drivername!r} is not an asyncio driver: {exc}"
        raise ConfigurationError(msg) from exc
    except ArgumentError as exc:
        msg = f"invalid engine options for {mask_url(parsed)}: {exc}"
        raise ConfigurationError(msg) from exc
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect(wal))
        if kw.get("pool_reset_on_return") is None:
            event.listen(engine.sync_engine, "reset", _sqlite_reset)
    if light_ping:
        event.listen(engine.sync_engine, "connect", _mark_fresh)
        event.listen(engine.sync_engine, "checkin", _mark_returned)
        event.listen(
            engine.sync_engine, "checkout", _asyncpg_ping(connect_timeout, ping_idle_after)
        )
    return engine


_FRESH = "svc_core_fresh"
_RETURNED = "svc_core_returned"


def _mark_returned(_dbapi_connection: Any, record: Any) -> None:
    # ``record`` is None when the connection was invalidated before it came back.
    if record is not None:
        record.info[_RETURNED] = time.monotonic()


def _mark_fresh(_dbapi_connection: Any, record: Any) -> None:
    record.info[_FRESH] = True


def _asyncpg_ping(timeout: float, idle_after: float) -> Any:
    """A pre-ping in one round trip: ``SELECT 1`` over the simple query protocol.

    SQLAlchemy's own asyncpg pre-ping wraps its probe in ``BEGIN`` … ``ROLLBACK`` (for
    PgBouncer's transaction mode, where asyncpg's prepared statements need a
    transaction); the simple query protocol prepares nothing, so one round trip does.
    (Not the empty statement ``;``: asyncpg 0.32 fails on its reply, which would make
    every checkout look dead.)
    A failed ping invalidates the pool, as SQLAlchemy's does: the checkout then gets a
    new connection, and so does every checkout of a connection older than the failure.
    A connection made for this checkout is not pinged, nor one returned to the pool less
    than ``idle_after`` seconds ago (PgBouncer's ``server_check_delay`` idea: a connection
    that just worked is almost certainly alive, and under load that is every checkout).
    """

    def ping(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        info = record.info
        if info.pop(_FRESH, False):
            return
        returned = info.get(_RETURNED)
        if returned is not None and time.monotonic() - returned < idle_after:
            return
        driver = record.driver_connection
        try:
            await_(driver.execute("SELECT 1", timeout=timeout))
        except Exception as exc:
            raise InvalidatePoolError(f"pre-ping failed: {type(exc).__name__}") from exc

    return ping


def _sqlite_reset(dbapi_connection: Any, _record: Any, reset_state: Any) -> None:
    """Roll back a returned SQLite connection only if a transaction is open on it."""
    if reset_state.terminate_only:
        return
    # aiosqlite's connection behind SQLAlchemy's adapter; the flag is a plain read of
    # sqlite3's autocommit state (no thread round trip). Unknown shape: roll back.
    inner = getattr(dbapi_connection, "_connection", None)
    if getattr(inner, "in_transaction", True):
        dbapi_connection.rollback()


def _missing_driver(url: URL, exc: Exception) -> Exception:
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if isinstance(exc, NoSuchModuleError):  # a dialect or driver SQLAlchemy does not know
        return ConfigurationError(f"unsupported database URL {mask_url(url)}: {exc}")
    if backend == "postgresql":
        return MissingDependencyError(
            _PG_DRIVER_LIBRARY.get(driver, driver), package="svc-core", extra="postgres"
        )
    return MissingDependencyError(driver or backend, package="svc-core", extra="sql")


class Database:
    """An async engine and its session factory: what a service keeps for its lifetime.

    Example::

        db = Database("sqlite+aiosqlite:///data/app.db")
        async with db.transaction() as session:
            session.add(Note(text="hi"))       # committed on exit, rolled back on error
        await db.aclose()

    Args:
        url: SQLAlchemy URL (``SVC_DATABASE_URL``).
        ping_timeout: Default bound, in seconds, of :meth:`ping`.
        engine: An existing engine to wrap instead of creating one (the caller then
            still closes it through :meth:`aclose`).
        **engine_kw: Passed to :func:`create_engine`.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        ping_timeout: float = 2.0,
        engine: AsyncEngine | None = None,
        **engine_kw: Any,
    ) -> None:
        self._engine = engine if engine is not None else create_engine(url, **engine_kw)
        self._sessionmaker = async_sessionmaker(self._engine, expire_on_commit=False)
        self._ping_timeout = ping_timeout

    @classmethod
    def from_settings(cls, settings: SvcSettings | None = None, **kw: Any) -> Self:
        """Open the database the settings name (``SVC_DATABASE_URL`` or embedded SQLite).

        Args:
            settings: Settings to read; ``SvcSettings()`` from the environment if omitted.
            **kw: Passed to :class:`Database`.
        """
        if settings is None:
            settings = SvcSettings()
        return cls(settings.effective_database_url, **kw)

    @property
    def engine(self) -> AsyncEngine:
        """The underlying async engine (for Core statements and ``run_sync``)."""
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The session factory (``expire_on_commit=False``)."""
        return self._sessionmaker

    @property
    def dialect(self) -> str:
        """The dialect name: ``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def url(self) -> str:
        """The URL with its password masked; safe to log."""
        return mask_url(self._engine.url)

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    def _translate(self, exc: BaseException) -> DatabaseUnavailableError | None:
        if is_unavailable(exc, self.dialect):
            return DatabaseUnavailableError(f"database {self.url} is unavailable: {exc}")
        return None

    @asynccontextmanager
    async def _translating(self) -> AsyncIterator[None]:
        """Re-raise "the database is unreachable" failures as DatabaseUnavailableError."""
        try:
            yield
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Uncommitted work is rolled back on exit.

        Raises:
            DatabaseUnavailableError: The database could not be reached.
        """
        async with self._translating(), self._sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction: committed on success, rolled back on error.

        Raises:
            DatabaseUnavailableError: The database could not be reached.
        """
        async with self.session() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connect(self, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
        """A Core connection (no ORM session): the caller commits; rolled back on exit.

        For hot paths that run a statement or two on tables without tenant scoping:
        Core skips the ORM's unit of work and identity map (on this project's login path
        that halves the database CPU). Tenant-owned models must go through
        :meth:`session`, where svc-tenancy's automatic scoping applies.

        Args:
            autocommit: Run each statement on its own, with no surrounding transaction —
                for a single read, or a single statement that is atomic by itself. On
                Postgres this saves the ``BEGIN`` and the ``ROLLBACK``/``COMMIT`` round
                trips; on SQLite it changes nothing (a lone ``SELECT`` opens no
                transaction there, and a write commits when the connection commits).

        Raises:
            DatabaseUnavailableError: The database could not be reached.
        """
        async with self._translating(), self._engine.connect() as connection:
            if autocommit and self.dialect != "sqlite":
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection inside a transaction: committed on success, else rolled back.

        Raises:
            DatabaseUnavailableError: The database could not be reached.
        """
        async with self.connect() as connection, connection.begin():
            yield connection

    async def ping(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - probe bound
        """Run ``SELECT 1``; False (never an exception) if it fails or takes too long.

        Args:
            timeout: Seconds allowed; the ``ping_timeout`` given at construction if omitted.
        """
        try:
            async with asyncio.timeout(timeout or self._ping_timeout):
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            logger.warning("database ping failed for %s: %s", self.url, type(exc).__name__)
            return False
        return True

    async def aclose(self) -> None:
        """Close every pooled connection. The object may be used again afterwards."""
        await self._engine.dispose()

    async def dispose(self) -> None:
        """Alias of :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
