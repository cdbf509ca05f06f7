"""One thread round trip per SQLite statement, instead of three or four.

aiosqlite runs every call on the connection's own thread; the event loop hands the call
over, and the thread wakes the loop to hand the result back. SQLAlchemy's adapter makes
one such round trip for each step of a statement: create a cursor, execute, fetch the
rows, close the cursor. A ``SELECT`` is four round trips, an ``INSERT`` three, and a
``COMMIT`` or ``ROLLBACK`` on a connection with no open transaction still one. On a
loaded event loop each round trip costs ~0.1 ms of the loop's CPU, which made database
work the largest part of a login on the embedded profile.

This adapter keeps SQLAlchemy's ``sqlite+aiosqlite`` dialect and changes only the
connection object it talks to:

* **one trip per statement** — cursor, execute, fetch-all and close run together on the
  connection's thread; the description, row count and last row id come back with the
  rows (SQLAlchemy's adapter fetches every row eagerly anyway, except for server-side
  cursors, which keep the stock behaviour);
* **no trip for a no-op** — ``commit()`` and ``rollback()`` return at once when SQLite
  reports no open transaction (``sqlite3`` itself would do nothing there).

It relies on two internals — aiosqlite's ``Connection._execute`` (run a function on the
connection's thread, as SQLAlchemy's own adapter does for ``isolation_level``) and the
layout of SQLAlchemy's adapter classes — so :func:`dbapi` returns ``None`` (stock
adapter) when either is missing; ``tests/test_sql_sqlite_fast.py`` checks that the fast
path is the one in use with the pinned versions.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

__all__ = ["dbapi"]


def _execute_one(conn: sqlite3.Connection, operation: Any, parameters: Any) -> tuple[Any, ...]:
    """On the connection's thread: run one statement and collect everything about it."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return rows, description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _execute_many(conn: sqlite3.Connection, operation: Any, seq: Any) -> tuple[Any, ...]:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq)
        return cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _build() -> Any:
    try:
        import aiosqlite
        from sqlalchemy.dialects.sqlite.aiosqlite import (
            AsyncAdapt_aiosqlite_connection,
            AsyncAdapt_aiosqlite_cursor,
            AsyncAdapt_aiosqlite_dbapi,
        )
        from sqlalchemy.util import EMPTY_DICT
    except ImportError:  # pragma: no cover - the sql extra is not installed
        return None
    expected = (
        hasattr(aiosqlite.Connection, "_execute"),
        hasattr(AsyncAdapt_aiosqlite_connection, "_cursor_cls"),
        hasattr(AsyncAdapt_aiosqlite_cursor, "_execute_async"),
        hasattr(AsyncAdapt_aiosqlite_cursor, "_soft_closed_memoized"),
    )
    if not all(expected):  # pragma: no cover - another aiosqlite / SQLAlchemy layout
        return None

    class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
        """A client-side cursor whose statements each take one thread round trip."""

        __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

        def __init__(self, adapt_connection: Any) -> None:
            # The stock __init__ opens an aiosqlite cursor here: a round trip of its own.
            self._adapt_connection = adapt_connection
            self._connection = adapt_connection._connection
            self._cursor = None  # type: ignore[assignment]
            self._soft_closed_memoized = EMPTY_DICT
            self._rows: collections.deque[Any] = collections.deque()
            self._description: Any = None
            self._rowcount = -1
            self._lastrowid: Any = None
            self._arraysize = 1

        @property
        def description(self) -> Any:
            return self._description

        @property
        def rowcount(self) -> int:
            return self._rowcount

        @property
        def lastrowid(self) -> Any:
            return self._lastrowid

        @property
        def arraysize(self) -> int:
            return self._arraysize

        @arraysize.setter
        def arraysize(self, value: int) -> None:
            self._arraysize = value

        async def _execute_async(self, operation: Any, parameters: Any) -> None:
            async with self._adapt_connection._execute_mutex:
                (
                    rows,
                    self._description,
                    self._rowcount,
                    self._lastrowid,
                ) = await self._connection._execute(
                    _execute_one, self._connection._conn, operation, parameters
                )
                self._rows = collections.deque(rows)

        async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
            async with self._adapt_connection._execute_mutex:
                self._description = None
                self._rows.clear()
                self._rowcount, self._lastrowid = await self._connection._execute(
                    _execute_many, self._connection._conn, operation, seq_of_parameters
                )

        async def _async_soft_close(self) -> None:
            return None  # the sqlite3 cursor is closed already; the rows are kept

        def close(self) -> None:
            self._rows.clear()

        def setinputsizes(self, *inputsizes: Any) -> None:
            return None

    class Connection(AsyncAdapt_aiosqlite_connection):
        """SQLAlchemy's aiosqlite connection with one-trip cursors and free no-ops."""

        __slots__ = ()
        _cursor_cls = OneTripCursor

        def _idle(self) -> bool:
            inner = self._connection._connection  # the sqlite3 connection, or None
            # sqlite3_get_autocommit(): a plain read, safe while no call is running (the
            # adapter serialises calls on a connection).
            return inner is not None and not inner.in_transaction

        def rollback(self) -> None:
            if not self._idle():
                super().rollback()

        def commit(self) -> None:
            if not self._idle():
                super().commit()

    class Dbapi(AsyncAdapt_aiosqlite_dbapi):
        """SQLAlchemy's aiosqlite DBAPI shim, handing out :class:`Connection`."""

        def connect(self, *arg: Any, **kw: Any) -> Any:
            connection = super().connect(*arg, **kw)
            connection.__class__ = Connection  # same slots: only the methods change
            return connection

    return Dbapi(aiosqlite, sqlite3)


_DBAPI: Any = None
_BUILT = False


def dbapi() -> Any:
    """The DBAPI module for ``create_engine(module=…)``, or ``None`` for the stock one."""
    global _DBAPI, _BUILT
    if not _BUILT:
        _DBAPI, _BUILT = _build(), True
    return _DBAPI
