"""A circuit breaker whose state lives in svc-core's key-value store.

Every replica that shares the store sees the same breaker: when one trips it, all
stop calling the dependency; after ``reset_timeout`` exactly one call (on any replica)
goes through as a trial (*half-open*); its success closes the breaker everywhere, its
failure opens it again. Each decision is one atomic :class:`~svc_core.kv.Script` (one
Lua call on Redis) using the store's clock, so replicas with skewed clocks agree.

Usage::

    payments = CircuitBreaker("payments", failure_threshold=5, reset_timeout=30)

    @payments                                   # a decorator ...
    async def charge(order_id: str) -> None: ...

    async with payments:                        # ... a context manager ...
        await client.post(...)

    @app.post("/checkout", dependencies=[Depends(payments.dependency)])  # ... a dependency
    async def checkout() -> None: ...

A rejected call raises :class:`~svc_obs.errors.CircuitOpenError` (503 problem+json
with ``Retry-After``). The breaker uses the store given as ``kv=`` (or :meth:`bind`),
else the store of the running service (set by svc-obs' plugin at start-up).
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Final, ParamSpec, Self, TypeVar

from starlette.requests import Request  # noqa: TC002 - FastAPI reads the annotation at run time

from svc_core.errors import ConfigurationError
from svc_core.kv import Script, hash_tag
from svc_obs import metrics
from svc_obs.errors import CircuitOpenError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from types import TracebackType

    from svc_core.kv import KV

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "set_default_kv"]

CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"
_STATES: Final = (CLOSED, OPEN, HALF_OPEN)

P = ParamSpec("P")
R = TypeVar("R")

_default_kv: KV | None = None


def set_default_kv(kv: KV | None) -> None:
    """Set the store used by breakers that were given none (svc-obs' plugin does this)."""
    global _default_kv  # noqa: PLW0603 - the one process-wide fallback, documented
    _default_kv = kv


# Stored value: "state|failures|opened_ms|trial_until_ms".
# ARGV: op, threshold, reset_ms, trial_ms, ttl_ms.
# Reply: {allowed (1|0), old_state, new_state, retry_after_ms}.
_LUA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
local threshold = tonumber(ARGV[2])
local reset = tonumber(ARGV[3])
local trial = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local state, failures, opened, trial_until = 'closed', 0, 0, 0
local raw = redis.call('GET', KEYS[1])
if raw then
  local s, f, o, u = string.match(raw, '^([%a_]+)|(%d+)|(%d+)|(%d+)$')
  if s then
    state, failures, opened, trial_until = s, tonumber(f), tonumber(o), tonumber(u)
  end
end
local old = state
local function save()
  redis.call('SET', KEYS[1], state .. '|' .. failures .. '|' .. opened .. '|' .. trial_until,
             'PX', ttl)
end
if op == 'acquire' then
  if state == 'closed' then return {1, old, state, 0} end
  if state == 'open' then
    if now < opened + reset then return {0, old, state, opened + reset - now} end
    state = 'half_open'
    trial_until = now + trial
    save()
    return {1, old, state, 0}
  end
  if now < trial_until then return {0, old, state, trial_until - now} end
  trial_until = now + trial
  save()
  return {1, old, state, 0}
elseif op == 'success' then
  if state == 'open' or (state == 'closed' and failures == 0) then
    return {1, old, state, 0}
  end
  state, failures, opened, trial_until = 'closed', 0, 0, 0
  save()
  return {1, old, state, 0}
else
  if state == 'open' then return {1, old, state, 0} end
  if state == 'half_open' then
    state, opened, trial_until = 'open', now, 0
  else
    failures = failures + 1
    if failures >= threshold then
      state, opened = 'open', now
    end
  end
  save()
  return {1, old, state, 0}
end
"""


def _local(  # noqa: PLR0911, PLR0912 - mirrors the Lua body branch for branch
    state: Any, keys: list[str], args: list[bytes], now: float
) -> list[Any]:
    now_ms = int(now * 1000)
    op = args[0].decode()
    threshold, reset, trial, ttl = (int(a) for a in args[1:5])
    current, failures, opened, trial_until = CLOSED, 0, 0, 0
    raw = state.get(keys[0])
    if raw is not None:
        parts = raw.decode().split("|")
        if len(parts) == 4 and parts[0] in _STATES and all(p.isdigit() for p in parts[1:]):
            current = parts[0]
            failures, opened, trial_until = (int(p) for p in parts[1:])
    old = current

    def save() -> None:
        state.set(keys[0], f"{current}|{failures}|{opened}|{trial_until}", ttl=ttl / 1000)

    if op == "acquire":
        if current == CLOSED:
            return [1, old, current, 0]
        if current == OPEN:
            if now_ms < opened + reset:
                return [0, old, current, opened + reset - now_ms]
            current, trial_until = HALF_OPEN, now_ms + trial
            save()
            return [1, old, current, 0]
        if now_ms < trial_until:
            return [0, old, current, trial_until - now_ms]
        trial_until = now_ms + trial
        save()
        return [1, old, current, 0]
    if op == "success":
        if current == OPEN or (current == CLOSED and failures == 0):
            return [1, old, current, 0]
        current, failures, opened, trial_until = CLOSED, 0, 0, 0
        save()
        return [1, old, current, 0]
    if current == OPEN:
        return [1, old, current, 0]
    if current == HALF_OPEN:
        current, opened, trial_until = OPEN, now_ms, 0
    else:
        failures += 1
        if failures >= threshold:
            current, opened = OPEN, now_ms
    save()
    return [1, old, current, 0]


_SCRIPT: Final = Script(lua=_LUA, local=_local, name="obs.circuit_breaker")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CircuitBreaker:
    """A shared closed / open / half-open circuit breaker (see the module docstring).

    Args:
        name: Identifies the breaker in the store, metrics and errors (no braces).
        failure_threshold: Consecutive failures that open the breaker.
        reset_timeout: Seconds the breaker stays open before a trial call.
        trial_timeout: Seconds a trial call may take before another replica may try.
        failures: Exception types that count as failures.
        ignore: Exception types that never count (e.g. a 404 from the dependency).
        kv: The shared store; default: the running service's store.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        trial_timeout: float = 30.0,
        failures: tuple[type[BaseException], ...] = (Exception,),
        ignore: tuple[type[BaseException], ...] = (),
        kv: KV | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_timeout <= 0 or trial_timeout <= 0:
            msg = "failure_threshold must be >= 1 and the timeouts > 0"
            raise ConfigurationError(msg)
        self.name = name
        self.key = f"obs:breaker:{hash_tag(name)}"
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.trial_timeout = trial_timeout
        self.failures = failures
        self.ignore: tuple[type[BaseException], ...] = (CircuitOpenError, *ignore)
        self._kv = kv
        # Idle breakers disappear from the store (a missing key reads as closed).
        self._ttl_ms = max(int(reset_timeout * 1000) * 10, 86_400_000)

    def bind(self, kv: KV) -> Self:
        """Use ``kv`` as this breaker's store; returns the breaker."""
        self._kv = kv
        return self

    def _store(self, kv: KV | None = None) -> KV:
        store = kv or self._kv or _default_kv
        if store is None:
            msg = f"circuit breaker {self.name!r} has no key-value store: pass kv= or bind()"
            raise ConfigurationError(msg)
        return store

    async def _run(self, op: str, kv: KV | None = None) -> tuple[bool, str, float]:
        reply = await self._store(kv).run(
            _SCRIPT,
            [self.key],
            [
                op,
                self.failure_threshold,
                int(self.reset_timeout * 1000),
                int(self.trial_timeout * 1000),
                self._ttl_ms,
            ],
        )
        allowed, old, new, retry_ms = int(reply[0]), _text(reply[1]), _text(reply[2]), reply[3]
        if old != new:
            metrics.BREAKER_TRANSITIONS.labels(self.name, old, new).inc()
        for state in _STATES:
            metrics.BREAKER_STATE.labels(self.name, state).set(1 if state == new else 0)
        return bool(allowed), new, int(retry_ms) / 1000

    async def state(self, kv: KV | None = None) -> str:
        """The shared state now: ``"closed"``, ``"open"`` or ``"half_open"`` (no transition)."""
        raw = await self._store(kv).get(self.key)
        if raw is None:
            return CLOSED
        name = raw.decode().split("|", 1)[0]
        return name if name in _STATES else CLOSED

    async def acquire(self, kv: KV | None = None) -> None:
        """Ask to call the dependency now.

        Raises:
            CircuitOpenError: The breaker is open (or a trial call is under way).
        """
        allowed, _, retry_after = await self._run("acquire", kv)
        if not allowed:
            metrics.BREAKER_CALLS.labels(self.name, "rejected").inc()
            raise CircuitOpenError(self.name, retry_after)

    async def record(self, exc: BaseException | None, kv: KV | None = None) -> None:
        """Report the outcome of an allowed call (``exc`` = what it raised, or ``None``)."""
        if exc is None or isinstance(exc, self.ignore) or not isinstance(exc, self.failures):
            metrics.BREAKER_CALLS.labels(self.name, "success").inc()
            await self._run("success", kv)
        else:
            metrics.BREAKER_CALLS.labels(self.name, "failure").inc()
            await self._run("failure", kv)

    async def reset(self, kv: KV | None = None) -> None:
        """Close the breaker for every replica (an operator's override)."""
        await self._store(kv).delete(self.key)

    async def call(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` through the breaker."""
        await self.acquire()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            await self.record(exc)
            raise
        await self.record(None)
        return result

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Decorate an async function so every call goes through the breaker."""
        if not inspect.iscoroutinefunction(fn):
            msg = "CircuitBreaker decorates async functions only"
            raise ConfigurationError(msg)

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self.call(fn, *args, **kwargs)

        return wrapper

    async def __aenter__(self) -> Self:
        """Acquire (raises :class:`CircuitOpenError` when open)."""
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Record the block's outcome; never swallows its exception."""
        await self.record(exc)

    async def dependency(self, request: Request) -> AsyncIterator[None]:
        """A FastAPI dependency (``Depends(breaker.dependency)``) guarding the handler.

        Uses the store of the app's runtime unless the breaker has its own.
        """
        runtime = getattr(request.app.state, "runtime", None)
        kv = self._kv or (runtime.kv if runtime is not None else None)
        await self.acquire(kv)
        try:
            yield
        except BaseException as exc:
            await self.record(exc, kv)
            raise
        await self.record(None, kv)
