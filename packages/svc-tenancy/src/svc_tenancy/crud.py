"""A tenant-scoped CRUD router factory: :func:`tenant_crud_router`.

Built for models with :class:`~svc_core.sql.TenantMixin` (and optionally
:class:`~svc_core.sql.SoftDeleteMixin` and :class:`~svc_core.sql.VersionMixin`) and a
single-column, orderable primary key (``UUIDPK`` — UUIDv7 — is ideal).
"""

# No ``from __future__ import annotations`` here: the route handlers are built inside the
# factory and FastAPI must see the caller's schema classes as real annotations.

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, create_model
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from svc_core.dependencies import require_tenant
from svc_core.errors import ConfigurationError, NotFoundError
from svc_core.sql import SoftDeleteMixin, TenantMixin, VersionMixin
from svc_tenancy.errors import InvalidCursorError, StaleVersionError
from svc_tenancy.scoping import INCLUDE_DELETED, tenant_sessionmaker

__all__ = [
    "PROTECTED_FIELDS",
    "SESSIONMAKER_KEY",
    "Page",
    "UpdateHook",
    "tenant_crud_router",
    "version_etag",
]

#: ``runtime.state`` key of the tenant-scoped session factory the plugin builds.
SESSIONMAKER_KEY = "tenancy.sessionmaker"
#: Fields a client may never set (AC-04); schemas declaring them are refused at build time.
PROTECTED_FIELDS = frozenset(
    {"tenant_id", "role", "roles", "is_admin", "owner_id", "created_by", "deleted_at", "id"}
)

#: ``async hook(request, obj)`` run on the loaded row before an update is applied.
UpdateHook = Callable[[Request, Any], Awaitable[None]]


class Page(BaseModel):
    """One page of a cursor-paginated list."""

    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [], "next_cursor": "eyJrIjoiMDE5In0"}}
    )

    items: list[Any]
    next_cursor: str | None = None


def version_etag(obj: Any) -> str:
    """The default ETag: the row's ``version`` as a strong entity tag (``"3"``)."""
    return f'"{obj.version}"'


