"""Where the test suite finds real servers, and what happens when one is missing.

Environment:

* ``SVC_TEST_REDIS_URL`` — a Redis for the ``redis`` half of the matrix;
* ``SVC_TEST_DATABASE_URL`` — a Postgres (``postgresql+asyncpg://…``) for the
  ``postgres`` half; each test session creates and drops its own database on it;
* ``SVC_TEST_REQUIRE_BACKENDS=1`` — a backend that is unset or unreachable is a
  test *error*, never a skip (CI sets it).

Without these variables the server-backed half of every parametrized fixture is
skipped with a reason saying which variable to set.
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import cache
from urllib.parse import urlsplit

import pytest

__all__ = [
    "DATABASE_ENV",
    "REDIS_ENV",
    "REQUIRE_ENV",
    "backends_required",
    "database_url_or_skip",
    "redis_url_or_skip",
    "run_id",
]

REDIS_ENV = "SVC_TEST_REDIS_URL"
DATABASE_ENV = "SVC_TEST_DATABASE_URL"
REQUIRE_ENV = "SVC_TEST_REQUIRE_BACKENDS"


def backends_required() -> bool:
    """True when ``SVC_TEST_REQUIRE_BACKENDS`` is set to a true value."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@cache
def run_id() -> str:
    """A short id unique to this test process (each xdist worker gets its own)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{worker}-{uuid.uuid4().hex[:10]}"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _missing(what: str, reason: str) -> None:
    if backends_required():
        pytest.fail(f"{what} is required ({REQUIRE_ENV}=1) but {reason}", pytrace=False)
    pytest.skip(f"{what}: {reason}")


def redis_url_or_skip() -> str:
    """The test Redis URL; skip (or fail when required) if unset or unreachable."""
    url = os.environ.get(REDIS_ENV, "").strip()
    if not url:
        _missing("Redis", f"{REDIS_ENV} is not set")
    elif not _reachable(url, 6379):
        _missing("Redis", f"nothing answers at {REDIS_ENV}={url}")
    return url


def database_url_or_skip() -> str:
    """The test Postgres URL; skip (or fail when required) if unset or unreachable."""
    url = os.environ.get(DATABASE_ENV, "").strip()
    if not url:
        _missing("Postgres", f"{DATABASE_ENV} is not set")
    elif not _reachable(url, 5432):
        _missing("Postgres", f"nothing answers at {DATABASE_ENV}={url}")
    return url
