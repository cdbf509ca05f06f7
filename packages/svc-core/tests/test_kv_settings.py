"""Choosing a store from settings, and living without the redis extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

import svc_core.kv
from svc_core.errors import MissingDependencyError
from svc_core.kv import MemoryKV, kv_from_settings
from svc_core.settings import SvcSettings

REDIS_MODULES = ("redis", "redis.asyncio", "redis.exceptions", "redis.backoff", "redis.retry")


async def test_without_a_redis_url_the_store_is_in_memory() -> None:
    kv = kv_from_settings(SvcSettings(redis_url=None, redis_prefix="app:"))
    assert isinstance(kv, MemoryKV)
    assert kv.namespace == "app:"
    await kv.set("k", "v")
    assert await kv.get("k") == b"v"


async def test_a_redis_url_selects_redis_with_the_prefix_as_namespace() -> None:
    pytest.importorskip("redis", reason="the redis extra is not installed")
    # Nothing connects until the first call, so any URL will do here.
    kv = kv_from_settings(SvcSettings(redis_url="redis://127.0.0.1:1/0", redis_prefix="app:"))
    try:
        assert type(kv).__name__ == "RedisKV"
        assert kv.namespace == "app:"
        assert kv.timeout == 0.25  # type: ignore[attr-defined]
    finally:
        await kv.aclose()


async def test_settings_are_read_from_the_environment_when_omitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("redis", reason="the redis extra is not installed")
    monkeypatch.setenv("SVC_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("SVC_REDIS_PREFIX", "env:")
    monkeypatch.setenv("SVC_REDIS_TIMEOUT", "1.5")
    kv = kv_from_settings()
    assert type(kv).__name__ == "RedisKV"
    assert kv.namespace == "env:"
    assert kv.timeout == 1.5  # type: ignore[attr-defined]
    await kv.aclose()
    monkeypatch.setenv("SVC_REDIS_URL", "")
    assert isinstance(kv_from_settings(), MemoryKV)


def test_a_missing_redis_library_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in REDIS_MODULES:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import redis` fail
    monkeypatch.delitem(sys.modules, "svc_core.kv.redis", raising=False)

    with pytest.raises(MissingDependencyError) as caught:
        kv_from_settings(SvcSettings(redis_url="redis://127.0.0.1:6379/0"))
    assert 'pip install "svc-core[redis]"' in str(caught.value)
    assert caught.value.library == "redis"
    with pytest.raises(ImportError):  # MissingDependencyError is also an ImportError
        _ = svc_core.kv.RedisKV
    # The embedded profile keeps working without the extra.
    assert isinstance(kv_from_settings(SvcSettings(redis_url=None)), MemoryKV)


def test_importing_the_package_does_not_import_redis() -> None:
    pytest.importorskip("redis", reason="the redis extra is not installed")
    code = (
        "import sys, svc_core.kv\n"
        "assert not [m for m in sys.modules if m == 'redis' or m.startswith('redis.')]\n"
        "assert svc_core.kv.RedisKV.__name__ == 'RedisKV'\n"
        "assert 'redis' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_attributes_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = svc_core.kv.Nope


def test_the_public_surface_is_listed_in_all() -> None:
    for name in svc_core.kv.__all__:
        assert getattr(svc_core.kv, name) is not None


def test_a_redis_timeout_outside_the_allowed_range_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SVC_REDIS_TIMEOUT", "0")
    with pytest.raises(ValueError, match="redis_timeout"):
        SvcSettings()