def _encode_cursor(key: Any) -> str:
    raw = json.dumps({"k": str(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str, convert: Callable[[str], Any]) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        return convert(str(data["k"]))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise InvalidCursorError("The cursor is not one this service issued.") from exc


def _default_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    runtime = request.app.state.runtime
    factory = runtime.state.get(SESSIONMAKER_KEY)
    if factory is None:
        factory = runtime.state[SESSIONMAKER_KEY] = tenant_sessionmaker(runtime.database)
    return factory  # type: ignore[no-any-return]


def tenant_crud_router(  # noqa: PLR0915 - one factory builds six small handlers
    model: type[Any],
    *,
    create_schema: type[BaseModel],
    update_schema: type[BaseModel],
    read_schema: type[BaseModel],
    prefix: str,
    tags: Sequence[str] | None = None,
    sessionmaker: Callable[[Request], async_sessionmaker[AsyncSession]] | None = None,
    dependencies: Sequence[Any] = (),
    create_dependencies: Sequence[Any] = (),
    read_dependencies: Sequence[Any] = (),
    update_dependencies: Sequence[Any] = (),
    delete_dependencies: Sequence[Any] = (),
    restore_dependencies: Sequence[Any] = (),
    etag: Callable[[Any], str] | None = version_etag,
    before_update: Sequence[UpdateHook] = (),
    default_limit: int = 20,
    max_limit: int = 100,
) -> APIRouter:
    """Build ``POST``/``GET`` list/``GET``/``PATCH``/``DELETE``/``POST …/restore`` routes.

    Every route requires a tenant (:func:`svc_core.dependencies.require_tenant`: 401 with
    ``WWW-Authenticate`` without a principal) and works through a tenant-scoped session,
    so another tenant's id answers 404 and inserts get the current tenant.

    * ``POST {prefix}`` → 201, the created row, ``Location`` and ``ETag``;
    * ``GET {prefix}?limit=&cursor=`` → ``{"items", "next_cursor"}``; ``limit`` ≤
      ``max_limit`` (else 422); the cursor is opaque (a bad one → 400);
    * ``GET {prefix}/{id}`` → the row with ``ETag``;
    * ``PATCH {prefix}/{id}`` → the fields sent are applied; a ``version`` in the body
      that is not the stored one → 409 (optimistic locking on
      :class:`~svc_core.sql.VersionMixin`; a concurrent writer → 409 too); success bumps
      ``version``;
    * ``DELETE {prefix}/{id}`` → 204; soft delete for :class:`~svc_core.sql.SoftDeleteMixin`
      models (hidden from every read), hard delete otherwise;
    * ``POST {prefix}/{id}/restore`` → 200, undeletes (soft-delete models only).

    Fields a client may not set (:data:`PROTECTED_FIELDS`: ``tenant_id``, ``role``,
    ``is_admin``, ``owner_id``, ``created_by`` …) must not be declared by the schemas
    (``ConfigurationError`` at build time); declare ``extra="forbid"`` on the schemas to
    answer 422 when a client sends them, otherwise they are ignored.

    Plug-in points (for svc-idempotency and access control):

    * ``dependencies``: FastAPI dependencies on every route (``Depends(...)``);
    * ``create_dependencies`` / ``read_dependencies`` / ``update_dependencies`` /
      ``delete_dependencies`` / ``restore_dependencies``: per operation, run before the
      handler — e.g. an ``Idempotency-Key`` dependency on create and update, or
      :func:`~svc_tenancy.require_roles` on delete;
    * ``before_update``: ``async hook(request, row)`` on the loaded row before changes
      are applied — e.g. an ``If-Match`` check raising 412 (stale) or 428 (missing),
      comparing with ``etag(row)``;
    * ``etag``: ``etag(row) -> str`` for the ``ETag`` header (default ``"<version>"``;
      ``None`` sends none).

    Args:
        model: The mapped class (``TenantMixin``; single-column primary key).
        create_schema: Body of ``POST``.
        update_schema: Body of ``PATCH`` (all fields optional; may declare ``version``).
        read_schema: Response body (validated ``from_attributes``).
        prefix: Path prefix, e.g. ``/projects``.
        tags: OpenAPI tags (default: the prefix's last segment).
        sessionmaker: ``f(request)`` returning the session factory; default: the
            plugin's tenant-scoped factory in ``runtime.state``.
        dependencies: See above.
        create_dependencies: See above.
        read_dependencies: See above.
        update_dependencies: See above.
        delete_dependencies: See above.
        restore_dependencies: See above.
        etag: See above.
        before_update: See above.
        default_limit: Page size without ``limit``.
        max_limit: Largest ``limit`` accepted.

    Raises:
        ConfigurationError: The model or a schema does not fit (see above).
    """
    if not issubclass(model, TenantMixin):
        msg = f"{model.__name__} must use TenantMixin to get a tenant-scoped router"
        raise ConfigurationError(msg)
    for schema in (create_schema, update_schema):
        bad = PROTECTED_FIELDS & set(schema.model_fields)
        if bad:
            msg = f"{schema.__name__} declares fields a client may not set: {sorted(bad)}"
            raise ConfigurationError(msg)
    mapper: Any = sa_inspect(model)
    pk_columns = list(mapper.primary_key)
    if len(pk_columns) != 1:
        msg = f"{model.__name__} needs a single-column primary key"
        raise ConfigurationError(msg)
    pk = getattr(model, pk_columns[0].key)
    convert: Callable[[str], Any] = pk_columns[0].type.python_type
    soft = issubclass(model, SoftDeleteMixin)
    versioned = issubclass(model, VersionMixin)
    send_etag = etag if versioned or etag is not version_etag else None
    get_sessionmaker = sessionmaker or _default_sessionmaker
    name = model.__name__.lower()
    page_model: Any = create_model(
        f"{model.__name__}Page",
        __base__=Page,
        items=(list[read_schema], ...),  # type: ignore[valid-type]
    )
    router = APIRouter(
        prefix=prefix,
        tags=list(tags) if tags is not None else [prefix.strip("/").rsplit("/", 1)[-1]],
        dependencies=[Depends(require_tenant), *dependencies],
    )

    def parse_id(raw: str) -> Any:
        try:
            return convert(raw)
        except (ValueError, TypeError) as exc:
            raise NotFoundError(f"No {name} with id {raw!r}.") from exc

    async def load(session: AsyncSession, raw_id: str, *, deleted: bool = False) -> Any:
        stmt = select(model).where(pk == parse_id(raw_id))
        if deleted:
            stmt = stmt.execution_options(**{INCLUDE_DELETED: True})
        obj = (await session.execute(stmt)).scalar_one_or_none()
        if obj is None:
            raise NotFoundError(f"No {name} with id {raw_id!r}.")
        return obj

    def render(obj: Any, response: Response) -> BaseModel:
        if send_etag is not None:
            response.headers["ETag"] = send_etag(obj)
        return read_schema.model_validate(obj, from_attributes=True)

    async def create(request: Request, response: Response, payload: create_schema) -> Any:  # type: ignore[valid-type]
        values = payload.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        async with get_sessionmaker(request)() as session, session.begin():
            obj = model(**values)
            session.add(obj)
            await session.flush()
            await session.refresh(obj)
        response.status_code = 201
        response.headers["Location"] = f"{request.url.path.rstrip('/')}/{getattr(obj, pk.key)}"
        return render(obj, response)

    async def list_rows(
        request: Request,
        limit: int = Query(default_limit, ge=1, le=max_limit, description="Page size."),
        cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
    ) -> Any:
        stmt = select(model).order_by(pk).limit(limit + 1)
        if cursor:
            stmt = stmt.where(pk > _decode_cursor(cursor, convert))
        async with get_sessionmaker(request)() as session:
            rows = list((await session.execute(stmt)).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "items": [read_schema.model_validate(r, from_attributes=True) for r in rows],
            "next_cursor": _encode_cursor(getattr(rows[-1], pk.key)) if more else None,
        }

    async def read(request: Request, response: Response, item_id: str) -> Any:
        async with get_sessionmaker(request)() as session:
            obj = await load(session, item_id)
        return render(obj, response)

    async def update(
        request: Request,
        response: Response,
        item_id: str,
        payload: update_schema,  # type: ignore[valid-type]
    ) -> Any:
        values = payload.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        expected = values.pop("version", None)
        try:
            async with get_sessionmaker(request)() as session, session.begin():
                obj = await load(session, item_id)
                for hook in before_update:
                    await hook(request, obj)
                if versioned and expected is not None and expected != obj.version:
                    msg = f"The {name} is at version {obj.version}, not {expected}."
                    raise StaleVersionError(msg, extensions={"current_version": obj.version})
                for key, value in values.items():
                    setattr(obj, key, value)
                await session.flush()
                await session.refresh(obj)
        except StaleDataError as exc:
            msg = f"The {name} was changed by another request; reload it and retry."
            raise StaleVersionError(msg) from exc
        return render(obj, response)

    async def delete(request: Request, item_id: str) -> Response:
        async with get_sessionmaker(request)() as session, session.begin():
            obj = await load(session, item_id)
            if soft:
                obj.soft_delete()
            else:
                await session.delete(obj)
        return Response(status_code=204)

    async def restore(request: Request, response: Response, item_id: str) -> Any:
        async with get_sessionmaker(request)() as session, session.begin():
            obj = await load(session, item_id, deleted=True)
            if obj.deleted_at is not None:
                obj.restore()
                await session.flush()
                await session.refresh(obj)
        return render(obj, response)

    not_found: dict[int | str, dict[str, Any]] = {
        404: {"description": f"No such {name} in your tenant."}
    }
    router.add_api_route(
        "",
        create,
        methods=["POST"],
        status_code=201,
        response_model=read_schema,
        dependencies=list(create_dependencies),
        summary=f"Create a {name}",
        operation_id=f"create_{name}",
    )
    router.add_api_route(
        "",
        list_rows,
        methods=["GET"],
        response_model=page_model,
        dependencies=list(read_dependencies),
        summary=f"List {name}s (cursor pagination)",
        operation_id=f"list_{name}s",
    )
    router.add_api_route(
        "/{item_id}",
        read,
        methods=["GET"],
        response_model=read_schema,
        dependencies=list(read_dependencies),
        responses=not_found,
        summary=f"Read a {name}",
        operation_id=f"read_{name}",
    )
    router.add_api_route(
        "/{item_id}",
        update,
        methods=["PATCH"],
        response_model=read_schema,
        dependencies=list(update_dependencies),
        responses={**not_found, 409: {"description": "Stale `version`."}},
        summary=f"Update a {name}",
        operation_id=f"update_{name}",
    )
    router.add_api_route(
        "/{item_id}",
        delete,
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        dependencies=list(delete_dependencies),
        responses=not_found,
        summary=f"Delete a {name}" + (" (soft; restorable)" if soft else ""),
        operation_id=f"delete_{name}",
    )
    if soft:
        router.add_api_route(
            "/{item_id}/restore",
            restore,
            methods=["POST"],
            response_model=read_schema,
            dependencies=list(restore_dependencies),
            responses=not_found,
            summary=f"Restore a deleted {name}",
            operation_id=f"restore_{name}",
        )
    return router
