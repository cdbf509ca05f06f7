"""The worker side: taskiq's :class:`~taskiq.receiver.Receiver` with retries, DLQ and leases.

taskiq acknowledges a message whose task raised, and drops undecodable or unknown-task
messages after a log line. :class:`JobsReceiver` keeps taskiq's prefetch, concurrency
and execution (``run_task``: dependency injection, timeouts) and decides itself what
happens after each attempt: acknowledge on success; on failure re-enqueue with
exponential backoff and jitter (then acknowledge), or move the message to the
dead-letter queue; poison messages go to the DLQ at once, and so does a job whose
earlier deliveries all ended with the worker gone (``max_deliveries``). While a job runs
on Redis a heartbeat extends its lease. The shared context (tenant, request id, principal) the
enqueuer had is restored around the call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from taskiq import AckableMessage
from taskiq.receiver import Receiver

from svc_core.context import ContextSnapshot, restore
from svc_jobs import metrics
from svc_jobs.broker import Delivery

if TYPE_CHECKING:
    from taskiq.abc.broker import AsyncBroker
    from taskiq.message import TaskiqMessage

    from svc_core.plugin import Runtime
    from svc_jobs.registry import JobSpec
    from svc_jobs.runtime import Jobs

__all__ = ["JobsReceiver", "current_runtime"]

logger = logging.getLogger("svc_jobs.worker")

_runtime: ContextVar[Runtime | None] = ContextVar("svc_jobs_runtime", default=None)


def current_runtime() -> Runtime:
    """The :class:`~svc_core.plugin.Runtime` (settings, kv, database) of the running job.

    Raises:
        RuntimeError: Called outside a job.
    """
    found = _runtime.get()
    if found is None:
        msg = "current_runtime() is only available inside a job"
        raise RuntimeError(msg)
    return found


def _text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()


class JobsReceiver(Receiver):
    """taskiq's receiver, with svc-jobs' outcome handling (see the module docstring)."""

    def __init__(self, broker: AsyncBroker, jobs: Jobs, **kwargs: Any) -> None:
        kwargs.setdefault("propagate_exceptions", False)
        super().__init__(broker, **kwargs)
        self.jobs = jobs
        self.active: set[asyncio.Task[Any]] = set()
        self._held: dict[int, tuple[AckableMessage, str]] = {}
        self._beat: asyncio.Task[None] | None = None

    async def callback(self, message: bytes | AckableMessage, raise_err: bool = False) -> None:
        """Handle one delivery; never raises except on cancellation (then no ack)."""
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
        try:
            await self._handle(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not acknowledged: the entry stays pending and is reclaimed later.
            logger.exception("job handling failed; the message stays un-acknowledged")
        finally:
            if task is not None:
                self.active.discard(task)

    async def _ack(self, message: bytes | AckableMessage) -> None:
        if isinstance(message, AckableMessage):
            await message.ack()  # type: ignore[misc]

    async def _poison(
        self,
        message: bytes | AckableMessage,
        data: bytes,
        reason: str,
        error: str,
        name: str | None = None,
    ) -> None:
        await self.jobs.store.dead_letter(
            message=_text(data), reason=reason, attempts=0, error=error, name=name
        )
        metrics.DEAD_LETTERED.labels(reason).inc()
        logger.warning("poison message (%s) moved to the dead-letter queue", reason)
        await self._ack(message)

    def _hold(self, message: bytes | AckableMessage, name: str) -> int | None:
        """Put a running stream entry under the shared heartbeat; returns its key."""
        if not isinstance(message, Delivery) or not message.entry_id:
            return None  # the in-memory broker has no lease to extend
        key = id(message)
        self._held[key] = (message, name)
        if self._beat is None or self._beat.done():
            self._beat = asyncio.create_task(self._heartbeat())
        return key

    async def _heartbeat(self) -> None:
        """One loop per worker: extend the lease of every running entry each interval."""
        interval = self.jobs.jobs_settings.heartbeat
        touch = getattr(self.broker, "touch", None)
        if touch is None:
            return
        while True:
            await asyncio.sleep(interval)
            held = list(self._held.items())
            if not held:
                continue
            replies = await asyncio.gather(
                *(touch(message) for _, (message, _) in held), return_exceptions=True
            )
            for (key, (_, name)), ok in zip(held, replies, strict=True):
                if isinstance(ok, BaseException):
                    logger.warning("lease extension failed; retrying: %s", ok)
                elif not ok and self._held.pop(key, None) is not None:
                    metrics.LEASE_LOST.labels(name).inc()
                    logger.warning("job %s lost its lease: it may run twice", name)

    async def stop_heartbeat(self) -> None:
        """Stop the heartbeat loop (worker shutdown)."""
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(BaseException):
                await self._beat
            self._beat = None

    async def _handle(self, message: bytes | AckableMessage) -> None:  # noqa: PLR0915 - one flow, read top to bottom
        data = message.data if isinstance(message, AckableMessage) else message
        try:
            msg: TaskiqMessage = self.broker.formatter.loads(message=data)
            msg.parse_labels()
        except Exception as exc:  # noqa: BLE001 - any decoding failure is poison
            await self._poison(message, data, "undecodable", f"{type(exc).__name__}: {exc}")
            return
        spec = self.jobs.registry.jobs.get(msg.task_name)
        task = self.broker.find_task(msg.task_name)
        if spec is None or task is None:
            await self._poison(
                message, data, "unknown_task", f"no job named {msg.task_name!r}", msg.task_name
            )
            return
        labels = msg.labels
        attempt = int(labels.get("attempt") or 1)
        job_id = str(labels.get("job_id") or msg.task_id)
        try:
            snap = ContextSnapshot.from_dict(json.loads(labels.get("ctx") or "{}"))
        except (ValueError, TypeError):
            snap = ContextSnapshot()
        policy = spec.retry or self.jobs.default_policy
        store = self.jobs.store
        cap = self.jobs.jobs_settings.max_deliveries
        if isinstance(message, Delivery) and message.deliveries > cap:
            # Every earlier delivery ended with its worker gone (a job that segfaults or
            # exhausts memory takes the worker down with it): stop passing it on.
            text = (
                f"delivered {message.deliveries} times; each worker stopped before finishing "
                "it (crash, kill or lost lease)"
            )
            await self._dead(message, data, "worker_lost", text, attempt, job_id, spec, snap)
            logger.error("job %s (%s) dead-lettered (worker_lost): %s", spec.name, job_id, text)
            return
        if spec.track:
            await store.mark(job_id, "running", attempt)
        measure = metrics.for_job(spec.name)
        measure.started.inc()
        held = self._hold(message, spec.name)
        started = time.perf_counter()
        token = _runtime.set(self.jobs.runtime)
        try:
            with restore(snap):
                result = await self.run_task(target=task.original_func, message=msg)
        finally:
            _runtime.reset(token)
            if held is not None:
                self._held.pop(held, None)
        measure.duration.observe(time.perf_counter() - started)
        error = result.error
        if isinstance(error, asyncio.CancelledError):
            raise asyncio.CancelledError  # shutdown: leave it un-acked, it is returned
        if not result.is_err:
            measure.succeeded.inc()
            if spec.track:
                await store.mark(job_id, "succeeded", attempt, result=result.return_value)
            await self._ack(message)
            return
        measure.failed.inc()
        text = f"{type(error).__name__}: {error}"
        if error is not None and attempt < policy.max_attempts and policy.retries(error):
            delay = policy.delay(attempt)
            retry = msg.model_copy(deep=True)
            retry.labels["attempt"] = attempt + 1
            await self.jobs.kick_message(retry, delay=delay)
            measure.retried.inc()
            logger.warning(
                "job %s (%s) attempt %d failed (%s); retry in %.2f s",
                spec.name,
                job_id,
                attempt,
                type(error).__name__,
                delay,
            )
            if spec.track:
                await store.mark(job_id, "failed", attempt, error=text)
            await self._ack(message)
            return
        reason = "exhausted" if attempt >= policy.max_attempts else "not_retryable"
        await self._dead(message, data, reason, text, attempt, job_id, spec, snap)
        logger.warning(
            "job %s (%s) attempt %d failed (%s); dead-lettered (%s)",
            spec.name,
            job_id,
            attempt,
            type(error).__name__,
            reason,
        )

    async def _dead(
        self,
        message: bytes | AckableMessage,
        data: bytes,
        reason: str,
        error: str,
        attempt: int,
        job_id: str,
        spec: JobSpec,
        snap: ContextSnapshot,
    ) -> None:
        """Move a job to the dead-letter queue, mark it dead, acknowledge the delivery."""
        await self.jobs.store.dead_letter(
            message=_text(data),
            reason=reason,
            attempts=attempt,
            error=error,
            job_id=job_id,
            name=spec.name,
            tenant_id=snap.tenant_id,
        )
        metrics.DEAD_LETTERED.labels(reason).inc()
        if spec.track:
            await self.jobs.store.mark(job_id, "dead", attempt, error=error)
        await self._ack(message)
