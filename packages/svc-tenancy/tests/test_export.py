"""Export: every row a tenant owns as JSON Lines, streaming with flat memory; the CLI."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import uuid

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from svc_tenancy import TenantStore, export_tenant
from svc_tenancy.cli import tenants_app


class CountingSink(io.TextIOBase):
    """Counts lines and keeps only the first few: the output itself must not use memory."""

    def __init__(self) -> None:
        self.lines = 0
        self.head: list[str] = []

    def write(self, s: str) -> int:
        for line in s.splitlines():
            self.lines += 1
            if len(self.head) < 3:
                self.head.append(line)
        return len(s)


@pytest.mark.slow
async def test_export_of_100k_rows_streams_with_bounded_memory(db, models) -> None:
    rows = 100_000
    batch = 5_000
    table = models.Note.__table__
    async with db.engine.begin() as conn:
        for start in range(0, rows, batch):
            await conn.execute(
                insert(table),
                [
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": "big",
                        "text": f"note {i:06d} " + "x" * 100,
                        "version": 1,
                    }
                    for i in range(start, start + batch)
                ],
            )
        await conn.execute(
            insert(table), [{"id": uuid.uuid4(), "tenant_id": "other", "text": "no", "version": 1}]
        )
    sink = CountingSink()
    tracemalloc.start()
    try:
        count = await export_tenant(db, "big", sink, batch_size=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    assert sink.lines == rows
    first = json.loads(sink.head[0])
    assert first["table"] == "tn_test_notes"
    assert first["row"]["tenant_id"] == "big"
    # 100k rows of ~250 bytes held at once would be well over 50 MB as Python objects;
    # a streaming export holds one batch. Generous bound, not a timing.
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


async def test_export_covers_every_tenant_table_and_only_that_tenant(db, models, sessions) -> None:
    from svc_core.context import scope

    for tid in ("t1", "t2"):
        with scope(tenant_id=tid):
            async with sessions() as s, s.begin():
                board = models.Board(title=f"{tid}-board")
                s.add(board)
                await s.flush()
                card = models.Card(title=f"{tid}-card", board_id=board.id)
                s.add(card)
                await s.flush()
                card.soft_delete()
    out = io.StringIO()
    assert await export_tenant(db, "t1", out) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted(line["table"] for line in lines) == ["tn_test_boards", "tn_test_cards"]
    assert {line["row"]["tenant_id"] for line in lines} == {"t1"}


async def test_cli_create_list_suspend_export(db, models, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVC_DATABASE_URL", str(db.engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("SVC_TENANCY__DEFAULT_PLAN", "starter")
    runner = CliRunner()
    # typer runs asyncio.run: do it in a worker thread, away from this test's event loop.
    import asyncio

    async def invoke(*args: str):
        return await asyncio.to_thread(runner.invoke, tenants_app, list(args))

    made = await invoke("create", "--slug", "acme", "--name", "Acme")
    assert made.exit_code == 0, made.output
    tenant = json.loads(made.stdout)
    assert tenant["plan"] == "starter"
    assert tenant["status"] == "active"
    dup = await invoke("create", "--slug", "acme")
    assert dup.exit_code == 1
    listed = await invoke("list", "--json")
    assert [json.loads(line)["slug"] for line in listed.stdout.splitlines()] == ["acme"]
    assert (await invoke("suspend", "acme")).exit_code == 0
    store = TenantStore(db, cache_ttl=0)
    assert (await store.get(tenant["id"])).status == "suspended"
    assert (await invoke("set-quota", "acme", "api", "7/minute")).exit_code == 0
    assert (await store.get(tenant["id"])).quota_overrides == {"api": "7/minute"}
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(models.Note.__table__),
            [{"id": uuid.uuid4(), "tenant_id": tenant["id"], "text": "n", "version": 1}],
        )
    target = tmp_path / "out.jsonl"
    exported = await invoke("export", "acme", "-o", os.fspath(target))
    assert exported.exit_code == 0, exported.output
    assert [json.loads(line)["row"]["text"] for line in target.read_text().splitlines()] == ["n"]
    assert (await invoke("suspend", "nobody")).exit_code == 1
