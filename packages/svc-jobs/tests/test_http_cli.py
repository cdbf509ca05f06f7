"""``GET /jobs/{id}``, the admin routes and ``svc-infra jobs …`` commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from svc_core.context import Principal, scope
from svc_core.errors import install_error_handlers
from svc_core.kv import MemoryKV
from svc_core.plugin import Runtime
from svc_core.settings import SvcSettings
from svc_core.sql import Database
from svc_jobs import Jobs, JobsPlugin
from svc_jobs.cli import jobs_cli
from svc_jobs.registry import DEFAULT_REGISTRY, JobRegistry

if TYPE_CHECKING:
    from conftest import Env  # type: ignore[import-not-found]
    from starlette.types import ASGIApp, Receive, Scope, Send


class FakeAuth:
    """Test-only: ``X-Test-User: subject;tenant;role,role`` becomes the principal and tenant."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope_: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope_.get("headers") or [])
        raw = headers.get(b"x-test-user")
        if scope_["type"] != "http" or raw is None:
            await self.app(scope_, receive, send)
            return
        subject, tenant, roles = raw.decode().split(";")
        principal = Principal(subject, roles=frozenset(r for r in roles.split(",") if r))
        with scope(principal=principal, tenant_id=tenant):
            await self.app(scope_, receive, send)


def build(jobs: Jobs, runtime: Runtime) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    plugin = JobsPlugin(registry=jobs.registry)
    runtime.state["jobs"] = jobs
    plugin.setup(app, runtime)
    app.add_middleware(FakeAuth)
    return app


async def test_job_route_and_admin_dlq(env: Env) -> None:
    reg = JobRegistry()

    @reg.job("h.fail", max_attempts=1, track=True)
    async def fail() -> None:
        raise RuntimeError("boom")

    jobs = env.make(reg)
    runtime = jobs.runtime
    app = build(jobs, runtime)
    await jobs.start()
    stop = asyncio.Event()
    worker = None if jobs.embedded else asyncio.create_task(jobs.work(stop))
    alice = {"X-Test-User": "u1;t1;"}
    admin = {"X-Test-User": "root;t0;admin"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        with scope(tenant_id="t1"):
            job_id = await jobs.enqueue("h.fail")
        for _ in range(200):
            body = (await c.get(f"/jobs/{job_id}", headers=alice)).json()
            if body.get("status") == "dead":
                break
            await asyncio.sleep(0.05)
        assert body == {"id": job_id, "status": "dead", "attempts": 1, "result": None}
        other = await c.get(f"/jobs/{job_id}", headers={"X-Test-User": "u2;t2;"})
        assert other.status_code == 404
        assert other.headers["content-type"].startswith("application/problem+json")
        assert (await c.get(f"/jobs/{job_id}")).status_code == 401

        assert (await c.get("/admin/jobs/dlq", headers=alice)).status_code == 403
        items = (await c.get("/admin/jobs/dlq", headers=admin)).json()["items"]
        assert [(i["job_id"], i["reason"], i["error"]) for i in items] == [
            (job_id, "exhausted", "RuntimeError: boom")
        ]
        stats = (await c.get("/admin/jobs/stats", headers=admin)).json()
        assert stats["dead_letters"] == 1
        replayed = await c.post(
            "/admin/jobs/dlq/replay", json={"ids": [items[0]["id"]]}, headers=admin
        )
        assert replayed.json() == {"replayed": 1}
        for _ in range(200):
            if len((await c.get("/admin/jobs/dlq", headers=admin)).json()["items"]) == 1:
                break
            await asyncio.sleep(0.05)
        purged = await c.post("/admin/jobs/dlq/purge", json={}, headers=admin)
        assert purged.json() == {"purged": 1}
        assert (await c.get("/admin/jobs/dlq", headers=admin)).json()["items"] == []
    stop.set()
    if worker is not None:
        await asyncio.wait_for(worker, timeout=30)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from svc_jobs_testkit import migrate

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(migrate(url))
    monkeypatch.setenv("SVC_DATABASE_URL", url)
    monkeypatch.delenv("SVC_REDIS_URL", raising=False)
    return {"url": url}


def _seed(url: str, n: int) -> None:
    async def main() -> None:
        database = Database(url)
        kv = MemoryKV("cli:")
        try:
            jobs = Jobs(Runtime(settings=SvcSettings(database_url=url), kv=kv, database=database))
            for i in range(n):
                await jobs.store.dead_letter(
                    message=json.dumps(
                        {
                            "task_id": f"x{i}",
                            "task_name": "cli.gone",
                            "labels": {},
                            "args": [],
                            "kwargs": {},
                        }
                    ),
                    reason="unknown_task",
                    attempts=0,
                    error="no job",
                    name="cli.gone",
                )
        finally:
            await kv.aclose()
            await database.aclose()

    asyncio.run(main())


def test_cli_dlq_list_replay_purge_stats(cli_env: dict[str, Any]) -> None:
    _seed(cli_env["url"], 2)
    runner = CliRunner()
    listed = runner.invoke(jobs_cli, ["dlq", "list"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines() if line.startswith("{")]
    assert [r["reason"] for r in rows] == ["unknown_task", "unknown_task"]
    # Unknown jobs cannot be replayed: they stay.
    assert "replayed 0" in runner.invoke(jobs_cli, ["dlq", "replay"]).output
    stats = runner.invoke(jobs_cli, ["stats"])
    assert json.loads(stats.output.strip().splitlines()[-1])["dead_letters"] == 2
    one = runner.invoke(jobs_cli, ["dlq", "purge", rows[0]["id"]])
    assert "purged 1" in one.output
    rest = runner.invoke(jobs_cli, ["dlq", "purge", "--yes"])
    assert "purged 1" in rest.output


def test_worker_refuses_the_embedded_profile(cli_env: dict[str, Any]) -> None:
    result = CliRunner().invoke(jobs_cli, ["worker"])
    assert result.exit_code != 0
    assert DEFAULT_REGISTRY is not None
