"""Reading and writing tenants: :class:`TenantStore`.

Lookups on the request path (status check, quota lookup) go through a small per-process
cache of ``cache_ttl`` seconds: a suspension or plan change made through another process
(the CLI, another replica) takes effect within that bound; changes made through this
store take effect at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from svc_core.errors import ConflictError, NotFoundError
from svc_tenancy.models import ACTIVE, SUSPENDED, Tenant, new_tenant_id

if TYPE_CHECKING:
    from collections.abc import Callable

    from svc_core.sql import Database

__all__ = ["TenantInfo", "TenantStore"]


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """An immutable snapshot of a tenant row (what the request path needs)."""

    id: str
    slug: str
    name: str
    status: str
    plan: str
    quota_overrides: dict[str, str]

    @property
    def is_active(self) -> bool:
        """True unless suspended."""
        return self.status == ACTIVE

    @classmethod
    def of(cls, row: Tenant) -> TenantInfo:
        """Snapshot ``row``."""
        return cls(
            id=row.id,
            slug=row.slug,
            name=row.name,
            status=row.status,
            plan=row.plan,
            quota_overrides={str(k): str(v) for k, v in (row.quota_overrides or {}).items()},
        )


class TenantStore:
    """CRUD on the tenants table, with a short per-process read cache.

    Args:
        database: Where the ``svc_tenants`` table lives.
        default_plan: Plan given to tenants created without one.
        cache_ttl: Seconds a looked-up tenant is reused (0 = always read).
        clock: Monotonic clock (tests).
    """

    def __init__(
        self,
        database: Database,
        *,
        default_plan: str = "free",
        cache_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.default_plan = default_plan
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, TenantInfo | None]] = {}

    def _remember(self, key: str, info: TenantInfo | None) -> None:
        if self.cache_ttl > 0:
            if len(self._cache) > 10_000:  # bound memory; a full reset is cheap
                self._cache.clear()
            self._cache[key] = (self._clock() + self.cache_ttl, info)

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Forget cached lookups (of one tenant, or all)."""
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    async def get(self, tenant_id: str, *, cached: bool = True) -> TenantInfo | None:
        """The tenant with id ``tenant_id``, or ``None``."""
        if cached and self.cache_ttl > 0:
            hit = self._cache.get(tenant_id)
            if hit is not None and hit[0] > self._clock():
                return hit[1]
        async with self.database.session() as session:
            row = await session.get(Tenant, tenant_id)
            info = TenantInfo.of(row) if row is not None else None
        if info is not None:
            self._remember(tenant_id, info)
        return info

    async def get_by_slug(self, slug: str) -> TenantInfo | None:
        """The tenant whose slug is ``slug``, or ``None``."""
        key = f"slug:{slug}"
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        async with self.database.session() as session:
            row = (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar()
            info = TenantInfo.of(row) if row is not None else None
        if info is not None:
            self._remember(key, info)
        return info

    async def resolve(self, ref: str) -> TenantInfo:
        """The tenant named by id or slug.

        Raises:
            NotFoundError: No such tenant.
        """
        info = await self.get(ref, cached=False) or await self.get_by_slug(ref)
        if info is None:
            msg = f"no tenant with id or slug {ref!r}"
            raise NotFoundError(msg)
        return info

    async def create(
        self,
        *,
        tenant_id: str | None = None,
        slug: str | None = None,
        name: str | None = None,
        plan: str | None = None,
        status: str = ACTIVE,
    ) -> TenantInfo:
        """Create a tenant (id: a UUIDv7 string unless given; slug and name: the id).

        Raises:
            ConflictError: The id or slug is taken.
        """
        new_id = tenant_id or new_tenant_id()
        row = Tenant(
            id=new_id,
            slug=slug or new_id,
            name=name or slug or new_id,
            status=status,
            plan=plan or self.default_plan,
            quota_overrides={},
        )
        try:
            async with self.database.transaction() as session:
                session.add(row)
        except IntegrityError as exc:
            msg = f"a tenant with id {row.id!r} or slug {row.slug!r} exists"
            raise ConflictError(msg) from exc
        info = TenantInfo.of(row)
        self.invalidate(info.id)
        return info

    async def ensure(self, tenant_id: str) -> TenantInfo:
        """The tenant ``tenant_id``, created ``active`` on the default plan if missing.

        Safe under concurrency: a lost insert race reads the winner's row.
        """
        info = await self.get(tenant_id)
        if info is not None:
            return info
        try:
            return await self.create(tenant_id=tenant_id)
        except ConflictError:
            found = await self.get(tenant_id, cached=False)
            if found is None:  # the slug (= id) clashed with another tenant's slug
                raise
            return found

    async def list(self, *, limit: int = 1000, after: str | None = None) -> list[TenantInfo]:
        """Tenants ordered by id, ``limit`` at a time, after the id ``after``."""
        stmt = select(Tenant).order_by(Tenant.id).limit(limit)
        if after is not None:
            stmt = stmt.where(Tenant.id > after)
        async with self.database.session() as session:
            return [TenantInfo.of(r) for r in (await session.execute(stmt)).scalars()]

    async def update(self, ref: str, **changes: Any) -> TenantInfo:
        """Change ``status``, ``plan``, ``name`` or ``quota_overrides`` of a tenant.

        Raises:
            NotFoundError: No such tenant.
        """
        target = await self.resolve(ref)
        async with self.database.transaction() as session:
            row = await session.get(Tenant, target.id)
            if row is None:  # deleted in between
                msg = f"no tenant {ref!r}"
                raise NotFoundError(msg)
            for key, value in changes.items():
                setattr(row, key, value)
        self.invalidate()
        return TenantInfo.of(row)

    async def suspend(self, ref: str) -> TenantInfo:
        """Suspend a tenant: its requests get 403 (within ``cache_ttl`` elsewhere)."""
        return await self.update(ref, status=SUSPENDED)

    async def activate(self, ref: str) -> TenantInfo:
        """Undo :meth:`suspend`."""
        return await self.update(ref, status=ACTIVE)

    async def set_quota(self, ref: str, name: str, limit: str | None) -> TenantInfo:
        """Override (or with ``None`` clear) one quota of one tenant."""
        target = await self.resolve(ref)
        overrides = dict(target.quota_overrides)
        if limit is None:
            overrides.pop(name, None)
        else:
            overrides[name] = limit
        return await self.update(target.id, quota_overrides=overrides)
