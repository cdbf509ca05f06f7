"""The tenant table.

A tenant is the unit of isolation: every row of a model with
:class:`svc_core.sql.TenantMixin` belongs to exactly one. Its ``id`` is what tokens carry
in the ``tid`` claim (svc-auth gives every user a personal tenant id, a UUID string).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from svc_core.sql import Base, TimestampMixin, uuid7

__all__ = ["ACTIVE", "SUSPENDED", "Tenant", "new_tenant_id"]

ACTIVE = "active"
SUSPENDED = "suspended"


def new_tenant_id() -> str:
    """A new tenant id: a UUIDv7 string."""
    return str(uuid7())


class Tenant(TimestampMixin, Base):
    """One tenant.

    Attributes:
        id: The tenant id (``tid`` claim); up to 64 characters, a UUID by default.
        slug: Unique, URL-safe name (used by the subdomain strategy).
        name: Display name.
        status: ``active`` or ``suspended``.
        plan: Plan name; quotas come from ``SVC_TENANCY__PLANS[plan]``.
        quota_overrides: Quota name → limit string, overriding the plan's.
    """

    __tablename__ = "svc_tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_tenant_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ACTIVE)
    plan: Mapped[str] = mapped_column(String(64), nullable=False, default="free")
    quota_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    @property
    def is_active(self) -> bool:
        """True unless suspended."""
        return self.status == ACTIVE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (CLI output, admin APIs)."""
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "status": self.status,
            "plan": self.plan,
            "quota_overrides": dict(self.quota_overrides or {}),
            "created_at": self.created_at.isoformat(),
        }
