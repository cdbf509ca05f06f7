"""The plugin's hooks, the migration branch on SQLite and Postgres, and the CLI."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect
from typer.testing import CliRunner

from svc_auth import TEST_PARAMS, AuthPlugin, AuthSettings
from svc_auth.cli import auth_cli
from svc_auth.middleware import AUTH_ORDER
from svc_core.errors import ConfigurationError, install_error_handlers
from svc_core.kv import MemoryKV
from svc_core.plugin import Runtime
from svc_core.settings import SvcSettings
from svc_core.sql import Database, Migrator

TABLES = {"auth_users", "auth_sessions", "auth_refresh_tokens", "auth_one_time_tokens"}


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migration_branch_up_and_down(database_url: str) -> None:
    source = AuthPlugin().migrations()
    assert source.name == "auth"
    async with Migrator(database_url, [source]) as migrator:
        assert await migrator.upgrade("heads")
        assert await migrator.pending() == []
        assert await migrator.check() == []  # models and migration agree
        async with Database(database_url) as db:
            assert await _tables(db) >= TABLES
        await migrator.downgrade("auth@base")
        async with Database(database_url) as db:
            assert not (TABLES & await _tables(db))


def _runtime(tmp_path: Path, env: str = "test", **kw: object) -> Runtime:
    settings = SvcSettings(env=env, data_dir=tmp_path, **kw)  # type: ignore[arg-type]
    return Runtime(
        settings=settings,
        kv=MemoryKV("t:"),
        database=Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"),
    )


async def test_plugin_wires_router_middleware_and_dev_mailbox(tmp_path: Path) -> None:
    plugin = AuthPlugin(params=TEST_PARAMS)
    runtime = _runtime(tmp_path)
    app = FastAPI()
    install_error_handlers(app)
    plugin.setup(app, runtime)
    [spec] = plugin.middleware(runtime)
    assert spec.order == AUTH_ORDER == 650
    app.add_middleware(spec.factory, **spec.options)
    paths = set(app.openapi()["paths"])
    assert {"/auth/login", "/auth/me", "/auth/sessions/{session_id}"} <= paths
    async with Migrator(runtime.database.engine.url, [plugin.migrations()]) as m:
        await m.upgrade()
    await plugin.startup(runtime)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            email = "carol@example.com"
            resp = await client.post(
                "/auth/register", json={"email": email, "password": "granite harbour lamp drifts"}
            )
            assert resp.status_code == 201
            mail = (await client.get("/_dev/mail", params={"to": email})).json()
            assert mail[-1]["data"]["kind"] == "verify"
            assert set(mail[-1]) == {"to", "subject", "text", "data"}
    finally:
        await plugin.shutdown(runtime)
        await runtime.database.aclose()


async def test_prod_has_no_dev_mailbox_and_needs_keys_and_smtp(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):  # no SMTP in prod
        AuthPlugin().setup(FastAPI(), _runtime(tmp_path, env="prod"))
    plugin = AuthPlugin(AuthSettings(smtp_host="127.0.0.1"))
    runtime = _runtime(tmp_path, env="prod")
    app = FastAPI()
    plugin.setup(app, runtime)
    install_error_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/_dev/mail")).status_code == 404
        assert (await c.post("/auth/login", json={})).status_code == 422
    with pytest.raises(ConfigurationError):  # no keys in prod
        await plugin.startup(runtime)
    await runtime.database.aclose()


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SVC_DATABASE_URL", url)
    monkeypatch.setenv("SVC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SVC_REDIS_URL", raising=False)

    async def migrate() -> None:
        async with Migrator(url, [AuthPlugin().migrations()]) as m:
            await m.upgrade()

    asyncio.run(migrate())
    runner = CliRunner()
    result = runner.invoke(
        auth_cli,
        ["create-user", "Root@Example.com", "--admin", "--password-stdin"],
        input="granite harbour lamp drifts east\n",
    )
    assert result.exit_code == 0, result.output
    assert "root@example.com" in result.output
    weak = runner.invoke(
        auth_cli, ["create-user", "weak@example.com", "--password-stdin"], input="password1234\n"
    )
    assert weak.exit_code == 1
    dup = runner.invoke(
        auth_cli,
        ["create-user", "root@example.com", "--password-stdin"],
        input="granite harbour lamp drifts east\n",
    )
    assert dup.exit_code == 1
    result = runner.invoke(auth_cli, ["revoke-sessions", "ROOT@example.com"])
    assert result.exit_code == 0, result.output
    assert "revoked 0 session(s)" in result.output
    assert runner.invoke(auth_cli, ["revoke-sessions", "nobody@example.com"]).exit_code == 1
    result = runner.invoke(auth_cli, ["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "auth-keys.json").exists()
