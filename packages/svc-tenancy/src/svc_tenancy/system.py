"""The audited escape from tenant scoping: :func:`system_context`.

Jobs and admin tools that must read or write across tenants run inside
``with system_context("reason"):``. Entering it is logged (logger
``svc_tenancy.audit``, level WARNING) and reported to every hook registered with
:func:`add_audit_hook`, e.g. to write svc-auth's audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from svc_core.context import get_principal, get_request_id, get_tenant_id
from svc_core.errors import ConfigurationError

__all__ = [
    "SystemContextEvent",
    "add_audit_hook",
    "current_system_reason",
    "in_system_context",
    "remove_audit_hook",
    "system_context",
]

audit_logger = logging.getLogger("svc_tenancy.audit")

_system: ContextVar[str | None] = ContextVar("svc_tenancy_system", default=None)


@dataclass(frozen=True, slots=True)
class SystemContextEvent:
    """What an audit hook receives when code enters :func:`system_context`.

    Attributes:
        reason: Why scoping is lifted (required, free text).
        actor: The principal's subject, if any.
        tenant_id: The tenant in context when the escape was entered, if any.
        request_id: The request id, if any.
    """

    reason: str
    actor: str | None
    tenant_id: str | None
    request_id: str | None


AuditHook = Callable[[SystemContextEvent], None]
_hooks: list[AuditHook] = []


def add_audit_hook(hook: AuditHook) -> None:
    """Call ``hook`` every time code enters :func:`system_context`."""
    if hook not in _hooks:
        _hooks.append(hook)


def remove_audit_hook(hook: AuditHook) -> None:
    """Stop calling ``hook``; unknown hooks are ignored."""
    if hook in _hooks:
        _hooks.remove(hook)


def in_system_context() -> bool:
    """True inside :func:`system_context`."""
    return _system.get() is not None


def current_system_reason() -> str | None:
    """The reason given to the innermost :func:`system_context`, or ``None``."""
    return _system.get()


@contextmanager
def system_context(reason: str) -> Iterator[None]:
    """Lift tenant scoping (and the fail-closed check) for a block. Audited.

    Inside the block, queries on tenant-owned models are not filtered and inserts must
    set ``tenant_id`` themselves; on Postgres with row-level security the transaction
    sets ``svc.tenant_bypass`` so the policies let the rows through.

    Args:
        reason: Why (logged and passed to the audit hooks); must not be empty.

    Raises:
        ConfigurationError: ``reason`` is empty.
    """
    if not reason or not reason.strip():
        msg = "system_context() needs a reason; it is written to the audit log"
        raise ConfigurationError(msg)
    principal = get_principal()
    event = SystemContextEvent(
        reason=reason,
        actor=principal.subject if principal else None,
        tenant_id=get_tenant_id(),
        request_id=get_request_id(),
    )
    audit_logger.warning(
        "tenant scoping lifted: reason=%r actor=%s tenant=%s request_id=%s",
        event.reason,
        event.actor,
        event.tenant_id,
        event.request_id,
    )
    for hook in _hooks:
        try:
            hook(event)
        except Exception:  # an audit sink failure must not hide the escape itself
            audit_logger.exception("system_context audit hook failed")
    token = _system.set(reason)
    try:
        yield
    finally:
        _system.reset(token)
