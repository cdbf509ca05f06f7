"""Automatic tenant scoping for SQLAlchemy sessions.

:class:`TenantSession` (the sync class behind an ``AsyncSession``) filters every ORM
query on a model with :class:`~svc_core.sql.TenantMixin` by the tenant in
:mod:`svc_core.context` — the main entity, joined entities, aliases and relationship
loads (lazy, ``selectinload``, ``joinedload``) alike, through SQLAlchemy's
``do_orm_execute`` event and :func:`~sqlalchemy.orm.with_loader_criteria` — and fills
``tenant_id`` on new rows at flush. Rows of :class:`~svc_core.sql.SoftDeleteMixin`
models are hidden the same way unless the statement asks for them::

    stmt = select(Project).execution_options(include_deleted=True)

Fail closed: a query or flush touching a tenant-owned table with no tenant in context
raises :class:`~svc_tenancy.errors.TenantContextMissingError`; writing a row of another
tenant raises :class:`~svc_tenancy.errors.CrossTenantWriteError`. Work that must cross
tenants runs in :func:`~svc_tenancy.system_context` (audited).

Get a scoped session factory with :func:`tenant_sessionmaker`, or make an existing
:class:`~svc_core.sql.Database`'s sessions scoped with :func:`scope_database`.
Raw SQL (``text()``, Core on a connection) is not filtered: on Postgres, row-level
security (:mod:`svc_tenancy.rls`) is the second wall for it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from svc_core.context import get_tenant_id
from svc_core.sql import Base, SoftDeleteMixin, TenantMixin
from svc_tenancy.errors import CrossTenantWriteError, TenantContextMissingError
from svc_tenancy.system import in_system_context

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import SessionTransaction, UOWTransaction

    from svc_core.sql import Database

__all__ = [
    "INCLUDE_DELETED",
    "RLS_INFO_KEY",
    "TenantSession",
    "scope_database",
    "tenant_sessionmaker",
    "tenant_tables",
]

#: Execution option that also returns soft-deleted rows.
INCLUDE_DELETED = "include_deleted"
#: ``Session.info`` key: set the Postgres RLS settings at the start of each transaction.
RLS_INFO_KEY = "svc_tenancy_rls"


class TenantSession(Session):
    """A :class:`~sqlalchemy.orm.Session` whose ORM statements are tenant-scoped.

    Use it as ``sync_session_class`` of an ``async_sessionmaker`` (see
    :func:`tenant_sessionmaker`) or directly for synchronous code.
    """


def tenant_tables() -> set[str]:
    """Names of the tables whose models use :class:`~svc_core.sql.TenantMixin`."""
    return {
        m.local_table.name  # type: ignore[attr-defined]
        for m in Base.registry.mappers
        if issubclass(m.class_, TenantMixin)
    }


def _touches_tenant_table(state: ORMExecuteState) -> bool:
    if any(issubclass(m.class_, TenantMixin) for m in state.all_mappers):
        return True
    owned = tenant_tables()
    statement: Any = state.statement
    found = find_tables(statement, include_aliases=True, include_joins=True)
    return any(getattr(t, "name", None) in owned for t in found)


#: Hides soft-deleted rows; tenant-independent, so built once.
_NOT_DELETED = with_loader_criteria(
    SoftDeleteMixin,
    lambda cls: cls.deleted_at.is_(None),
    include_aliases=True,
)


@functools.lru_cache(maxsize=4096)
def _tenant_criteria(tenant: str) -> Any:
    # One option object per tenant, reused: building it (lambda analysis) costs more than
    # the lookup. The tenant is a closure variable, so SQLAlchemy sends it as a bound
    # parameter and every tenant shares one compiled statement.
    return with_loader_criteria(
        TenantMixin,
        lambda cls: cls.tenant_id == tenant,
        include_aliases=True,
    )


@event.listens_for(TenantSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if state.is_column_load or not (state.is_select or state.is_update or state.is_delete):
        return
    include_deleted = state.execution_options.get(INCLUDE_DELETED, False)
    if in_system_context():
        if not include_deleted:
            state.statement = state.statement.options(_NOT_DELETED)
        return
    tenant = get_tenant_id()
    if tenant is None:
        if _touches_tenant_table(state):
            msg = "a tenant-owned table was queried with no tenant in context"
            raise TenantContextMissingError(msg)
        if not include_deleted:
            state.statement = state.statement.options(_NOT_DELETED)
    elif include_deleted:
        state.statement = state.statement.options(_tenant_criteria(tenant))
    else:
        state.statement = state.statement.options(_NOT_DELETED, _tenant_criteria(tenant))


@event.listens_for(TenantSession, "before_flush")
def _check_flush(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    if in_system_context():
        return
    tenant = get_tenant_id()
    for obj in session.new:
        if not isinstance(obj, TenantMixin):
            continue
        if tenant is None:
            msg = f"cannot insert a {type(obj).__name__} with no tenant in context"
            raise TenantContextMissingError(msg)
        current: str | None = obj.tenant_id
        if current is None:
            obj.tenant_id = tenant
        elif current != tenant:
            msg = f"refusing to insert a {type(obj).__name__} into another tenant"
            raise CrossTenantWriteError(msg)
    for obj in (*session.dirty, *session.deleted):
        if not isinstance(obj, TenantMixin):
            continue
        if tenant is None:
            msg = f"cannot write a {type(obj).__name__} with no tenant in context"
            raise TenantContextMissingError(msg)
        if obj.tenant_id != tenant:
            msg = f"refusing to write a {type(obj).__name__} of another tenant"
            raise CrossTenantWriteError(msg)


_SET_RLS = text(
    "SELECT set_config('svc.tenant_id', :tenant, true),"
    " set_config('svc.tenant_bypass', :bypass, true)"
)


@event.listens_for(TenantSession, "after_begin")
def _set_rls(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    if not session.info.get(RLS_INFO_KEY) or connection.dialect.name != "postgresql":
        return
    connection.execute(
        _SET_RLS,
        {"tenant": get_tenant_id() or "", "bypass": "on" if in_system_context() else "off"},
    )


def tenant_sessionmaker(
    database: Database, *, rls: bool = False
) -> async_sessionmaker[AsyncSession]:
    """A session factory on ``database``'s engine whose sessions are tenant-scoped.

    Args:
        database: The database.
        rls: On Postgres, set ``svc.tenant_id`` (and ``svc.tenant_bypass`` inside
            :func:`~svc_tenancy.system_context`) with ``set_config(…, true)`` — the
            transaction-local ``SET LOCAL`` — at the start of every transaction.
    """
    return async_sessionmaker(
        database.engine,
        expire_on_commit=False,
        sync_session_class=TenantSession,
        info={RLS_INFO_KEY: rls},
    )


def scope_database(database: Database, *, rls: bool = False) -> None:
    """Make every session ``database`` hands out tenant-scoped (see :func:`tenant_sessionmaker`)."""
    database.sessionmaker.configure(sync_session_class=TenantSession, info={RLS_INFO_KEY: rls})
