"""Shared models and fixtures of svc-tenancy's tests (sqlite | postgres via svc-core)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from svc_core.context import Principal, scope
from svc_core.errors import install_error_handlers
from svc_core.sql import (
    UUIDPK,
    Base,
    Database,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    VersionMixin,
)
from svc_tenancy import (
    TenancyMiddleware,
    TenancySettings,
    Tenant,
    TenantResolver,
    TenantStore,
    tenant_sessionmaker,
)


class Board(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "tn_test_boards"
    id: Mapped[UUIDPK]
    title: Mapped[str] = mapped_column(String(100))
    cards: Mapped[list[Card]] = relationship(back_populates="board", order_by="Card.title")


class Card(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "tn_test_cards"
    id: Mapped[UUIDPK]
    title: Mapped[str] = mapped_column(String(100))
    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tn_test_boards.id"))
    board: Mapped[Board] = relationship(back_populates="cards")


class Label(Base):
    """Not tenant-owned: never filtered, never fails closed."""

    __tablename__ = "tn_test_labels"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


class Note(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "tn_test_notes"
    id: Mapped[UUIDPK]
    text: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class NotePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    version: int | None = None


class NoteOut(BaseModel):
    id: uuid.UUID
    text: str
    owner_id: str | None
    version: int


TABLES = [Board.__table__, Card.__table__, Label.__table__, Note.__table__, Tenant.__table__]


@pytest.fixture
def test_tables() -> list[Any]:
    return list(TABLES)


@pytest.fixture
def models() -> SimpleNamespace:
    return SimpleNamespace(
        Board=Board,
        Card=Card,
        Label=Label,
        Note=Note,
        NoteIn=NoteIn,
        NotePatch=NotePatch,
        NoteOut=NoteOut,
    )


@pytest_asyncio.fixture
async def db(database: Database) -> AsyncIterator[Database]:
    """The svc-core ``database`` (sqlite | postgres) with the test tables created."""
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=TABLES))
    yield database


@pytest.fixture
def sessions(db: Database) -> Any:
    return tenant_sessionmaker(db)


class FakeAuth:
    """Test-only pure-ASGI stand-in for svc-auth: principal from ``X-Test-*`` headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope_: Any, receive: Any, send: Any) -> None:
        headers = {k.decode(): v.decode() for k, v in scope_.get("headers", [])}
        sub = headers.get("x-test-sub")
        if scope_["type"] != "http" or not sub:
            await self.app(scope_, receive, send)
            return
        claims = {"tid": headers["x-test-tid"]} if headers.get("x-test-tid") else {}
        principal = Principal(
            subject=sub,
            roles=frozenset(r for r in headers.get("x-test-roles", "").split(",") if r),
            kind=headers.get("x-test-kind", "user"),
            claims=claims,
        )
        with scope(principal=principal):
            await self.app(scope_, receive, send)


def caller(tid: str | None, sub: str = "user-1", **extra: str) -> dict[str, str]:
    headers = {"x-test-sub": sub}
    if tid:
        headers["x-test-tid"] = tid
    headers.update({f"x-test-{k.replace('_', '-')}": v for k, v in extra.items()})
    return headers


AppFactory = Callable[..., Awaitable[tuple[FastAPI, TenantStore]]]


@pytest.fixture
def make_app(db: Database) -> AppFactory:
    """An app with FakeAuth (outer) → TenancyMiddleware → routes, on the test database."""

    async def factory(
        *routers: Any, settings: TenancySettings | None = None, trusted: tuple[str, ...] = ()
    ) -> tuple[FastAPI, TenantStore]:
        settings = settings or TenancySettings(cache_ttl=0)
        store = TenantStore(db, default_plan=settings.default_plan, cache_ttl=settings.cache_ttl)
        app = FastAPI()
        install_error_handlers(app)
        app.state.runtime = SimpleNamespace(
            database=db, state={"tenancy.sessionmaker": tenant_sessionmaker(db)}
        )
        for router in routers:
            app.include_router(router)
        resolver = TenantResolver(store, settings, trusted_proxies=trusted)
        app.add_middleware(TenancyMiddleware, resolver=resolver)
        app.add_middleware(FakeAuth)
        return app, store

    return factory
