"""svc-tenancy: automatic scoping vs the same query hand-written, list and get on projects.

    uv run python bench/tenancy_scoping.py                      # SQLite + Postgres if reachable
    uv run python bench/tenancy_scoping.py --rounds 30 --ops 200 --out /tmp/tenancy.json

What is compared, per dialect, on the demo's ``projects`` table (10 tenants x 1,000 rows,
10 % soft-deleted), each operation = open a session, run one query, read the rows, close
(what one request of the projects routes does against the database):

* ``list`` — the first page of 20: ``select(Project).order_by(Project.id).limit(20)``
  through a tenant-scoped session (svc-tenancy adds ``tenant_id = :t`` and
  ``deleted_at IS NULL`` itself), vs a plain session with the same two conditions
  written by hand in ``.where(...)``;
* ``get`` — one row by id, scoped vs ``.where(id == :id, tenant_id == :t,
  deleted_at IS NULL)`` by hand.

A round runs a short batch (``--ops``) of each variant, alternating which goes first;
many short alternating batches (default 30 x 200) keep a busy machine's drift out of the
comparison; the result is the ratio of median ops/s
(scoped / hand-written; target >= 0.95), and the same ratio computed from this process's
CPU time per operation (steadier than wall time on a shared machine; the database
server's own time is not in it, and it is the same for both variants: same SQL).
Postgres: ``SVC_BENCH_DATABASE_URL`` (a server URL; a throw-away database is created
and dropped), default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``; skipped when unreachable.
Everything stays on 127.0.0.1 and every loop is bounded by ``--ops``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid  # noqa: TC003 - used in annotations only, kept simple
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from svc_core.context import scope
from svc_core.sql import Base, Database, uuid7
from svc_infra.demo.projects import Project
from svc_tenancy import tenant_sessionmaker

TENANTS = 10
ROWS_PER_TENANT = 1000
PAGE = 20
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def seed(db: Database) -> dict[str, list[uuid.UUID]]:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=[Project.__table__]))
    ids: dict[str, list[uuid.UUID]] = {}
    async with db.engine.begin() as conn:
        for t in range(TENANTS):
            tid = f"tenant-{t}"
            rows = []
            for i in range(ROWS_PER_TENANT):
                pid = uuid7()
                rows.append(
                    {
                        "id": pid,
                        "tenant_id": tid,
                        "name": f"project {i}",
                        "description": "x" * 60,
                        "version": 1,
                        "deleted_at": None if i % 10 else datetime.now(UTC),
                    }
                )
                if i % 10:
                    ids.setdefault(tid, []).append(pid)
            await conn.execute(insert(Project.__table__), rows)
    return ids


async def run_ops(
    kind: str, variant: str, sessions: Any, ids: dict[str, list[uuid.UUID]], ops: int
) -> tuple[float, float]:
    """Run ``ops`` operations; return (ops per wall second, this process's CPU us per op)."""
    tenants = sorted(ids)
    start = time.perf_counter()
    cpu = time.process_time()
    for n in range(ops):
        tid = tenants[n % len(tenants)]
        pid = ids[tid][(n * 7919) % len(ids[tid])]
        if kind == "list":
            stmt = select(Project).order_by(Project.id).limit(PAGE)
            if variant == "hand":
                stmt = stmt.where(Project.tenant_id == tid, Project.deleted_at.is_(None))
        else:
            stmt = select(Project).where(Project.id == pid)
            if variant == "hand":
                stmt = stmt.where(Project.tenant_id == tid, Project.deleted_at.is_(None))
        with scope(tenant_id=tid):
            async with sessions() as session:
                rows = (await session.execute(stmt)).scalars().all()
        expected = PAGE if kind == "list" else 1
        if len(rows) != expected or rows[0].tenant_id != tid:
            msg = f"{kind}/{variant}: wrong result {len(rows)} rows"
            raise AssertionError(msg)
    return ops / (time.perf_counter() - start), (time.process_time() - cpu) / ops * 1e6


async def bench_dialect(url: str, label: str, rounds: int, ops: int) -> dict[str, Any]:
    db = Database(url)
    try:
        ids = await seed(db)
        variants = {
            "scoped": tenant_sessionmaker(db),
            "hand": async_sessionmaker(db.engine, expire_on_commit=False),
        }
        results: dict[str, Any] = {}
        for kind in ("list", "get"):
            samples: dict[str, list[float]] = {"scoped": [], "hand": []}
            cpu: dict[str, list[float]] = {"scoped": [], "hand": []}
            for v, factory in variants.items():  # warm-up: statement caches, pool
                await run_ops(kind, v, factory, ids, max(ops // 10, 50))
            for r in range(rounds):
                order = ["scoped", "hand"] if r % 2 == 0 else ["hand", "scoped"]
                for v in order:
                    rate, cpu_us = await run_ops(kind, v, variants[v], ids, ops)
                    samples[v].append(rate)
                    cpu[v].append(cpu_us)
            med = {v: statistics.median(s) for v, s in samples.items()}
            cpu_med = {v: statistics.median(s) for v, s in cpu.items()}
            paired = [s / h for s, h in zip(samples["scoped"], samples["hand"], strict=True)]
            results[kind] = {
                "ops_per_s": med,
                "ratio": med["scoped"] / med["hand"],
                "paired_ratio_median": statistics.median(paired),
                "paired_ratio_min": min(paired),
                "cpu_us_per_op": cpu_med,
                "cpu_ratio": cpu_med["hand"] / cpu_med["scoped"],
                "samples": samples,
            }
            print(
                f"{label:9} {kind:4}  scoped {med['scoped']:8.0f} ops/s  hand-written "
                f"{med['hand']:8.0f} ops/s  ratio {results[kind]['ratio']:.3f} "
                f"(paired median {results[kind]['paired_ratio_median']:.3f}, "
                f"min {results[kind]['paired_ratio_min']:.3f}); CPU us/op scoped "
                f"{cpu_med['scoped']:.0f} hand {cpu_med['hand']:.0f} "
                f"(ratio {results[kind]['cpu_ratio']:.3f})",
                flush=True,
            )
        return results
    finally:
        await db.aclose()


async def postgres_url(server: str) -> tuple[str, str] | None:
    name = f"bench_tenancy_{secrets.token_hex(4)}"
    admin = Database(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server: skip the dialect
        print(f"postgres   skipped: {type(exc).__name__}", file=sys.stderr)
        return None
    finally:
        await admin.aclose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    return url, name


async def drop_database(server: str, name: str) -> None:
    admin = Database(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="alternating batch pairs")
    parser.add_argument("--ops", type=int, default=200, help="operations per batch")
    parser.add_argument("--dialects", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"rounds": args.rounds, "ops": args.ops}
    dialects = args.dialects.split(",")
    if "sqlite" in dialects:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            report["sqlite"] = await bench_dialect(url, "sqlite", args.rounds, args.ops)
    if "postgresql" in dialects:
        server = os.environ.get("SVC_BENCH_DATABASE_URL", DEFAULT_PG)
        made = await postgres_url(server)
        if made is not None:
            url, name = made
            try:
                report["postgresql"] = await bench_dialect(url, "postgres", args.rounds, args.ops)
            finally:
                await drop_database(server, name)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
