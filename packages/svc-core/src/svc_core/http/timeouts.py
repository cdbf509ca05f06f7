"""Handler timeout: a 504 problem when the application is too slow to answer.

:class:`TimeoutMiddleware` gives every HTTP request ``handler_timeout`` seconds, counted
from the moment the request reaches this layer:

* when the time is up **before the response started**, the application is cancelled
  (``Task.cancel``, like :func:`asyncio.timeout`) and a ``504`` problem is sent;
* when the response **has started but not finished** (a slow stream), the application is
  cancelled and :class:`HandlerTimeoutError` is raised to the server, which closes the
  connection: a truncated body must never look complete;
* once the response is **complete** the clock stops mattering (background tasks that
  Starlette runs after the response are not cut short).

Cancellation reaches ``async def`` code at its next ``await``. A plain ``def`` handler runs
in a worker thread that cannot be interrupted; its 504 is sent when the thread returns.

Per-route time, three ways (the first that applies wins):

1. a dependency on the route: ``dependencies=[Depends(handler_timeout(120))]`` (or
   :func:`set_handler_timeout` from any code that has the request's scope) moves the
   deadline to ``120`` seconds after the request started, earlier or later; ``None`` lifts
   it (server-sent events, long polls);
2. ``route_timeouts``: a mapping of path prefix to seconds (or ``None``), longest prefix
   first, decided when the request arrives;
3. ``handler_timeout`` for everything else.

Asyncio only (uvicorn, hypercorn's asyncio worker, granian). All requests of an event loop
share one timer, armed for the earliest deadline, so a request costs a dict insert and
delete rather than a timer of its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, ClassVar, Final

# Needed at run time: FastAPI reads the dependency's annotations to inject the request.
from starlette.requests import HTTPConnection  # noqa: TC002

from svc_core.errors import ConfigurationError, SvcError
from svc_core.http._asgi import send_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEADLINE_SCOPE_KEY",
    "HandlerTimeoutError",
    "TimeoutMiddleware",
    "handler_timeout",
    "set_handler_timeout",
]

logger = logging.getLogger("svc_core.http")

#: Scope key under which :class:`TimeoutMiddleware` keeps the request's deadline.
DEADLINE_SCOPE_KEY: Final = "svc_core.deadline"

_NEVER: Final = math.inf
_SLACK: Final = 0.001


class HandlerTimeoutError(SvcError):
    """The handler took longer than its timeout (504)."""

    status_code: ClassVar[int] = 504
    type_slug: ClassVar[str] = "gateway-timeout"
    title: ClassVar[str] = "Gateway Timeout"


class _Watchdog:
    """Every deadline of one event loop, served by a single timer.

    A timer per request (``loop.call_at``) costs ~2.6 us on uvloop (a libuv timer is set up
    and torn down each time), more than the rest of the layer. Instead the watchdog keeps
    the live deadlines in a dict and one timer armed for the earliest of them: a request
    costs a dict insert and delete. When the timer fires it expires what is due and re-arms
    for the next deadline; with a uniform timeout that happens about once per timeout.
    """

    __slots__ = ("active", "handle", "loop", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.active: dict[_Deadline, None] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.when = _NEVER

    def watch(self, deadline: _Deadline) -> None:
        self.active[deadline] = None
        if deadline.when < self.when:
            self._arm(deadline.when)

    def unwatch(self, deadline: _Deadline) -> None:
        self.active.pop(deadline, None)

    def _arm(self, when: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.when = when
        # call_later with time.monotonic(): loop.time() costs more per request on uvloop,
        # and a relative delay needs no assumption about the loop clock's origin.
        self.handle = self.loop.call_later(max(0.0, when - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self.handle = None
        self.when = _NEVER
        # Timers may fire up to a millisecond early (libuv rounds to ms).
        now = time.monotonic() + _SLACK
        upcoming = _NEVER
        for deadline in list(self.active):
            if deadline.when <= now:
                del self.active[deadline]
                deadline.expire()
            elif deadline.when < upcoming:
                upcoming = deadline.when
        if upcoming != _NEVER:
            self._arm(upcoming)


class _Deadline:
    """One request's deadline. Lives in the scope so that routes can move it."""

    __slots__ = (
        "_send",
        "cancelling",
        "completed",
        "expired",
        "start",
        "started",
        "task",
        "timeout",
        "watchdog",
        "when",
    )

    def __init__(self, watchdog: _Watchdog, send: Send, timeout: float) -> None:
        task = asyncio.current_task(watchdog.loop)
        if task is None:  # pragma: no cover - ASGI servers always run requests in a task
            msg = "TimeoutMiddleware must run inside an asyncio task"
            raise RuntimeError(msg)
        self._send = send
        self.watchdog = watchdog
        self.task = task
        self.cancelling = task.cancelling()
        self.timeout: float | None = timeout
        self.start = time.monotonic()
        self.when = self.start + timeout
        self.started = False
        self.completed = False
        self.expired = False
        watchdog.watch(self)

    def move(self, timeout: float | None) -> None:
        """Let the request run ``timeout`` seconds from its start (``None``: no limit)."""
        if self.expired or self.completed:
            return
        self.watchdog.unwatch(self)
        self.timeout = timeout
        if timeout is None:
            self.when = _NEVER
        else:
            self.when = self.start + timeout
            self.watchdog.watch(self)

    def close(self) -> None:
        self.watchdog.unwatch(self)
        self.completed = True  # a late move() or expire() is now a no-op

    def expire(self) -> None:
        if self.completed:  # only Starlette background tasks are left: let them run
            return
        self.expired = True
        self.task.cancel()

    def send(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.completed = True
        return self._send(message)


def set_handler_timeout(scope: Scope, timeout: float | None) -> bool:
    """Move the current request's handler deadline (see the module docstring).

    Args:
        scope: The request's ASGI scope (``request.scope``).
        timeout: Seconds from the start of the request, or ``None`` for no limit.

    Returns:
        ``True`` when a :class:`TimeoutMiddleware` watches this request, else ``False``.
    """
    deadline = scope.get(DEADLINE_SCOPE_KEY)
    if not isinstance(deadline, _Deadline):
        return False
    deadline.move(timeout)
    return True


def handler_timeout(timeout: float | None) -> Callable[[HTTPConnection], Awaitable[None]]:
    """A FastAPI dependency that gives its route ``timeout`` seconds (``None``: no limit).

    Example::

        @app.get("/reports/{id}", dependencies=[Depends(handler_timeout(120))])
        async def report(id: str) -> Report: ...
    """
    if timeout is not None and timeout <= 0:
        msg = "a handler timeout must be positive (or None for no limit)"
        raise ConfigurationError(msg)

    # async so that FastAPI runs it on the event loop (the timer is not thread-safe).
    async def _set_handler_timeout(request: HTTPConnection) -> None:
        set_handler_timeout(request.scope, timeout)

    return _set_handler_timeout


class TimeoutMiddleware:
    """Cancel handlers that outlive their timeout; see the module docstring.

    Args:
        app: The ASGI application to wrap.
        handler_timeout: Seconds per request (``SVC_HTTP__HANDLER_TIMEOUT``); ``None``
            disables the default limit (routes may still set one).
        route_timeouts: Path prefix → seconds (``None``: no limit).

    Raises:
        ConfigurationError: A timeout is not positive.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        handler_timeout: float | None = 30.0,
        route_timeouts: Mapping[str, float | None] | None = None,
    ) -> None:
        routes = dict(route_timeouts or {})
        values = [handler_timeout, *routes.values()]
        if any(v is not None and v <= 0 for v in values):
            msg = "handler timeouts must be positive (or None for no limit)"
            raise ConfigurationError(msg)
        self.app = app
        self.handler_timeout = handler_timeout
        self.route_timeouts = sorted(routes.items(), key=lambda kv: len(kv[0]), reverse=True)
        self._last: _Watchdog | None = None

    def timeout_for(self, path: str) -> float | None:
        """The timeout that applies to ``path`` when the request arrives."""
        for prefix, timeout in self.route_timeouts:
            if path.startswith(prefix):
                return timeout
        return self.handler_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one ASGI connection; non-HTTP scopes pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timeout = self.timeout_for(scope["path"]) if self.route_timeouts else self.handler_timeout
        if timeout is None:
            await self.app(scope, receive, send)
            return

        deadline = _Deadline(self._watchdog(), send, timeout)
        scope[DEADLINE_SCOPE_KEY] = deadline
        try:
            await self.app(scope, receive, deadline.send)
        except asyncio.CancelledError:
            if not deadline.expired or deadline.task.uncancel() > deadline.cancelling:
                raise  # not ours (server shutdown, client gone): let it propagate
            self._timed_out(scope, deadline)
            if deadline.started:
                msg = f"the handler took longer than {deadline.timeout:g} seconds"
                raise HandlerTimeoutError(msg) from None
            await send_problem(
                send,
                504,
                detail=f"The request took longer than {deadline.timeout:g} seconds.",
            )
        else:
            if deadline.expired:
                # The app swallowed our cancellation and answered anyway: undo the cancel.
                deadline.task.uncancel()
        finally:
            deadline.close()
            # The deadline holds the task, whose context may hold the scope: without this
            # the request would end in a reference cycle that only the GC can free.
            scope.pop(DEADLINE_SCOPE_KEY, None)

    def _watchdog(self) -> _Watchdog:
        loop = asyncio.get_running_loop()
        watchdog = self._last
        if watchdog is None or watchdog.loop is not loop:
            # Another event loop (tests run one per test). Deadlines keep their own
            # watchdog, so replacing it is safe; only this reference is dropped.
            watchdog = self._last = _Watchdog(loop)
        return watchdog

    @staticmethod
    def _timed_out(scope: Scope, deadline: _Deadline) -> None:
        route = scope.get("route")
        where = getattr(route, "path", None) or "<unmatched route>"
        logger.warning(
            "handler timeout after %gs: %s %s%s",
            deadline.timeout,
            scope.get("method"),
            where,
            " (response already started; connection aborted)" if deadline.started else "",
        )
