"""Carry the tenant into background work (jobs, tasks, threads).

svc-jobs needs no import of this package (it uses :mod:`svc_core.context` snapshots);
these helpers make the common cases one line::

    labels = tenant_labels()                       # at enqueue: {"tenant_id": "…", …}
    with tenant_from_labels(labels):               # in the worker
        ...

    task = asyncio.create_task(bind_tenant(coro_fn)(arg))   # same tenant in the task
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from svc_core.context import ContextSnapshot, restore, scope, snapshot

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Mapping

__all__ = ["bind_tenant", "tenant_from_labels", "tenant_labels", "with_tenant"]

P = ParamSpec("P")
T = TypeVar("T")


def tenant_labels() -> dict[str, Any]:
    """The current request id, tenant and principal as JSON-friendly job labels."""
    return snapshot().to_dict()


@contextmanager
def tenant_from_labels(labels: Mapping[str, Any]) -> Iterator[str | None]:
    """Restore the context captured by :func:`tenant_labels`; yields the tenant id."""
    snap = ContextSnapshot.from_dict(labels)
    with restore(snap):
        yield snap.tenant_id


@contextmanager
def with_tenant(tenant_id: str) -> Iterator[None]:
    """Act as ``tenant_id`` for a block (scoped queries, inserts, RLS)."""
    with scope(tenant_id=tenant_id):
        yield


def bind_tenant(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Wrap a coroutine function so it runs with the context current *now*.

    Useful for work that outlives the request (``asyncio.create_task`` after the
    response, a queue consumer): the tenant is captured when ``bind_tenant`` is called.
    """
    snap = snapshot()

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with restore(snap):
            return await fn(*args, **kwargs)

    return wrapper
