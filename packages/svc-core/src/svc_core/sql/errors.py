"""Errors of :mod:`svc_core.sql`, and the translation of driver failures into them.

A database that cannot be reached (refused connection, server shutting down, pool
exhausted, SQLite file locked past its busy timeout) becomes
:class:`DatabaseUnavailableError`, a 503 the client may retry. Programming errors
(a missing table, a constraint violation) are left as SQLAlchemy raised them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import exc as sa_exc

from svc_core.errors import ServiceUnavailableError, SvcError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DatabaseUnavailableError",
    "MigrationDriftError",
    "MigrationError",
    "is_unavailable",
]


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached or is refusing work; retry later (503)."""

    type_slug = "database-unavailable"
    title = "Database Unavailable"


class MigrationError(SvcError):
    """A migration could not be planned or applied (unknown revision, failed DDL)."""

    type_slug = "migration-error"
    title = "Migration Error"


class MigrationDriftError(MigrationError):
    """The models and the applied migrations differ.

    Attributes:
        differences: One human-readable line per difference.
    """

    type_slug = "migration-drift"
    title = "Migration Drift"

    def __init__(self, differences: Sequence[str]) -> None:
        self.differences = list(differences)
        super().__init__(
            f"{len(self.differences)} difference(s) between models and migrations",
            extensions={"differences": self.differences},
        )


# SQLSTATE classes and codes meaning "the server is not there for you right now":
# 08 connection exception, 53 insufficient resources (too many connections, disk
# full), 57P0x admin/crash shutdown or "cannot connect now", 3D000 unknown database.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")
_UNAVAILABLE_SQLSTATES = frozenset({"3D000"})

# sqlite3 raises OperationalError for both outages and SQL mistakes ("no such table");
# only these messages describe the file being unusable.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "unable to open database",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "database table is locked",
)


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, exc):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_unavailable(exc: BaseException, dialect: str | None = None) -> bool:
    """Whether ``exc`` means the database is unreachable rather than the query wrong.

    Args:
        exc: An exception raised while talking to the database.
        dialect: The dialect name (``sqlite``, ``postgresql`` …) when known; SQLite's
            ``OperationalError`` is only an outage for a few messages.

    Returns:
        True for refused or dropped connections, timeouts, pool exhaustion, server
        shutdown and SQLite lock/IO failures.
    """
    if isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    state = _sqlstate(exc)
    if (
        exc.connection_invalidated
        or isinstance(exc.orig, OSError | TimeoutError)
        or (state is not None and state in _UNAVAILABLE_SQLSTATES)
        or (state is not None and state.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES))
    ):
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return isinstance(exc, sa_exc.InterfaceError)
    if dialect == "sqlite" or "sqlite3" in type(exc.orig).__module__:
        message = str(exc.orig).lower()
        return any(text in message for text in _SQLITE_UNAVAILABLE)
    return True
