"""Async SQL for svc-infra packages: engine, shared base and mixins, per-package migrations.

Needs the ``sql`` extra (``pip install "svc-core[sql]"``; Postgres also needs
``svc-core[postgres]``). Importing this module opens nothing.

Open a database and use sessions::

    from svc_core.sql import Database

    db = Database.from_settings()            # SVC_DATABASE_URL, or embedded SQLite
    async with db.transaction() as session:  # commit on success, rollback on error
        session.add(Note(tenant_id="t1", text="hi"))
    ok = await db.ping()                     # readiness probes
    await db.aclose()

Declare models on the shared :class:`Base` with the mixins::

    class Note(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
        __tablename__ = "notes"
        id: Mapped[UUIDPK]
        text: Mapped[str]

Contribute migrations from a plugin (one Alembic branch per package) and apply them::

    MigrationSource.for_package("notes", "svc_notes", models=("svc_notes.models",))
    await Migrator.from_plugins(url, discover_plugins()).upgrade()

Unreachable databases raise :class:`DatabaseUnavailableError` (503).
"""

from __future__ import annotations

from svc_core.errors import MissingDependencyError

try:
    import alembic  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as _exc:  # pragma: no cover - depends on the installed extras
    _missing = "alembic" if getattr(_exc, "name", "") == "alembic" else "sqlalchemy"
    raise MissingDependencyError(_missing, package="svc-core", extra="sql") from _exc

from svc_core.sql.base import NAMING_CONVENTION, UUIDPK, AwareDateTime, Base, utcnow, uuid7
from svc_core.sql.engine import Database, create_engine, mask_url, normalize_url
from svc_core.sql.errors import (
    DatabaseUnavailableError,
    MigrationDriftError,
    MigrationError,
    is_unavailable,
)
from svc_core.sql.migrations import (
    MIGRATION_LOCK_KEY,
    MigrationSource,
    Migrator,
    ProgressCallback,
    RevisionInfo,
)
from svc_core.sql.mixins import SoftDeleteMixin, TenantMixin, TimestampMixin, VersionMixin

__all__ = [
    "MIGRATION_LOCK_KEY",
    "NAMING_CONVENTION",
    "UUIDPK",
    "AwareDateTime",
    "Base",
    "Database",
    "DatabaseUnavailableError",
    "MigrationDriftError",
    "MigrationError",
    "MigrationSource",
    "Migrator",
    "ProgressCallback",
    "RevisionInfo",
    "SoftDeleteMixin",
    "TenantMixin",
    "TimestampMixin",
    "VersionMixin",
    "create_engine",
    "is_unavailable",
    "mask_url",
    "normalize_url",
    "utcnow",
    "uuid7",
]
