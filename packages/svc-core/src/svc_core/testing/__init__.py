"""pytest plugin (entry point ``pytest11``) with the backend-matrix fixtures.

Installed with svc-core and loaded automatically by pytest. Fixtures:

* ``kv`` — parametrized ``memory`` | ``redis``: a fresh key-value store with a key
  prefix unique to the test;
* ``database_url`` — parametrized ``sqlite`` | ``postgres``: the URL of an empty
  database of this test session's own;
* ``database`` — a :class:`svc_core.sql.Database` opened on ``database_url``;
* ``redis_url`` / ``postgres_url`` — the raw servers, for tests that need one directly;
* ``redis_server`` — a redis-server of the test's own (:class:`RedisServer`), for cases that
  kill, restart or flush it.

See :mod:`svc_core.testing.backends` for the environment variables and the
skip-or-fail rule (``SVC_TEST_REQUIRE_BACKENDS=1`` turns a missing server into an error).
The fixtures need the ``svc-core[testing]`` extra (pytest-asyncio); without it the plugin
offers none and stays out of the way.
"""

from __future__ import annotations

from svc_core.testing.backends import (
    backends_required,
    database_url_or_skip,
    redis_url_or_skip,
    run_id,
)
from svc_core.testing.redis_server import RedisServer, free_port

__all__ = [
    "RedisServer",
    "backends_required",
    "database_url_or_skip",
    "free_port",
    "redis_url_or_skip",
    "run_id",
]

try:
    import pytest_asyncio  # noqa: F401 - only probing for the [testing] extra
except ImportError:  # pragma: no cover - svc-core installed without [testing]: no fixtures
    pass
else:
    from svc_core.testing.kv_fixtures import kv, redis_server, redis_url
    from svc_core.testing.sql_fixtures import database, database_url, postgres_url

    __all__ += ["database", "database_url", "kv", "postgres_url", "redis_server", "redis_url"]
