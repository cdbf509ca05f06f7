"""Export every row a tenant owns as JSON Lines, streaming: :func:`export_tenant`.

Every table of the database with a ``tenant_id`` column (the tables of
:class:`~svc_core.sql.TenantMixin` models, whichever package declares them) is read with
a server-side cursor (``yield_per``) and written one line per row::

    {"table": "projects", "row": {"id": "…", "tenant_id": "…", "name": "…", …}}

Soft-deleted rows are included (the tenant owns them). Memory stays flat whatever the
number of rows: only one batch of ``batch_size`` rows is held at a time.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, func, select, text

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from sqlalchemy import Table

    from svc_core.sql import Database

__all__ = ["export_tenant", "tenant_owned_tables"]


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


async def tenant_owned_tables(database: Database) -> list[Table]:
    """Every table of the database with a ``tenant_id`` column (read by reflection).

    Reflection rather than the models' metadata: the export then covers every package's
    tables (and a service's own) whether or not their models are imported.
    """
    metadata = MetaData()
    async with database.engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
    return [t for t in metadata.sorted_tables if "tenant_id" in t.c]


async def export_tenant(
    database: Database,
    tenant_id: str,
    out: TextIO,
    *,
    batch_size: int = 1000,
    on_table: Callable[[str, int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Write every row of ``tenant_id`` to ``out`` as JSON Lines; return the row count.

    Args:
        database: The database.
        tenant_id: Whose rows.
        out: A text stream (a file, ``sys.stdout``).
        batch_size: Rows fetched per round trip (server-side cursor on Postgres).
        on_table: Called with ``(table name, row count)`` before each table.
        on_rows: Called with the number of rows just written (progress bars).
    """
    total = 0
    for table in await tenant_owned_tables(database):
        where = table.c.tenant_id == tenant_id
        async with database.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # let row-level security see the tenant
                await conn.execute(
                    text("SELECT set_config('svc.tenant_id', :t, true)"), {"t": tenant_id}
                )
            if on_table is not None:
                count = (
                    await conn.execute(select(func.count()).select_from(table).where(where))
                ).scalar_one()
                on_table(table.name, int(count))
            stmt = select(table).where(where).execution_options(yield_per=batch_size)
            result = await conn.stream(stmt)
            async for partition in result.partitions():
                lines = [
                    json.dumps(
                        {"table": table.name, "row": dict(row._mapping)},
                        default=_default,
                        separators=(",", ":"),
                    )
                    for row in partition
                ]
                out.write("\n".join(lines) + "\n")
                total += len(lines)
                if on_rows is not None:
                    on_rows(len(lines))
            await conn.rollback()
    return total
