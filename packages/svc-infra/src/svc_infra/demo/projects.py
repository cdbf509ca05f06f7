"""The demo's sample tenant-scoped resource: projects.

The model needs only svc-core; the routes come from svc-tenancy's
:func:`~svc_tenancy.tenant_crud_router` and exist only when svc-tenancy is installed.
:class:`DemoPlugin` (not an entry point: :func:`svc_infra.demo.create_demo_app` adds it)
contributes the ``demo`` migration branch and the routes:

=============================== ==================================================
``POST /projects``              201 ``{"id","name","description","version","created_at"}``
``GET /projects``               ``{"items","next_cursor"}``, ``limit`` ≤ 100
``GET /projects/{id}``          ``ETag`` = the version; another tenant's id → 404
``PATCH /projects/{id}``        body ``version`` stale → 409; success bumps ``version``
``DELETE /projects/{id}``       204, soft delete
``POST /projects/{id}/restore`` 200, undelete
=============================== ==================================================
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from svc_core.plugin import BasePlugin
from svc_core.sql import (
    UUIDPK,
    Base,
    MigrationSource,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    VersionMixin,
)

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from svc_core.plugin import Runtime

__all__ = ["DemoPlugin", "Project", "ProjectCreate", "ProjectRead", "ProjectUpdate"]


class Project(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    """A project: owned by one tenant, soft-deletable, optimistically locked."""

    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[UUIDPK]
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProjectCreate(BaseModel):
    """Body of ``POST /projects``; unknown fields (``tenant_id``, ``owner_id`` …) → 422."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Apollo", "description": "Moon shot"}]},
    )

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class ProjectUpdate(BaseModel):
    """Body of ``PATCH /projects/{id}``: the fields to change, and optionally ``version``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Apollo 11", "version": 1}]},
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    version: int | None = Field(
        default=None, ge=1, description="The version you read; a stale one → 409."
    )


class ProjectRead(BaseModel):
    """A project as the API returns it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0193a6f2-7c1e-7d2a-9b7e-3f1c2a4b5d6e",
                    "name": "Apollo",
                    "description": "Moon shot",
                    "version": 1,
                    "created_at": "2026-11-28T09:00:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    name: str
    description: str | None
    version: int
    created_at: datetime


def projects_router(**kw: Any) -> APIRouter:
    """The ``/projects`` routes (needs svc-tenancy); ``kw`` goes to the router factory."""
    from svc_tenancy import tenant_crud_router

    return tenant_crud_router(
        Project,
        create_schema=ProjectCreate,
        update_schema=ProjectUpdate,
        read_schema=ProjectRead,
        prefix="/projects",
        tags=["projects"],
        **kw,
    )


def _idempotency_options(runtime: Runtime) -> dict[str, Any]:
    """``Idempotency-Key`` on POST and PATCH, ``If-Match`` on PATCH (with svc-idempotency).

    Only when the idempotency plugin is wired into this service (installed is not
    enough: an app may leave it out). ``require_tenant`` comes first so that a request
    without a tenant is refused before the key is claimed (nothing stored for it).
    """
    if not any(p.name == "idempotency" for p in runtime.plugins):
        return {}
    try:
        from svc_idempotency import IdempotencyKey, if_match_hook
    except ImportError:  # svc-idempotency not installed: the routes ignore both headers
        return {}
    from fastapi import Depends

    from svc_core.dependencies import require_tenant

    keyed = [Depends(require_tenant), Depends(IdempotencyKey())]
    return {
        "create_dependencies": keyed,
        "update_dependencies": keyed,
        "before_update": [if_match_hook()],
    }


class DemoPlugin(BasePlugin):
    """The demo's own plugin: the ``demo`` migration branch and the ``/projects`` routes."""

    name = "demo"

    def setup(self, app: FastAPI, runtime: Runtime) -> None:
        """Add ``/projects`` when svc-tenancy is installed."""
        try:
            router = projects_router(**_idempotency_options(runtime))
        except ImportError:  # svc-tenancy not installed: the resource does not exist
            return
        app.include_router(router)

    def migrations(self) -> MigrationSource:
        """The ``demo`` branch: the projects table."""
        return MigrationSource.for_package(
            "demo", "svc_infra.demo", models=("svc_infra.demo.projects",)
        )
