"""The :class:`Jobs` facade: enqueue, run workers, inspect state and the dead-letter queue."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import event
from taskiq.message import TaskiqMessage

from svc_core.context import get_tenant_id, snapshot
from svc_core.errors import MissingDependencyError
from svc_jobs import metrics
from svc_jobs.broker import MemoryBroker
from svc_jobs.errors import JobsUnavailableError, UnknownJobError
from svc_jobs.receiver import JobsReceiver
from svc_jobs.registry import DEFAULT_REGISTRY, JobRegistry, JobSpec, RetryPolicy
from svc_jobs.settings import JobsSettings
from svc_jobs.store import DeadLetterEntry, JobState, JobStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from svc_core.plugin import Runtime
    from svc_jobs.stream import StreamBroker

__all__ = ["Jobs", "import_job_modules"]

logger = logging.getLogger("svc_jobs")


def import_job_modules(modules: list[str]) -> None:
    """Import the modules that declare jobs (``--app`` / ``SVC_JOBS__IMPORTS``)."""
    for name in modules:
        importlib.import_module(name.split(":", 1)[0])


class Jobs:
    """Background jobs of one service (see the package docstring).

    Args:
        runtime: The service runtime (settings, kv, database).
        settings: svc-jobs settings; default: read from the environment.
        registry: Where jobs and schedules are declared.
    """

    def __init__(
        self,
        runtime: Runtime,
        settings: JobsSettings | None = None,
        *,
        registry: JobRegistry = DEFAULT_REGISTRY,
    ) -> None:
        self.runtime = runtime
        self.jobs_settings = settings or JobsSettings()
        self.registry = registry
        self.store = JobStore(runtime.database)
        js = self.jobs_settings
        self.default_policy = RetryPolicy(
            max_attempts=js.max_attempts, backoff_base=js.backoff_base, backoff_max=js.backoff_max
        )
        svc = runtime.settings
        self.broker: MemoryBroker | StreamBroker
        self.redis_url = js.redis_url or svc.redis_url
        if self.redis_url:
            try:
                from svc_jobs import stream as _stream
            except ImportError as exc:
                raise MissingDependencyError(
                    "taskiq-redis", package="svc-jobs", extra="redis"
                ) from exc

            self.stream = f"{svc.redis_prefix}{{{js.queue}}}"
            self.broker = _stream.StreamBroker(
                self.redis_url,
                stream=self.stream,
                group=js.group,
                visibility_timeout=js.visibility_timeout,
                batch=js.batch,
                pool_size=js.concurrency + 16,
            )
        else:
            self.stream = js.queue
            self.broker = MemoryBroker(max_async_tasks=js.concurrency, await_inplace=False)
            self.broker.receiver = JobsReceiver(
                self.broker, self, max_async_tasks=js.concurrency, run_startup=False
            )
        self._registered: set[str] = set()
        self._started = False
        self._background: list[asyncio.Task[Any]] = []
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def embedded(self) -> bool:
        """True when jobs run inside this process (taskiq's in-memory broker)."""
        return isinstance(self.broker, MemoryBroker)

    def register_tasks(self) -> None:
        """Register every declared job with the taskiq broker (idempotent)."""
        for spec in list(self.registry.jobs.values()):
            if spec.name not in self._registered:
                self.broker.register_task(spec.func, task_name=spec.name)
                self._registered.add(spec.name)

    async def start(self) -> None:
        """Open the broker (declares the consumer group on Redis)."""
        if self._started:
            return
        self.register_tasks()
        with contextlib.suppress(Exception):
            # Redis may be down at start: enqueue answers 503 until it is back.
            await self.broker.startup()
        self._started = True

    async def stop(self) -> None:
        """Stop background loops and close the broker."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(BaseException):
                await task
        self._background.clear()
        if self._started:
            if isinstance(self.broker, MemoryBroker):
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self.broker.idle(), timeout=self.jobs_settings.shutdown_grace
                    )
            await self.broker.shutdown()
            self._started = False

    def spec(self, name: str) -> JobSpec:
        """The declared job ``name``.

        Raises:
            UnknownJobError: No such job.
        """
        found = self.registry.jobs.get(name)
        if found is None:
            msg = f"no job named {name!r}; is the module declaring it imported?"
            raise UnknownJobError(msg)
        return found

    def _kwargs(self, spec: JobSpec, payload: BaseModel | dict[str, Any] | None) -> dict[str, Any]:
        if isinstance(payload, BaseModel):
            data: dict[str, Any] = payload.model_dump(mode="json")
        else:
            data = dict(payload or {})
            if spec.payload_model is not None:
                data = spec.payload_model.model_validate(data).model_dump(mode="json")
        return {"payload": data} if spec.takes_payload else data

    async def enqueue(
        self,
        name: str,
        payload: BaseModel | dict[str, Any] | None = None,
        *,
        job_id: str | None = None,
        delay: float | None = None,
        unique: bool = False,
    ) -> str:
        """Enqueue job ``name``; returns its id once the broker has it.

        Args:
            name: The job name given to ``@job``.
            payload: Its payload (the declared pydantic model, or a dict validated by it).
            job_id: A chosen id (default: a random UUID).
            delay: Run no earlier than this many seconds from now (ETA).
            unique: With ``job_id``: a second enqueue of the same id within
                ``SVC_JOBS__UNIQUE_TTL`` is a no-op returning the same id.

        Raises:
            UnknownJobError: No such job.
            JobsUnavailableError: The broker (or, for tracked jobs, the database) did not
                accept it: nothing was enqueued (503).
        """
        spec = self.spec(name)
        kwargs = self._kwargs(spec, payload)
        jid = job_id or str(uuid.uuid4())
        tenant = get_tenant_id() or ""
        unique_key = f"jobs:unique:{jid}"
        if unique:
            try:
                fresh = await self.runtime.kv.set(
                    unique_key, "1", ttl=self.jobs_settings.unique_ttl, nx=True
                )
            except Exception as exc:
                raise JobsUnavailableError(
                    "The job queue is unavailable; nothing was enqueued."
                ) from exc
            if not fresh:
                return jid
        labels: dict[str, Any] = {
            "job_id": jid,
            "attempt": 1,
            "ctx": json.dumps(snapshot().to_dict()),
        }
        if spec.timeout is not None:
            labels["timeout"] = spec.timeout
        message = TaskiqMessage(task_id=jid, task_name=name, labels=labels, args=[], kwargs=kwargs)
        if spec.track:
            try:
                await self.store.create(jid, name, tenant)
            except Exception as exc:
                if unique:
                    with contextlib.suppress(Exception):
                        await self.runtime.kv.delete(unique_key)
                raise JobsUnavailableError(
                    "The job store is unavailable; nothing was enqueued."
                ) from exc
        try:
            await self.kick_message(message, delay=delay or 0.0)
        except BaseException:
            if spec.track:
                with contextlib.suppress(Exception):
                    await self.store.forget(jid)
            if unique:
                with contextlib.suppress(Exception):
                    await self.runtime.kv.delete(unique_key)
            raise
        metrics.for_job(name).enqueued.inc()
        return jid

    def enqueue_on_commit(
        self,
        session: AsyncSession,
        name: str,
        payload: BaseModel | dict[str, Any] | None = None,
        *,
        job_id: str | None = None,
    ) -> str:
        """Enqueue job ``name`` once ``session``'s transaction commits; nothing on rollback.

        Returns the job id at once. The enqueue runs after the commit, on the event
        loop, with the context of the caller; if the broker refuses it then, the error is
        logged and counted (the transaction is already committed). For a job that must
        exist exactly when the transaction commits, write it to svc-idempotency's outbox
        in the transaction instead (the durability profile without loss).

        Raises:
            UnknownJobError: No such job (checked now, before the commit).
        """
        spec = self.spec(name)
        self._kwargs(spec, payload)  # validate the payload now, inside the request
        jid = job_id or str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        sync_session = session.sync_session

        rolled_back = False

        def after_commit(_session: Any) -> None:
            if rolled_back:
                return
            task = loop.create_task(self._enqueue_later(name, payload, jid), context=context)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        def after_rollback(_session: Any) -> None:
            nonlocal rolled_back
            rolled_back = True

        event.listen(sync_session, "after_commit", after_commit, once=True)
        event.listen(sync_session, "after_rollback", after_rollback, once=True)
        return jid

    async def _enqueue_later(
        self, name: str, payload: BaseModel | dict[str, Any] | None, job_id: str
    ) -> None:
        try:
            await self.enqueue(name, payload, job_id=job_id)
        except Exception:
            metrics.DEAD_LETTERED.labels("enqueue_failed").inc()
            logger.exception("job %s (%s) could not be enqueued after the commit", name, job_id)

    async def kick_message(self, message: TaskiqMessage, *, delay: float = 0.0) -> None:
        """Hand a prepared message to the broker, now or after ``delay`` seconds."""
        if not self._started:
            await self.start()
        broker_message = self.broker.formatter.dumps(message)
        try:
            if delay > 0:
                await self.broker.kick_later(broker_message, delay)
            else:
                await self.broker.kick(broker_message)
        except JobsUnavailableError:
            raise
        except Exception as exc:
            raise JobsUnavailableError(
                "The job queue is unavailable; nothing was enqueued."
            ) from exc

    async def get(self, job_id: str, tenant_id: str | None = None) -> JobState | None:
        """A tracked job's state, if it belongs to ``tenant_id`` (default: the current tenant)."""
        tenant = tenant_id if tenant_id is not None else (get_tenant_id() or "")
        return await self.store.get(job_id, tenant)

    # ------------------------------------------------------------- dead letters
    async def dead_letters(
        self, *, name: str | None = None, limit: int = 100
    ) -> list[DeadLetterEntry]:
        """Dead letters, oldest first."""
        return await self.store.dead_letters(name=name, limit=limit)

    async def replay(
        self, ids: list[str] | None = None, *, name: str | None = None, limit: int = 1000
    ) -> int:
        """Enqueue dead letters again (attempts start over) and remove them; returns how many.

        Undecodable messages cannot be replayed and stay in the queue.
        """
        entries = await self.store.dead_letters(name=name, ids=ids, limit=limit)
        done: list[str] = []
        for entry in entries:
            try:
                msg = self.broker.formatter.loads(message=entry.message.encode())
            except Exception:  # noqa: BLE001 - poison stays in the DLQ
                logger.info("dead letter %s is not a job message; kept", entry.id)
                continue
            if msg.task_name not in self.registry.jobs:
                continue
            msg.labels["attempt"] = 1
            await self.kick_message(msg)
            done.append(entry.id)
        if done:
            await self.store.remove_dead_letters(done)
        return len(done)

    async def purge(self, ids: list[str] | None = None, *, name: str | None = None) -> int:
        """Delete dead letters (all, one job's, or the given ids); returns how many."""
        return await self.store.remove_dead_letters(ids, name=name)

    async def stats(self) -> dict[str, Any]:
        """Queue depth and dead-letter count."""
        depth = await self.broker.depth()
        metrics.QUEUE_DEPTH.labels(self.jobs_settings.queue).set(depth)
        return {
            "queue": self.jobs_settings.queue,
            "backend": "memory" if self.embedded else "redis",
            "depth": depth,
            "dead_letters": await self.store.dead_letter_count(),
            "jobs": sorted(self.registry.jobs),
            "schedules": sorted(self.registry.schedules),
        }

    # ------------------------------------------------------------------ worker
    async def work(self, stop: asyncio.Event) -> None:
        """Consume jobs until ``stop`` is set, then shut down gracefully.

        After ``stop``: no new message is fetched; running jobs get
        ``SVC_JOBS__SHUTDOWN_GRACE`` seconds to finish; the rest are cancelled and,
        with everything prefetched, returned to the queue un-acked.
        """
        broker = self.broker
        if isinstance(broker, MemoryBroker):
            msg = "the embedded profile runs jobs inside the app; set SVC_REDIS_URL for workers"
            raise JobsUnavailableError(msg)
        await self.start()
        js = self.jobs_settings
        receiver = JobsReceiver(
            broker,
            self,
            max_async_tasks=js.concurrency,
            max_prefetch=0,
            run_startup=False,
            wait_tasks_timeout=js.shutdown_grace,
        )
        mover = asyncio.create_task(self._move_delayed(broker, stop))
        try:
            await receiver.listen(stop)
        finally:
            mover.cancel()
            with contextlib.suppress(BaseException):
                await mover
            await receiver.stop_heartbeat()
            leftover = list(receiver.active)
            for task in leftover:
                task.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)
            with contextlib.suppress(Exception):
                returned = await broker.return_pending()
                if returned:
                    logger.info("returned %d un-finished job(s) to the queue", returned)

    async def _move_delayed(self, broker: StreamBroker, stop: asyncio.Event) -> None:
        every = self.jobs_settings.delayed_poll
        ticks = 0
        while not stop.is_set():
            try:
                await broker.move_due()
                ticks += 1
                if ticks % max(1, int(5 / every)) == 0:
                    depth = await broker.depth()
                    metrics.QUEUE_DEPTH.labels(self.jobs_settings.queue).set(depth)
            except Exception:
                logger.debug("moving delayed jobs failed", exc_info=True)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
