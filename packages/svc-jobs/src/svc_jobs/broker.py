"""The embedded broker: taskiq's in-memory broker plus delayed delivery.

The production broker lives in :mod:`svc_jobs.stream` (needs ``svc-jobs[redis]``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from taskiq import AckableMessage, InMemoryBroker

if TYPE_CHECKING:
    from taskiq.message import BrokerMessage

__all__ = ["Delivery", "MemoryBroker"]


class Delivery(AckableMessage):
    """A delivered message and, on Redis, its stream entry id (for the lease).

    ``deliveries`` is how many times the entry has been handed to a worker (Redis' delivery
    counter: 1 when first read, one more for every reclaim from a worker that stopped).
    """

    entry_id: str = ""
    deliveries: int = 1


class MemoryBroker(InMemoryBroker):
    """taskiq's in-memory broker, plus delayed delivery on the event loop (embedded only)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timers: set[asyncio.Task[None]] = set()

    async def kick_later(self, message: BrokerMessage, delay: float) -> None:
        """Deliver ``message`` after ``delay`` seconds (lost if the process stops first)."""
        if delay <= 0:
            await self.kick(message)
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.kick(message)

        task = asyncio.create_task(later())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def touch(self, delivery: bytes | AckableMessage) -> bool:
        """Nothing to extend in memory."""
        return True

    async def depth(self) -> int:
        """Jobs running or waiting for their delay."""
        return len(self._running_tasks) + len(self._timers)

    async def idle(self) -> None:
        """Wait until no job runs and none waits (tests)."""
        while self._running_tasks or self._timers:
            await asyncio.gather(*self._running_tasks, *self._timers, return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel delayed deliveries, then run taskiq's shutdown."""
        for task in list(self._timers):
            task.cancel()
        await super().shutdown()
