"""Optimistic locking over HTTP: ``ETag`` from a version, ``If-Match``, body versions.

Usage with a model using svc-core's ``VersionMixin``::

    @router.get("/items/{id}")
    async def read(id: UUID, response: Response) -> ItemOut:
        item = await load(id)
        response.headers["ETag"] = etag(item.version)
        return ItemOut.model_validate(item)

    @router.patch("/items/{id}")
    async def patch(id: UUID, body: ItemPatch,
                    pre: IfMatch = Depends(if_match(required=True))):
        item = await load(id)
        pre.check(item.version)                   # 412 stale (428 was raised if missing)
        check_version(body.version, item.version) # 409 when the body carries a stale version
        ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request  # noqa: TC002 - FastAPI resolves it at runtime

from svc_idempotency.errors import (
    PreconditionRequiredHeaderError,
    StalePreconditionError,
    StaleVersionError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["IfMatch", "check_version", "etag", "if_match", "if_match_hook", "parse_etag_list"]


def etag(version: int) -> str:
    """The strong entity tag of ``version``: ``"3"``."""
    return f'"{int(version)}"'


def parse_etag_list(value: str) -> list[str] | None:
    """The entity tags of an ``If-Match`` value; ``None`` for ``*``.

    Weak tags (``W/"3"``) are kept with their prefix: ``If-Match`` compares strongly,
    so they never match (RFC 9110 §13.1.1).
    """
    value = value.strip()
    if value == "*":
        return None
    tags: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            break
        weak = value.startswith("W/", i)
        start = i + 2 if weak else i
        if start >= n or value[start] != '"':
            tags.append("<invalid>")
            break
        end = value.find('"', start + 1)
        if end < 0:
            tags.append("<invalid>")
            break
        tag = value[start : end + 1]
        tags.append("W/" + tag if weak else tag)
        i = end + 1
    return tags


@dataclass(frozen=True, slots=True)
class IfMatch:
    """The request's ``If-Match`` precondition.

    Attributes:
        tags: Entity tags sent; ``None`` for ``*``; empty when the header is absent.
        present: Whether the header was sent.
    """

    tags: tuple[str, ...] | None
    present: bool

    def matches(self, version: int) -> bool:
        """Whether the precondition holds for the current ``version``."""
        if not self.present or self.tags is None:
            return True
        return etag(version) in self.tags

    def check(self, version: int) -> None:
        """Raise 412 unless the precondition holds for ``version``.

        Raises:
            StalePreconditionError: ``If-Match`` names another version (412).
        """
        if not self.matches(version):
            raise StalePreconditionError(
                f"If-Match does not match the current version (ETag {etag(version)}); "
                "read the resource again and retry.",
                headers={"ETag": etag(version)},
            )


def if_match(*, required: bool = False) -> Callable[[Request], IfMatch]:
    """A FastAPI dependency reading ``If-Match``; with ``required`` a missing one → 428."""

    def dependency(request: Request) -> IfMatch:
        return read_if_match(request, required=required)

    return dependency


def read_if_match(request: Request, *, required: bool = False) -> IfMatch:
    """The ``If-Match`` precondition of ``request``; with ``required`` a missing one → 428.

    Raises:
        PreconditionRequiredHeaderError: ``required`` and the header is absent (428).
    """
    raw = request.headers.getlist("if-match")
    if not raw:
        if required:
            raise PreconditionRequiredHeaderError(
                "This operation requires an If-Match header with the resource's ETag."
            )
        return IfMatch(tags=(), present=False)
    tags = parse_etag_list(",".join(raw))
    return IfMatch(tags=None if tags is None else tuple(tags), present=True)


def if_match_hook(
    *, required: bool = False, version: Callable[[Any], int] = lambda row: int(row.version)
) -> Callable[[Request, Any], Awaitable[None]]:
    """An ``async hook(request, row)`` checking ``If-Match`` against a loaded row.

    For update handlers that load the row first (e.g. svc-tenancy's ``before_update``):
    412 when stale, 428 when ``required`` and missing.
    """

    async def hook(request: Request, row: Any) -> None:
        read_if_match(request, required=required).check(version(row))

    return hook


def check_version(sent: int | None, current: int) -> None:
    """Raise 409 when a body carries a ``version`` that is not ``current``.

    Raises:
        StaleVersionError: ``sent`` is not ``None`` and differs from ``current``.
    """
    if sent is not None and sent != current:
        raise StaleVersionError(
            f"The resource is at version {current}, the request was based on {sent}.",
            extensions={"current_version": current},
        )
