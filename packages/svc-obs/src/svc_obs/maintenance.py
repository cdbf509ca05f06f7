"""Maintenance mode: one switch shared by every replica through svc-core's key-value store.

The switch is on when ``SVC_OBS__MAINTENANCE=true`` (fixed for the process) or when an
operator turned it on at run time (``PUT /_ops/maintenance`` or
``svc-infra obs maintenance on``), which writes the key ``obs:maintenance`` to the
store. Each replica re-reads that key at most every ``SVC_OBS__MAINTENANCE_REFRESH``
seconds (default 1), so a toggle reaches every replica within that delay without a
store round trip per request. A store outage keeps the last known state.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from svc_core.kv import KVError
from svc_obs import metrics

if TYPE_CHECKING:
    from svc_core.kv import KV

__all__ = ["MAINTENANCE_KEY", "Maintenance", "MaintenanceState"]

logger = logging.getLogger("svc_obs.maintenance")

#: The store key holding the run-time switch (inside the store's namespace).
MAINTENANCE_KEY: Final = "obs:maintenance"


@dataclass(frozen=True, slots=True)
class MaintenanceState:
    """Whether maintenance mode is on, and what clients are told.

    Attributes:
        enabled: 503 for every non-ops route when true.
        retry_after: Seconds sent in ``Retry-After``.
        reason: Shown as the problem's ``detail`` (no secrets).
        source: ``"env"`` (SVC_OBS__MAINTENANCE), ``"kv"`` (toggled at run time) or
            ``"off"``.
    """

    enabled: bool
    retry_after: int
    reason: str | None = None
    source: str = "off"

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form."""
        return {
            "enabled": self.enabled,
            "retry_after": self.retry_after,
            "reason": self.reason,
            "source": self.source,
        }


class Maintenance:
    """The maintenance switch of one replica.

    Args:
        kv: The shared store.
        forced: ``True`` when ``SVC_OBS__MAINTENANCE`` is set: always on.
        retry_after: Default ``Retry-After`` seconds.
        refresh: Seconds between two reads of the shared key.
    """

    def __init__(
        self, kv: KV, *, forced: bool = False, retry_after: int = 300, refresh: float = 1.0
    ) -> None:
        self.kv = kv
        self.forced = forced
        self.retry_after = retry_after
        self.refresh = refresh
        self._state = (
            self._env_state()
            if forced
            else MaintenanceState(enabled=False, retry_after=retry_after)
        )
        self._checked = float("-inf")
        metrics.MAINTENANCE.set(1 if forced else 0)

    def _env_state(self) -> MaintenanceState:
        return MaintenanceState(enabled=True, retry_after=self.retry_after, source="env")

    def _parse(self, raw: bytes | None) -> MaintenanceState:
        if self.forced:
            return self._env_state()
        if raw is None:
            return MaintenanceState(enabled=False, retry_after=self.retry_after)
        try:
            data = json.loads(raw)
            retry = int(data.get("retry_after") or self.retry_after)
            reason = data.get("reason")
        except (ValueError, TypeError, AttributeError):
            return MaintenanceState(enabled=True, retry_after=self.retry_after, source="kv")
        return MaintenanceState(
            enabled=True,
            retry_after=max(1, retry),
            reason=str(reason) if reason else None,
            source="kv",
        )

    async def current(self) -> MaintenanceState:
        """The state, re-read from the store when the last read is older than ``refresh``."""
        if self.forced:
            return self._state
        now = time.monotonic()
        if now - self._checked < self.refresh:
            return self._state
        self._checked = now
        try:
            raw = await self.kv.get(MAINTENANCE_KEY)
        except KVError as exc:
            logger.warning("maintenance flag unreadable, keeping the last state: %s", exc)
            return self._state
        state = self._parse(raw)
        if state.enabled != self._state.enabled:
            logger.warning("maintenance mode %s", "on" if state.enabled else "off")
            metrics.MAINTENANCE.set(1 if state.enabled else 0)
        self._state = state
        return state

    async def enable(self, *, retry_after: int | None = None, reason: str | None = None) -> None:
        """Turn maintenance on for every replica sharing the store."""
        payload = {"retry_after": retry_after or self.retry_after, "reason": reason}
        await self.kv.set(MAINTENANCE_KEY, json.dumps(payload))
        self._checked = float("-inf")
        await self.current()

    async def disable(self) -> None:
        """Turn the run-time switch off (the environment switch stays on if set)."""
        await self.kv.delete(MAINTENANCE_KEY)
        self._checked = float("-inf")
        await self.current()
