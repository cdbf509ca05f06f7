"""svc_core.sql Base and mixins: constraint names, timestamps, soft delete, versions, tenant."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    MetaData,
    String,
    UniqueConstraint,
    insert,
    inspect,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.exc import StaleDataError

from svc_core.sql import (
    NAMING_CONVENTION,
    UUIDPK,
    Base,
    Database,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    VersionMixin,
    utcnow,
    uuid7,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection


class _TestBase(Base):
    """Shares Base's registry and type map; keeps these tables out of Base.metadata."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Parent(_TestBase):
    __tablename__ = "sqlt_parents"
    __table_args__ = (CheckConstraint("qty >= 0", name="qty_positive"),)

    id: Mapped[UUIDPK]
    code: Mapped[str] = mapped_column(String(20), unique=True)
    qty: Mapped[int] = mapped_column(default=0)


class Child(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, _TestBase):
    __tablename__ = "sqlt_children"
    __table_args__ = (UniqueConstraint("tenant_id", "body"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sqlt_parents.id"))
    body: Mapped[str] = mapped_column(String(100))
    seen_at: Mapped[datetime | None]


@pytest.fixture
async def db(database: Database) -> Database:
    async with database.engine.begin() as conn:
        await conn.run_sync(_TestBase.metadata.create_all)
    return database


async def _add_child(db: Database, **values: Any) -> Child:
    values.setdefault("tenant_id", "t1")
    values.setdefault("body", "hello")
    async with db.transaction() as session:
        child = Child(**values)
        session.add(child)
    return child


def test_base_carries_the_naming_convention() -> None:
    convention: dict[Any, Any] = dict(Base.metadata.naming_convention)
    for key, template in NAMING_CONVENTION.items():
        assert convention[key] == template


async def test_constraints_get_conventional_names(db: Database) -> None:
    def reflect(conn: Connection) -> dict[str, Any]:
        insp = inspect(conn)
        return {
            "pk": insp.get_pk_constraint("sqlt_parents")["name"],
            "uq_parent": {u["name"] for u in insp.get_unique_constraints("sqlt_parents")},
            "uq_child": {u["name"] for u in insp.get_unique_constraints("sqlt_children")},
            "ck": {c["name"] for c in insp.get_check_constraints("sqlt_parents")},
            "fk": {f["name"] for f in insp.get_foreign_keys("sqlt_children")},
            "ix": {i["name"] for i in insp.get_indexes("sqlt_children")},
        }

    async with db.engine.connect() as conn:
        names = await conn.run_sync(reflect)
    assert names["pk"] == "pk_sqlt_parents"
    assert names["uq_parent"] == {"uq_sqlt_parents_code"}
    assert names["uq_child"] == {"uq_sqlt_children_tenant_id_body"}
    assert names["ck"] == {"ck_sqlt_parents_qty_positive"}
    assert names["fk"] == {"fk_sqlt_children_parent_id_sqlt_parents"}
    assert {"ix_sqlt_children_tenant_id", "ix_sqlt_children_deleted_at"} <= names["ix"]


async def test_timestamps_are_aware_and_updated_at_moves(db: Database) -> None:
    before = utcnow()
    child = await _add_child(db)
    assert child.created_at.tzinfo is UTC
    assert before <= child.created_at <= utcnow()
    assert child.updated_at >= child.created_at

    await asyncio.sleep(0.01)
    async with db.transaction() as session:
        loaded = await session.get(Child, child.id)
        assert loaded is not None
        assert loaded.created_at == child.created_at
        loaded.body = "changed"
    async with db.session() as session:
        reloaded = await session.get(Child, child.id)
    assert reloaded is not None
    assert reloaded.created_at == child.created_at
    assert reloaded.updated_at > child.updated_at
    assert reloaded.updated_at.tzinfo is UTC


async def test_server_defaults_fill_rows_inserted_outside_the_orm(db: Database) -> None:
    async with db.transaction() as session:
        table = _TestBase.metadata.tables["sqlt_children"]
        await session.execute(insert(table).values(id=7, tenant_id="t1", body="core"))
    async with db.session() as session:
        child = await session.get(Child, 7)
    assert child is not None
    assert child.version == 1
    assert child.created_at.tzinfo is UTC
    assert abs(child.created_at - utcnow()) < timedelta(minutes=1)


async def test_datetimes_are_stored_as_utc_and_naive_ones_refused(db: Database) -> None:
    paris = timezone(timedelta(hours=2))
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=paris)
    child = await _add_child(db, seen_at=moment)
    async with db.session() as session:
        loaded = await session.get(Child, child.id)
    assert loaded is not None
    assert loaded.seen_at is not None
    assert loaded.seen_at == moment
    assert loaded.seen_at.tzinfo is UTC
    assert loaded.seen_at.hour == 10

    with pytest.raises(sa_exc.StatementError, match="naive datetime"):
        await _add_child(db, body="naive", seen_at=datetime(2024, 5, 1, 12, 0))  # noqa: DTZ001


async def test_soft_delete_and_restore(db: Database) -> None:
    keep = await _add_child(db, body="keep")
    gone = await _add_child(db, body="gone")
    async with db.transaction() as session:
        loaded = await session.get(Child, gone.id)
        assert loaded is not None
        before = loaded.is_deleted
        loaded.soft_delete()
        assert (before, loaded.is_deleted) == (False, True)

    async with db.session() as session:
        visible = (await session.scalars(select(Child.id).where(Child.not_deleted()))).all()
        deleted = (await session.scalars(select(Child.id).where(Child.is_deleted))).all()
    assert visible == [keep.id]
    assert deleted == [gone.id]

    async with db.transaction() as session:
        loaded = await session.get(Child, gone.id)
        assert loaded is not None
        assert loaded.deleted_at is not None
        assert loaded.deleted_at.tzinfo is UTC
        loaded.restore()
    async with db.session() as session:
        visible = (await session.scalars(select(Child.id).where(Child.not_deleted()))).all()
    assert sorted(visible) == sorted([keep.id, gone.id])


async def test_version_bumps_and_stale_writes_fail(db: Database) -> None:
    child = await _add_child(db)
    assert child.version == 1

    async with db.session() as first, db.session() as second:
        mine = await first.get(Child, child.id)
        theirs = await second.get(Child, child.id)
        assert mine is not None
        assert theirs is not None
        mine.body = "first writer"
        await first.commit()
        assert mine.version == 2

        theirs.body = "second writer"
        with pytest.raises(StaleDataError):
            await second.commit()

    async with db.session() as session:
        final = await session.get(Child, child.id)
    assert final is not None
    assert (final.body, final.version) == ("first writer", 2)


async def test_tenant_is_required(db: Database) -> None:
    column = Child.__table__.c.tenant_id
    assert column.nullable is False
    assert column.index is True
    assert isinstance(column.type, String)
    assert column.type.length == 64
    with pytest.raises(sa_exc.IntegrityError):
        async with db.transaction() as session:
            session.add(Child(body="orphan"))


async def test_uuid_primary_keys_are_time_ordered(db: Database) -> None:
    ids = []
    for code in ("a", "b", "c"):
        async with db.transaction() as session:
            parent = Parent(code=code)
            session.add(parent)
        ids.append(parent.id)
        await asyncio.sleep(0.002)
    assert all(value.version == 7 for value in ids)
    assert ids == sorted(ids)
    async with db.session() as session:
        stored = (await session.scalars(select(Parent.id).order_by(Parent.code))).all()
    assert list(stored) == ids


def test_uuid7_is_unique_and_versioned() -> None:
    values = [uuid7() for _ in range(1000)]
    assert len(set(values)) == 1000
    assert {value.version for value in values} == {7}
    assert {value.variant for value in values} == {uuid.RFC_4122}
