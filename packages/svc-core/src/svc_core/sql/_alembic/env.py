"""Alembic environment used by :class:`svc_core.sql.Migrator`; not for the ``alembic`` CLI.

The migrator opens the connection itself (``async with engine.connect() as conn:
await conn.run_sync(...)``), so this works inside a running event loop, and passes it
with the ``context.configure`` options in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context

from svc_core.errors import ConfigurationError

_config = context.config
_connection = _config.attributes.get("connection")
if _connection is None or context.is_offline_mode():
    _msg = "svc-core migrations run through svc_core.sql.Migrator (svc-infra db …) only"
    raise ConfigurationError(_msg)

context.configure(connection=_connection, **_config.attributes.get("configure", {}))
with context.begin_transaction():
    context.run_migrations()
