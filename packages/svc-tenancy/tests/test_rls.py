"""Postgres row-level security: raw SQL without the ORM filter cannot cross tenants."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from svc_core.context import scope
from svc_core.sql import Base, Database
from svc_tenancy import policy_sql, system_context, tenant_sessionmaker


@pytest.fixture
async def rls_db(postgres_url: str, test_tables):
    """A fresh Postgres database with the test tables under RLS, and a non-superuser role.

    The superuser bypasses row-level security even with FORCE, so the test connects as
    a role of its own, dropped afterwards.
    """
    role = f"svc_rls_{secrets.token_hex(4)}"
    admin = Database(postgres_url)
    try:
        async with admin.engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=test_tables))
            for table in ("tn_test_boards", "tn_test_cards"):
                for statement in policy_sql(table):
                    await conn.execute(text(statement))
            await conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            await conn.execute(
                text(
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
                )
            )
        url = postgres_url.replace("postgres@", f"{role}@", 1)
        app_db = Database(url)
        try:
            yield admin, app_db
        finally:
            await app_db.aclose()
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f"DROP OWNED BY {role}"))
            await conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        await admin.aclose()


async def test_raw_sql_cannot_read_or_write_another_tenants_rows(rls_db, models) -> None:
    admin, app_db = rls_db
    sessions = tenant_sessionmaker(app_db, rls=True)
    for tid in ("t1", "t2"):
        with scope(tenant_id=tid):
            async with sessions() as s, s.begin():
                s.add(models.Board(title=f"{tid}-board"))
    # The admin (superuser) sees both: the rows really are in one table.
    async with admin.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM tn_test_boards"))).scalar_one() == 2

    with scope(tenant_id="t1"):
        async with sessions() as s:
            # Raw SQL, no ORM filter, asking for everything and for t2 explicitly.
            rows = (await s.execute(text("SELECT tenant_id, title FROM tn_test_boards"))).all()
            t2 = (
                await s.execute(text("SELECT title FROM tn_test_boards WHERE tenant_id = 't2'"))
            ).all()
        assert rows == [("t1", "t1-board")]
        assert t2 == []
        async with sessions() as s:
            with pytest.raises(DBAPIError, match="row-level security"):
                async with s.begin():
                    await s.execute(
                        text(
                            "INSERT INTO tn_test_boards (id, tenant_id, title)"
                            " VALUES (gen_random_uuid(), 't2', 'x')"
                        )
                    )

    # A connection that never set a tenant sees nothing at all.
    async with app_db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM tn_test_boards"))).scalar_one() == 0

    # The audited escape opens the wall for jobs and admin tools.
    with system_context("test: cross-tenant report"):
        async with sessions() as s:
            titles = (
                (await s.execute(select(models.Board.title).order_by(models.Board.title)))
                .scalars()
                .all()
            )
    assert titles == ["t1-board", "t2-board"]


def test_policy_sql_is_generated_with_force_using_and_check() -> None:
    statements = policy_sql("projects")
    assert statements[0] == 'ALTER TABLE "projects" ENABLE ROW LEVEL SECURITY'
    assert statements[1] == 'ALTER TABLE "projects" FORCE ROW LEVEL SECURITY'
    assert "USING" in statements[2]
    assert "WITH CHECK" in statements[2]
    assert "current_setting('svc.tenant_id', true)" in statements[2]
    with pytest.raises(ValueError, match="identifier"):
        policy_sql('projects"; DROP TABLE x; --')
