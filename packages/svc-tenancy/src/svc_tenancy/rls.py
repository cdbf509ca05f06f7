"""Postgres row-level security: the second wall behind the ORM filter.

The ORM filter (:mod:`svc_tenancy.scoping`) covers every ORM query; raw SQL does not go
through it. Row-level security makes Postgres itself refuse other tenants' rows, for
every statement on the table, from every client that is not a superuser or the table's
owner with ``BYPASSRLS`` (``FORCE`` makes the policies bind the owner too)::

    # in an Alembic revision, after creating the table
    from svc_tenancy.rls import enable_rls
    enable_rls(op, "projects")

and turn on ``SVC_TENANCY__RLS=true`` so every transaction of a tenant-scoped session
runs ``set_config('svc.tenant_id', <tenant>, true)`` (``SET LOCAL``: it ends with the
transaction, so a pooled connection never leaks a tenant). Note that a Postgres
superuser bypasses row-level security even with ``FORCE``: the service must connect as
an ordinary role.

The policy (:func:`policy_sql`)::

    USING      (tenant_id = current_setting('svc.tenant_id', true)
                OR current_setting('svc.tenant_bypass', true) = 'on')
    WITH CHECK (same)

``current_setting(…, true)`` yields NULL when unset, so a connection that never set a
tenant sees no rows and can write none. ``svc.tenant_bypass`` is set to ``on`` only
inside :func:`~svc_tenancy.system_context`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "BYPASS_SETTING",
    "TENANT_SETTING",
    "disable_rls",
    "drop_policy_sql",
    "enable_rls",
    "policy_sql",
]

TENANT_SETTING = "svc.tenant_id"
BYPASS_SETTING = "svc.tenant_bypass"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        msg = f"not a plain SQL identifier: {name!r}"
        raise ValueError(msg)
    return f'"{name}"'


def policy_sql(
    table: str, *, column: str = "tenant_id", policy: str = "tenant_isolation"
) -> list[str]:
    """The statements that put ``table`` under tenant row-level security.

    Args:
        table: Table name (a plain identifier).
        column: The tenant column.
        policy: Policy name.

    Returns:
        ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and one ``CREATE POLICY`` with
        ``USING`` and ``WITH CHECK``.
    """
    t, c, p = _ident(table), _ident(column), _ident(policy)
    check = (
        f"({c} = current_setting('{TENANT_SETTING}', true)"
        f" OR current_setting('{BYPASS_SETTING}', true) = 'on')"
    )
    return [
        f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {p} ON {t} USING {check} WITH CHECK {check}",
    ]


def drop_policy_sql(table: str, *, policy: str = "tenant_isolation") -> list[str]:
    """The statements that undo :func:`policy_sql`."""
    t, p = _ident(table), _ident(policy)
    return [
        f"DROP POLICY IF EXISTS {p} ON {t}",
        f"ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {t} DISABLE ROW LEVEL SECURITY",
    ]


def enable_rls(op: Any, table: str, **kw: Any) -> None:
    """Run :func:`policy_sql` from an Alembic revision (no-op on other dialects)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in policy_sql(table, **kw):
        op.execute(statement)


def disable_rls(op: Any, table: str, **kw: Any) -> None:
    """Undo :func:`enable_rls` in a downgrade (no-op on other dialects)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in drop_policy_sql(table, **kw):
        op.execute(statement)
