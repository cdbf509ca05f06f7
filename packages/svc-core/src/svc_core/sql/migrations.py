"""Alembic migrations contributed by packages, one branch per package, applied together.

A package keeps its revisions in ``src/svc_<name>/migrations/versions/``; the first one
declares ``branch_labels = ("<name>",)`` and ``down_revision = None``. Its plugin
returns the branch from ``migrations()``::

    def migrations(self) -> MigrationSource:
        return MigrationSource.for_package("auth", "svc_auth", models=("svc_auth.models",))

:class:`Migrator` drives Alembic's Python API with a configuration built in code (no
``alembic.ini``) and an ``env.py`` shipped in this package that uses a connection the
migrator opened itself, so every method is a coroutine safe to call from a running
event loop. ``svc-infra db upgrade|downgrade|current|pending|check|revision`` are thin
wrappers around it.

Concurrency: on Postgres, upgrade and downgrade hold ``pg_advisory_lock`` on their own
connection (:data:`MIGRATION_LOCK_KEY`), so replicas starting together migrate one after
the other and each revision is applied exactly once. SQLite needs no such lock: an
embedded database belongs to a single machine, and within one process migrations are
serialised anyway (Alembic's ``op`` proxy is process-global). On SQLite, foreign keys
are switched off while migrating so that batch ("move and copy") table rebuilds cannot
cascade, and a failing revision may leave its DDL half-applied (SQLite DDL is not
transactional under the default driver mode); on Postgres every revision runs in its
own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool

from svc_core.errors import ConfigurationError
from svc_core.sql._alembic_hooks import describe_diff, include_filter, tables_in_module
from svc_core.sql._migration_runtime import (
    alembic_config,
    alembic_errors,
    alembic_guard,
    check_target,
    current_heads,
    load_script,
    migration_connection,
    revision_sources,
)
from svc_core.sql.base import Base
from svc_core.sql.engine import create_engine, mask_url, normalize_url
from svc_core.sql.errors import MigrationDriftError, MigrationError
from svc_core.sql.sources import MigrationSource, RevisionInfo

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager, AbstractContextManager
    from types import TracebackType

    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy import Connection, MetaData
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from svc_core.plugin import SvcPlugin

__all__ = ["MIGRATION_LOCK_KEY", "MigrationSource", "Migrator", "ProgressCallback", "RevisionInfo"]

#: Postgres advisory lock key held while migrating (the bytes of ``"svc_mig"``).
MIGRATION_LOCK_KEY = 0x7376635F6D6967

#: ``on_revision(revision_id, message)``, called after each revision is applied or undone.
ProgressCallback = Callable[[str, str], None]


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class Migrator:
    """Applies, inspects and generates the migrations of several packages.

    Args:
        url: Database URL (masked in every message).
        sources: The branches, typically from :meth:`from_plugins`.
        metadata: Models to compare against; the shared ``Base.metadata`` by default.
        on_revision: Progress callback, see :data:`ProgressCallback`.
        lock_key: Postgres advisory lock key (same for every replica of a service).
        engine: Engine to use instead of a private ``NullPool`` one; the caller keeps
            ownership (:meth:`aclose` leaves it open).
    """

    def __init__(
        self,
        url: str | URL,
        sources: Sequence[MigrationSource],
        *,
        metadata: MetaData | None = None,
        on_revision: ProgressCallback | None = None,
        lock_key: int = MIGRATION_LOCK_KEY,
        engine: AsyncEngine | None = None,
    ) -> None:
        names = [source.name for source in sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            msg = f"two migration sources share the name(s) {', '.join(duplicates)}"
            raise ConfigurationError(msg)
        self._sources = tuple(sources)
        self._metadata = metadata if metadata is not None else Base.metadata
        self.on_revision = on_revision
        self._lock_key = lock_key
        self._owns_engine = engine is None
        self._engine = engine or create_engine(normalize_url(url), poolclass=NullPool)

    @classmethod
    def from_plugins(cls, url: str | URL, plugins: Iterable[SvcPlugin], **kw: Any) -> Self:
        """A migrator over every plugin's ``migrations()`` branch.

        Plugins without tables (``migrations()`` returns ``None``) are skipped; keyword
        arguments go to :class:`Migrator`.
        """
        sources = [src for plugin in plugins if (src := plugin.migrations()) is not None]
        return cls(url, sources, **kw)

    @property
    def sources(self) -> tuple[MigrationSource, ...]:
        """The branches, in the order given."""
        return self._sources

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return mask_url(self._engine.url)

    @property
    def dialect(self) -> str:
        """The dialect name: ``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    async def aclose(self) -> None:
        """Dispose of the private engine (an engine passed in stays open)."""
        if self._owns_engine:
            await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ commands

    async def upgrade(self, target: str = "heads") -> list[str]:
        """Apply revisions up to ``target`` (``heads``, ``auth@head``, ``auth@+1``, an id).

        Returns:
            The revision ids applied, in order (empty when already up to date).

        Raises:
            MigrationError: Unknown target or a revision failed.
            DatabaseUnavailableError: The database cannot be reached.
        """
        return await self._migrate("upgrade", target)

    async def downgrade(self, target: str) -> list[str]:
        """Undo revisions down to ``target`` (``auth@-1``, ``auth@base``, ``base``, an id).

        Returns:
            The revision ids undone, in order.

        Raises:
            MigrationError: Unknown target or a revision failed.
            DatabaseUnavailableError: The database cannot be reached.
        """
        return await self._migrate("downgrade", target)

    async def current(self) -> dict[str, str | None]:
        """The latest applied revision of every branch: ``{source name: revision or None}``.

        A branch with several applied heads (unmerged forks) lists them comma-separated.

        Raises:
            MigrationError: The database holds a revision no source knows.
        """
        if not self._sources:
            return {}
        script = self._script()
        owners = self._revision_sources(script)
        async with self._connect() as conn:
            heads = await conn.run_sync(current_heads)
        pending = {i.revision for i in self._plan(script, heads, "heads", downgrade=False)}
        with self._alembic_errors():
            revisions = list(script.walk_revisions())
        applied = {rev.revision for rev in revisions if rev.revision not in pending}
        latest: dict[str, list[str]] = {source.name: [] for source in self._sources}
        for rev in revisions:
            owner = owners.get(rev.revision)
            if owner is None or rev.revision not in applied:
                continue
            if not any(owners.get(nxt) == owner and nxt in applied for nxt in rev.nextrev):
                latest[owner].append(rev.revision)
        return {name: ",".join(sorted(revs)) or None for name, revs in latest.items()}

    async def plan(self, target: str = "heads", *, downgrade: bool = False) -> list[RevisionInfo]:
        """The revisions :meth:`upgrade` (or :meth:`downgrade`) to ``target`` would run.

        Returns:
            The revisions in the order they would run (for progress bars and dry runs).
        """
        if not self._sources:
            return []
        script = self._script()
        async with self._connect() as conn:
            heads = await conn.run_sync(current_heads)
        return self._plan(script, heads, target, downgrade=downgrade)

    async def pending(self) -> list[str]:
        """Revision ids not yet applied (what ``upgrade("heads")`` would run), in order."""
        return [info.revision for info in await self.plan("heads")]

    async def history(self) -> list[RevisionInfo]:
        """Every known revision, from the bases to the heads, with its ``applied`` state."""
        if not self._sources:
            return []
        script = self._script()
        owners = self._revision_sources(script)
        async with self._connect() as conn:
            heads = await conn.run_sync(current_heads)
        pending = {i.revision for i in self._plan(script, heads, "heads", downgrade=False)}
        with self._alembic_errors():
            revisions = list(reversed(list(script.walk_revisions())))
        return [self._info(rev, owners, applied=rev.revision not in pending) for rev in revisions]

    async def check(self, *, raise_on_drift: bool = False) -> list[str]:
        """Compare the models with the migrated database schema (Alembic autogenerate).

        Run it on a database migrated to ``heads`` (CI: ``db upgrade`` then ``db
        check``). When sources declare ``models``, only the tables they own are compared;
        otherwise every table of the metadata and of the database is.

        Args:
            raise_on_drift: Raise instead of returning differences.

        Returns:
            One line per difference (empty when models and migrations agree); when
            revisions are pending, one line per pending revision instead.

        Raises:
            MigrationDriftError: ``raise_on_drift`` and there are differences.
        """
        if not self._sources:
            return []
        pending = await self.plan("heads")
        if pending:
            lines = [f"pending revision {p.revision} ({p.source}): {p.message}" for p in pending]
            return self._drift(lines, raise_on_drift=raise_on_drift)
        ownership = self._ownership()
        names = None if ownership is None else set().union(*ownership.values())
        include_object, include_name = include_filter(names)
        opts = {
            "compare_type": True,
            "target_metadata": self._metadata,
            "include_object": include_object,
            "include_name": include_name,
        }

        def compare(connection: Connection) -> list[Any]:
            context = MigrationContext.configure(connection, opts=opts)
            return list(compare_metadata(context, self._metadata))

        async with self._connect() as conn:
            with self._alembic_errors():
                diffs = await conn.run_sync(compare)
        return self._drift([describe_diff(diff) for diff in diffs], raise_on_drift=raise_on_drift)

    @staticmethod
    def _drift(lines: list[str], *, raise_on_drift: bool) -> list[str]:
        if lines and raise_on_drift:
            raise MigrationDriftError(lines)
        return lines

    async def revision(self, source_name: str, message: str, *, autogenerate: bool = True) -> Path:
        """Write a new revision file at the head of ``source_name``'s branch.

        The branch's first revision gets ``branch_labels=(source_name,)``. With
        ``autogenerate`` the database must be at ``heads``; only the tables the source
        owns are compared (see :attr:`MigrationSource.models`).

        Returns:
            The path of the new file.
        """
        source = next((s for s in self._sources if s.name == source_name), None)
        if source is None:
            known = ", ".join(s.name for s in self._sources) or "none"
            msg = f"unknown migration source {source_name!r} (known: {known})"
            raise ConfigurationError(msg)
        script = self._script()
        owners = self._revision_sources(script)
        exists = source_name in owners.values()
        kwargs: dict[str, Any] = {
            "message": message,
            "autogenerate": autogenerate,
            "head": f"{source_name}@head" if exists else "base",
            "branch_label": None if exists else source_name,
            "version_path": str(source.versions_dir.resolve()),
        }

        def generate(connection: Connection | None) -> Path:
            extra: dict[str, Any] = {}
            if autogenerate:
                owned = (self._ownership() or {}).get(source_name)
                extra["include_object"], extra["include_name"] = include_filter(owned)
            with self._alembic_errors():
                result = command.revision(self._config(connection, **extra), **kwargs)
            scripts = result if isinstance(result, list) else [result]
            created = next((s for s in scripts if s is not None), None)
            if created is None:
                msg = "alembic did not create a revision"
                raise MigrationError(msg)
            return Path(created.path)

        async with alembic_guard():
            if not autogenerate:
                return generate(None)
            async with self._connect() as conn:
                return await conn.run_sync(generate)

    # ------------------------------------------------------------------ internals

    async def _migrate(self, direction: str, target: str) -> list[str]:
        if not self._sources:
            return []
        # Validate labels and target before waiting for the lock.
        check_target(target, self._revision_sources(self._script()))
        async with self._connect(migrate=True) as conn, alembic_guard():
            return await conn.run_sync(self._run, direction, target)

    def _run(self, connection: Connection, direction: str, target: str) -> list[str]:
        done: list[str] = []

        def on_version_apply(*, step: Any, **_: Any) -> None:
            revision = step.up_revision_id or ""
            script = step.up_revision
            done.append(revision)
            if self.on_revision is not None:
                self.on_revision(revision, (script.doc if script is not None else "") or "")

        config = self._config(connection, on_version_apply=[on_version_apply])
        with self._alembic_errors():
            if direction == "upgrade":
                command.upgrade(config, target)
            else:
                command.downgrade(config, target)
        return done

    def _config(self, connection: Connection | None, **configure: Any) -> Config:
        return alembic_config(self._sources, self._metadata, connection, **configure)

    def _script(self) -> ScriptDirectory:
        return load_script(self._sources, self._metadata)

    def _revision_sources(self, script: ScriptDirectory) -> dict[str, str]:
        return revision_sources(script, self._sources)

    def _alembic_errors(self) -> AbstractContextManager[None]:
        return alembic_errors(self.dialect, self.url)

    def _connect(self, *, migrate: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        lock_key = self._lock_key if migrate else None
        return migration_connection(self._engine, self.url, lock_key=lock_key)

    def _plan(
        self, script: ScriptDirectory, heads: tuple[str, ...], target: str, *, downgrade: bool
    ) -> list[RevisionInfo]:
        owners = self._revision_sources(script)
        check_target(target, owners)
        with self._alembic_errors():
            if downgrade:
                revs = list(script.iterate_revisions(heads, target, select_for_downgrade=True))
            else:
                revs = list(script.iterate_revisions(target, heads, implicit_base=True))
                revs.reverse()
        return [self._info(rev, owners, applied=downgrade) for rev in revs]

    @staticmethod
    def _info(rev: Script, owners: dict[str, str], *, applied: bool) -> RevisionInfo:
        return RevisionInfo(
            revision=rev.revision,
            source=owners.get(rev.revision),
            message=rev.doc or "",
            down_revisions=_as_tuple(rev.down_revision),
            is_head=rev.is_head,
            applied=applied,
        )

    def _ownership(self) -> dict[str, set[str]] | None:
        """Tables each source owns, from its ``models`` modules (None: no source says)."""
        if not any(source.models for source in self._sources):
            return None
        owned = {
            source.name: set().union(*(tables_in_module(m) for m in source.models))
            for source in self._sources
            if source.models
        }
        claimed: set[str] = set().union(*owned.values())
        leftover = {table.name for table in self._metadata.tables.values()} - claimed
        for source in self._sources:
            owned.setdefault(source.name, leftover)
        return owned
