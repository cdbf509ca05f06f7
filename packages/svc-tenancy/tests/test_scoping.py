"""Automatic scoping: selects, joins, relationship loads, inserts; fail closed; escapes."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import aliased, joinedload, selectinload

from svc_core.context import scope
from svc_tenancy import (
    CrossTenantWriteError,
    TenantContextMissingError,
    add_audit_hook,
    remove_audit_hook,
    system_context,
)


async def seed(sessions, models):
    """Two tenants, each with one board of two cards; one soft-deleted card in t1."""
    for tid in ("t1", "t2"):
        with scope(tenant_id=tid):
            async with sessions() as s, s.begin():
                board = models.Board(title=f"{tid}-board")
                s.add(board)
                await s.flush()
                s.add_all(
                    [
                        models.Card(title=f"{tid}-a", board_id=board.id),
                        models.Card(title=f"{tid}-b", board_id=board.id),
                    ]
                )
    with scope(tenant_id="t1"):
        async with sessions() as s, s.begin():
            card = (
                await s.execute(select(models.Card).where(models.Card.title == "t1-b"))
            ).scalar_one()
            card.soft_delete()


async def test_insert_gets_the_tenant_and_select_sees_only_its_rows(sessions, models) -> None:
    await seed(sessions, models)
    with scope(tenant_id="t2"):
        async with sessions() as s:
            boards = (await s.execute(select(models.Board))).scalars().all()
            titles = sorted(c.title for c in (await s.execute(select(models.Card))).scalars())
    assert [(b.title, b.tenant_id) for b in boards] == [("t2-board", "t2")]
    assert titles == ["t2-a", "t2-b"]


async def test_joins_and_aliases_are_filtered(sessions, models) -> None:
    await seed(sessions, models)
    with system_context("test: move a t2 card under t1's board"):
        async with sessions() as s, s.begin():
            b1 = (
                await s.execute(select(models.Board).where(models.Board.tenant_id == "t1"))
            ).scalar_one()
            card = (
                await s.execute(select(models.Card).where(models.Card.title == "t2-a"))
            ).scalar_one()
            card.board_id = b1.id  # a corrupt row: a t2 card on a t1 board
    with scope(tenant_id="t1"):
        async with sessions() as s:
            joined = (
                (
                    await s.execute(
                        select(models.Card.title).join(models.Board).order_by(models.Card.title)
                    )
                )
                .scalars()
                .all()
            )
            other = aliased(models.Card)
            count = (
                await s.execute(
                    select(func.count())
                    .select_from(models.Board)
                    .join(other, other.board_id == models.Board.id)
                )
            ).scalar_one()
            # Columns only (no entity at the top): the joined tables are still filtered.
            col_only = (
                await s.execute(select(models.Board.title, models.Card.title).join(models.Card))
            ).all()
    assert joined == ["t1-a"]  # t2-a is on a t1 board but belongs to t2; t1-b is deleted
    assert count == 1
    assert col_only == [("t1-board", "t1-a")]


@pytest.mark.parametrize("loader", ["lazy", "selectin", "joined"])
async def test_relationship_loads_are_filtered(sessions, models, loader: str) -> None:
    await seed(sessions, models)
    with system_context("test: corrupt"):
        async with sessions() as s, s.begin():
            b1 = (
                await s.execute(select(models.Board).where(models.Board.tenant_id == "t1"))
            ).scalar_one()
            card = (
                await s.execute(select(models.Card).where(models.Card.title == "t2-b"))
            ).scalar_one()
            card.board_id = b1.id
    with scope(tenant_id="t1"):
        async with sessions() as s:
            stmt = select(models.Board)
            if loader == "selectin":
                stmt = stmt.options(selectinload(models.Board.cards))
            elif loader == "joined":
                stmt = stmt.options(joinedload(models.Board.cards))
            board = (await s.execute(stmt)).unique().scalar_one()
            cards = await board.awaitable_attrs.cards
    assert [c.title for c in cards] == ["t1-a"]


async def test_get_by_primary_key_of_another_tenant_is_none(sessions, models) -> None:
    await seed(sessions, models)
    with scope(tenant_id="t2"):
        async with sessions() as s:
            t2_board = (await s.execute(select(models.Board))).scalar_one()
    with scope(tenant_id="t1"):
        async with sessions() as s:
            assert await s.get(models.Board, t2_board.id) is None


async def test_orm_update_and_delete_are_scoped(sessions, models) -> None:
    await seed(sessions, models)
    with scope(tenant_id="t1"):
        async with sessions() as s, s.begin():
            await s.execute(update(models.Card).values(title="renamed"))
            await s.execute(delete(models.Board).where(models.Board.title == "t2-board"))
    with system_context("test: inspect"):
        async with sessions() as s:
            rows = (await s.execute(select(models.Card.tenant_id, models.Card.title))).all()
            boards = (await s.execute(select(func.count()).select_from(models.Board))).scalar_one()
    assert sorted(rows) == [("t1", "renamed"), ("t2", "t2-a"), ("t2", "t2-b")]
    assert boards == 2


async def test_no_tenant_fails_closed_for_queries_and_writes(sessions, models) -> None:
    await seed(sessions, models)
    async with sessions() as s:
        with pytest.raises(TenantContextMissingError):
            await s.execute(select(models.Card))
        with pytest.raises(TenantContextMissingError):
            await s.execute(
                select(models.Label.text).join(models.Card, models.Card.title == models.Label.text)
            )
        with pytest.raises(TenantContextMissingError):
            await s.execute(update(models.Card).values(title="x"))
    async with sessions() as s:
        s.add(models.Board(title="orphan"))
        with pytest.raises(TenantContextMissingError):
            await s.flush()


async def test_untenanted_models_need_no_tenant(sessions, models) -> None:
    async with sessions() as s, s.begin():
        s.add(models.Label(text="ok"))
    async with sessions() as s:
        assert (await s.execute(select(models.Label.text))).scalars().all() == ["ok"]


async def test_writing_into_another_tenant_is_refused(sessions, models) -> None:
    await seed(sessions, models)
    with scope(tenant_id="t1"):
        async with sessions() as s:
            s.add(models.Board(title="sneaky", tenant_id="t2"))
            with pytest.raises(CrossTenantWriteError):
                await s.flush()
        async with sessions() as s:
            board = (await s.execute(select(models.Board))).scalar_one()
            board.tenant_id = "t2"
            with pytest.raises(CrossTenantWriteError):
                await s.flush()


async def test_soft_deleted_rows_are_hidden_unless_asked_for(sessions, models) -> None:
    await seed(sessions, models)
    with scope(tenant_id="t1"):
        async with sessions() as s:
            visible = (await s.execute(select(models.Card.title))).scalars().all()
            everything = (
                (await s.execute(select(models.Card.title).execution_options(include_deleted=True)))
                .scalars()
                .all()
            )
    assert visible == ["t1-a"]
    assert sorted(everything) == ["t1-a", "t1-b"]


async def test_system_context_lifts_scoping_and_is_audited(sessions, models, caplog) -> None:
    await seed(sessions, models)
    events = []
    add_audit_hook(events.append)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="svc_tenancy.audit"),
            system_context("nightly report"),
        ):
            async with sessions() as s:
                tenants = (await s.execute(select(models.Board.tenant_id))).scalars().all()
    finally:
        remove_audit_hook(events.append)
    assert sorted(tenants) == ["t1", "t2"]
    assert [e.reason for e in events] == ["nightly report"]
    assert "nightly report" in caplog.text
    with pytest.raises(Exception, match="reason"), system_context(" "):
        pass
