"""The package imports cleanly and its plugin is discovered through the entry point."""

from __future__ import annotations

import svc_tenancy
from svc_core.errors import SvcError
from svc_core.plugin import discover_plugins
from svc_tenancy import SvcTenancyError, TenancyPlugin


def test_every_public_name_exists() -> None:
    missing = [name for name in svc_tenancy.__all__ if not hasattr(svc_tenancy, name)]
    assert missing == []
    assert svc_tenancy.__version__


def test_errors_are_svc_errors() -> None:
    assert issubclass(SvcTenancyError, SvcError)


def test_plugin_is_discovered() -> None:
    plugins = discover_plugins(include=["tenancy"])
    assert [type(plugin) for plugin in plugins] == [TenancyPlugin]


async def test_plugin_wires_store_sessions_quota_provider_and_middleware(tmp_path) -> None:
    from svc_core.kv import MemoryKV
    from svc_core.plugin import Runtime
    from svc_core.quotas import QUOTA_PROVIDER_KEY, QuotaProvider
    from svc_core.settings import SvcSettings
    from svc_core.sql import Database
    from svc_tenancy import SESSIONMAKER_KEY, STORE_KEY, TenancySettings, TenantSession

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    runtime = Runtime(settings=SvcSettings(), kv=MemoryKV(), database=db)
    plugin = TenancyPlugin(TenancySettings(plans={"free": {"api": "1/minute"}}))
    try:
        [spec] = plugin.middleware(runtime)
        assert (spec.name, spec.order) == ("tenancy", 750)
        await plugin.startup(runtime)
        assert isinstance(runtime.state[QUOTA_PROVIDER_KEY], QuotaProvider)
        assert STORE_KEY in runtime.state
        assert SESSIONMAKER_KEY in runtime.state
        async with db.session() as session:  # the shared database is scoped too
            assert isinstance(session.sync_session, TenantSession)
        assert plugin.migrations().name == "tenancy"
        assert plugin.cli().info.name == "tenants"
    finally:
        await runtime.kv.aclose()
        await db.aclose()
