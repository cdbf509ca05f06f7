"""Engine, plugin and settings behaviour: leases, double completion, wiring."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from svc_idempotency_testkit import Engine, build_app, migrate

from svc_core.kv import KV, KVUnavailableError, MemoryKV
from svc_core.plugin import Runtime
from svc_core.settings import SvcSettings
from svc_core.sql import Database
from svc_idempotency import (
    Idempotency,
    IdempotencyKeyInUseError,
    IdempotencyMiddleware,
    IdempotencyPlugin,
    IdempotencySettings,
    PreconditionRequiredHeaderError,
    SqlIdempotencyStore,
    StalePreconditionError,
    StoredResponse,
    if_match_hook,
)
from svc_idempotency.manager import Claim, claim_key


async def test_lease_is_renewed_while_the_handler_runs(kv: KV) -> None:
    engine = Engine(kv.backend, Idempotency(kv, lease=1.5), kv, None)
    engine.gate = asyncio.Event()
    app = build_app(engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Idempotency-Key": "k", "x-test-user": "u"}
        first = asyncio.create_task(client.post("/items", json={"name": "a"}, headers=headers))
        for _ in range(1000):  # bounded: at most ~10 s for the handler to start
            if engine.calls.get("items") or first.done():
                break
            await asyncio.sleep(0.01)
        assert not first.done(), f"the first request ended early: {(await first).text}"
        assert engine.calls.get("items") == 1
        await asyncio.sleep(4.0)  # more than two leases: only renewal keeps the claim
        busy = await client.post("/items", json={"name": "a"}, headers=headers)
        assert busy.status_code == 409
        engine.gate.set()
        assert (await first).status_code == 201
    assert engine.calls["items"] == 1


async def test_an_expired_claim_can_be_taken_over(kv: KV) -> None:
    """A crashed holder: its claim expires and a retry runs."""
    idem = Idempotency(kv, lease=0.2)
    claim = await idem.begin("scope", "fp")
    assert isinstance(claim, Claim)
    with pytest.raises(IdempotencyKeyInUseError):
        await idem.begin("scope", "fp")
    await asyncio.sleep(0.4)
    again = await idem.begin("scope", "fp")
    assert isinstance(again, Claim)
    await idem.complete(again, StoredResponse("fp", 201, (), b"x"))
    # The first holder waking up late cannot overwrite or release the new outcome.
    assert await idem.complete(claim, StoredResponse("fp", 500, (), b"late")) is False
    stored = await idem.begin("scope", "fp")
    assert isinstance(stored, StoredResponse)
    assert stored.body == b"x"
    assert await _holder(idem, "scope") is None


async def _holder(idem: Idempotency, scope: str) -> str | None:
    """Who holds the claim on ``scope``: in the key-value store, or in the memory table."""
    if idem._local is not None:
        return idem._local.owner(scope)
    return await idem.kv.owner(claim_key(scope))


async def test_sql_record_in_refuses_a_second_completion(database_url: str) -> None:
    """Two completions of one key: the second transaction fails instead of committing."""
    await migrate(database_url)
    db = Database(database_url)
    try:
        store = SqlIdempotencyStore(db)
        record = StoredResponse("fp", 201, (), b"{}")
        async with db.transaction() as session:
            assert await store.put_in(session, "s", record, 60) is True
        async with db.transaction() as session:
            assert await store.put_in(session, "s", record, 60) is False
        got = await store.get("s")
        assert got is not None
        assert (got.fingerprint, got.status, got.body) == ("fp", 201, b"{}")
    finally:
        await db.aclose()


class Row:
    version = 3


def _request(if_match: str | None) -> Request:
    headers = [] if if_match is None else [(b"if-match", if_match.encode())]
    return Request({"type": "http", "method": "PATCH", "path": "/", "headers": headers})


async def test_if_match_hook() -> None:
    await if_match_hook()(_request(None), Row())
    await if_match_hook()(_request('"3"'), Row())
    await if_match_hook()(_request("*"), Row())
    with pytest.raises(StalePreconditionError):
        await if_match_hook()(_request('"2"'), Row())
    with pytest.raises(PreconditionRequiredHeaderError):
        await if_match_hook(required=True)(_request(None), Row())


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_IDEMPOTENCY__TTL", "3600")
    monkeypatch.setenv("SVC_IDEMPOTENCY__LEASE", "5")
    monkeypatch.setenv("SVC_IDEMPOTENCY__REPLAY_HEADERS", "Location, ETag")
    settings = IdempotencySettings()
    assert (settings.ttl, settings.lease) == (3600.0, 5.0)
    assert settings.replay_headers == ["location", "etag"]
    assert IdempotencySettings.model_fields["ttl"].default == 86400.0


async def test_plugin_wires_middleware_engine_and_migrations(tmp_path: Any) -> None:
    kv = MemoryKV()
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        runtime = Runtime(settings=SvcSettings(), kv=kv, database=db)
        plugin = IdempotencyPlugin()
        (spec,) = plugin.middleware(runtime)
        assert (spec.name, spec.order, spec.factory) == ("idempotency", 800, IdempotencyMiddleware)
        app = FastAPI()
        plugin.setup(app, runtime)
        manager = runtime.state["idempotency"]
        assert isinstance(manager, Idempotency)
        assert app.state.svc_idempotency is manager
        assert manager.ttl == 86400.0
        source = plugin.migrations()
        assert source is not None
        assert (source.versions_dir / "i1_idempotency.py").exists()
    finally:
        await db.aclose()
        await kv.aclose()


class LossyReplyKV(MemoryKV):
    """Runs every script, but the first reply of each kind is "lost" (a timeout)."""

    def __init__(self) -> None:
        super().__init__("lossy:")
        self.lost: set[str] = set()

    async def run(self, script: Any, keys: Any, args: Any) -> Any:
        reply = await super().run(script, keys, args)
        if script.name not in self.lost:
            self.lost.add(script.name)
            raise KVUnavailableError(script.name)
        return reply


async def test_a_timed_out_claim_or_completion_is_retried_safely() -> None:
    kv = LossyReplyKV()
    idem = Idempotency(kv)
    claim = await idem.begin("scope", "fp")  # the first reply was lost: retried, still ours
    assert isinstance(claim, Claim)
    await idem.complete(claim, StoredResponse("fp", 201, (), b"ok"))
    replay = await idem.begin("scope", "fp")
    assert isinstance(replay, StoredResponse)
    assert replay.body == b"ok"
    assert await kv.owner(claim_key("scope")) is None
    await kv.aclose()


async def test_migrations_apply_match_the_models_and_roll_back(database_url: str) -> None:
    from svc_core.sql import Migrator

    source = IdempotencyPlugin().migrations()
    assert source is not None
    async with Migrator(database_url, [source]) as migrator:
        assert await migrator.upgrade("heads") == ["i1_idempotency"]
        assert await migrator.check() == []
        assert await migrator.downgrade("base") == ["i1_idempotency"]


def test_cli_reports_the_outbox_and_purges(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from svc_idempotency.cli import idempotency_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(migrate(url))
    monkeypatch.setenv("SVC_DATABASE_URL", url)
    runner = CliRunner()
    stats = runner.invoke(idempotency_app, ["outbox"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output) == {"pending": 0, "dead": 0, "sent": 0, "lag": 0.0}
    purged = runner.invoke(idempotency_app, ["purge"])
    assert json.loads(purged.output) == {"records": 0, "inbox": 0}
    assert json.loads(runner.invoke(idempotency_app, ["dead"]).output) == []


async def test_one_renewal_task_keeps_every_held_claim(kv: KV) -> None:
    idem = Idempotency(kv, lease=0.6)
    claims = [await idem.begin(f"held-{i}", "fp") for i in range(3)]
    for claim in claims:
        assert isinstance(claim, Claim)
        idem.keep_alive(claim)
    await asyncio.sleep(1.5)  # more than two leases: only renewal keeps them
    for i in range(3):
        with pytest.raises(IdempotencyKeyInUseError):
            await idem.begin(f"held-{i}", "fp")
    await idem.release(claims[0])
    await asyncio.sleep(0.9)  # the released one is no longer renewed, the others are
    assert isinstance(await idem.begin("held-0", "fp"), Claim)
    with pytest.raises(IdempotencyKeyInUseError):
        await idem.begin("held-1", "fp")
    for claim in claims[1:]:
        await idem.complete(claim, StoredResponse("fp", 201, (), b"ok"))
    await asyncio.sleep(0.5)  # nothing held: the renewal task ends by itself
    assert idem._renewer is None


def test_renewal_works_on_a_second_event_loop() -> None:
    """An engine outliving its first loop (several TestClient sessions on one app)."""
    idem = Idempotency(MemoryKV(), lease=0.6)

    async def hold(scope: str) -> None:
        claim = await idem.begin(scope, "fp")
        assert isinstance(claim, Claim)
        idem.keep_alive(claim)
        await asyncio.sleep(1.5)
        with pytest.raises(IdempotencyKeyInUseError):
            await idem.begin(scope, "fp")
        await idem.complete(claim, StoredResponse("fp", 201, (), b"ok"))

    asyncio.run(hold("first-loop"))
    asyncio.run(hold("second-loop"))
