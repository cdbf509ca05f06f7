"""Per-request facts shared across packages as context variables.

svc-auth sets the principal, svc-tenancy (or svc-auth) the tenant, the request-id
middleware the request id. Other packages read them without importing each other:
svc-ratelimit keys limits on the tenant, svc-jobs carries them into workers.

Use :func:`snapshot` / :func:`restore` (or :func:`bound`) to carry the context into
background work, and :func:`scope` to set values for a block.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ContextSnapshot",
    "Principal",
    "get_principal",
    "get_request_id",
    "get_tenant_id",
    "restore",
    "scope",
    "set_principal",
    "set_request_id",
    "set_tenant_id",
    "snapshot",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user, a service or an API key.

    Attributes:
        subject: Stable identifier of the caller (a user id, an API key id).
        roles: Role names granted in the current tenant.
        scopes: OAuth-style scopes the credential carries.
        kind: ``"user"``, ``"api_key"``, ``"service"`` …
        claims: Extra, package-specific facts (e.g. the session id).
    """

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    kind: str = "user"
    claims: Mapping[str, Any] = field(default_factory=dict)


_request_id: ContextVar[str | None] = ContextVar("svc_request_id", default=None)
_tenant_id: ContextVar[str | None] = ContextVar("svc_tenant_id", default=None)
_principal: ContextVar[Principal | None] = ContextVar("svc_principal", default=None)


def get_request_id() -> str | None:
    """The current request id, or ``None`` outside a request."""
    return _request_id.get()


def set_request_id(value: str | None) -> Token[str | None]:
    """Set the request id; returns a token for ``ContextVar.reset``."""
    return _request_id.set(value)


def get_tenant_id() -> str | None:
    """The current tenant id, or ``None`` when no tenant is known."""
    return _tenant_id.get()


def set_tenant_id(value: str | None) -> Token[str | None]:
    """Set the tenant id; returns a token for ``ContextVar.reset``."""
    return _tenant_id.set(value)


def get_principal() -> Principal | None:
    """The current principal, or ``None`` for an anonymous caller."""
    return _principal.get()


def set_principal(value: Principal | None) -> Token[Principal | None]:
    """Set the principal; returns a token for ``ContextVar.reset``."""
    return _principal.set(value)


@dataclass(frozen=True, slots=True)
class ContextSnapshot:
    """A serialisable copy of the shared context, to carry into background work."""

    request_id: str | None = None
    tenant_id: str | None = None
    principal: Principal | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (e.g. job message labels)."""
        p = self.principal
        return {
            "request_id": self.request_id,
            "tenant_id": self.tenant_id,
            "principal": None
            if p is None
            else {
                "subject": p.subject,
                "roles": sorted(p.roles),
                "scopes": sorted(p.scopes),
                "kind": p.kind,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContextSnapshot:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        raw = data.get("principal")
        principal = None
        if isinstance(raw, Mapping) and raw.get("subject"):
            principal = Principal(
                subject=str(raw["subject"]),
                roles=frozenset(raw.get("roles") or ()),
                scopes=frozenset(raw.get("scopes") or ()),
                kind=str(raw.get("kind") or "user"),
            )
        rid = data.get("request_id")
        tid = data.get("tenant_id")
        return cls(
            request_id=str(rid) if rid is not None else None,
            tenant_id=str(tid) if tid is not None else None,
            principal=principal,
        )


def snapshot() -> ContextSnapshot:
    """Capture the current request id, tenant and principal."""
    return ContextSnapshot(_request_id.get(), _tenant_id.get(), _principal.get())


@contextmanager
def restore(snap: ContextSnapshot) -> Iterator[None]:
    """Set the values of ``snap`` for the duration of the block, then put back the old ones."""
    with scope(request_id=snap.request_id, tenant_id=snap.tenant_id, principal=snap.principal):
        yield


_UNSET: Any = object()


@contextmanager
def scope(
    *,
    request_id: str | None = _UNSET,
    tenant_id: str | None = _UNSET,
    principal: Principal | None = _UNSET,
) -> Iterator[None]:
    """Set some context values for a block; values not given are left as they are."""
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = []
    if request_id is not _UNSET:
        tokens.append((_request_id, _request_id.set(request_id)))
    if tenant_id is not _UNSET:
        tokens.append((_tenant_id, _tenant_id.set(tenant_id)))
    if principal is not _UNSET:
        tokens.append((_principal, _principal.set(principal)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
