"""The key-value fixtures of the svc-core pytest plugin.

* ``kv`` — parametrized ``memory`` | ``redis``: a fresh :class:`~svc_core.kv.KV` whose
  namespace is unique to the test; the Redis half deletes its keys afterwards.
* ``redis_url`` — the test Redis URL (``SVC_TEST_REDIS_URL``), or a skip.
* ``redis_server`` — a started :class:`~svc_core.testing.redis_server.RedisServer` of the
  test's own (to kill, restart or flush), killed by PID afterwards.

A test that takes ``kv`` runs once per backend, which is how every package proves its
stores and scripts behave the same in memory and on Redis.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from svc_core.errors import MissingDependencyError
from svc_core.kv import KV, MemoryKV
from svc_core.testing.backends import backends_required, redis_url_or_skip, run_id
from svc_core.testing.redis_server import RedisServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from svc_core.kv.redis import RedisKV

__all__ = ["KV_TEST_TIMEOUT", "kv", "redis_server", "redis_url", "unique_namespace"]

#: The Redis store's per-call timeout in tests. Generous on purpose: a loaded CI machine
#: must not turn a slow answer into a failure. Tests of the timeout build their own store.
KV_TEST_TIMEOUT = 5.0

# Pool big enough for the heaviest concurrency the shared suites run (1,000 claimers
# queue on it), small enough not to exhaust a shared Redis under pytest-xdist.
_TEST_POOL_SIZE = 32


def unique_namespace() -> str:
    """A key prefix unique to the caller: ``svc-test:<run id>:<uuid>:``."""
    return f"svc-test:{run_id()}:{uuid.uuid4().hex}:"


@pytest.fixture
def redis_url() -> str:
    """The test Redis URL; skips (or fails with ``SVC_TEST_REQUIRE_BACKENDS=1``) if absent."""
    return redis_url_or_skip()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A started redis-server of this test's own on a free port; killed at the end."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest_asyncio.fixture(params=["memory", "redis"], ids=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    """A fresh key-value store, once in memory and once on Redis."""
    namespace = unique_namespace()
    if request.param == "memory":
        async with MemoryKV(namespace) as store:
            yield store
        return

    url = redis_url_or_skip()
    try:
        # Imported here so the plugin loads (and the memory half runs) without redis.
        from svc_core.kv.redis import RedisKV
    except MissingDependencyError as exc:
        if backends_required():
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))

    async with RedisKV(
        url, namespace, timeout=KV_TEST_TIMEOUT, max_connections=_TEST_POOL_SIZE
    ) as redis_store:
        try:
            yield redis_store
        finally:
            await _delete_prefix(redis_store, namespace)


async def _delete_prefix(store: RedisKV, namespace: str) -> None:
    """Delete every key under ``namespace`` (and only those: the server is shared)."""
    client = store.client
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", namespace) + "*"
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=500):
        batch.append(key)
        if len(batch) >= 500:
            await client.delete(*batch)
            batch.clear()
    if batch:
        await client.delete(*batch)
