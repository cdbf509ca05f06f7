"""Health checks and the lifecycle state behind the probes.

Readiness asks every check in the *health-check registry*: a plain dict kept in
``runtime.state["svc.health_checks"]`` (:data:`HEALTH_CHECKS_KEY`) mapping a check's
name to a zero-argument async callable. Any package or app adds one without
importing svc-obs::

    async def search_ok() -> bool:
        return await search_client.ping()

    runtime.state.setdefault("svc.health_checks", {})["search"] = search_ok

A check returns ``True`` / ``"pass"`` (healthy), ``"warn"`` (degraded but serving:
readiness stays 200 with status ``warn``) or ``False`` / ``"fail"``; raising or taking
longer than ``SVC_OBS__PROBE_TIMEOUT`` counts as ``fail``. svc-obs registers
``database`` (``runtime.database.ping()``) and, when the store is Redis, ``redis``
(``runtime.kv.ping()``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from svc_core.plugin import Runtime

__all__ = [
    "HEALTH_CHECKS_KEY",
    "HealthCheck",
    "Lifecycle",
    "register_health_check",
    "run_health_checks",
]

logger = logging.getLogger("svc_obs.health")

#: Where the health-check registry lives in ``runtime.state``.
HEALTH_CHECKS_KEY: Final = "svc.health_checks"

#: A health check: ``async () -> bool | "pass" | "warn" | "fail"``.
HealthCheck = Callable[[], Awaitable[bool | str]]

Status = Literal["pass", "warn", "fail"]
_RANK: Final[dict[str, int]] = {"pass": 0, "warn": 1, "fail": 2}


def register_health_check(runtime: Runtime, name: str, check: HealthCheck) -> None:
    """Add ``check`` to the runtime's health-check registry under ``name``.

    Equivalent to ``runtime.state.setdefault("svc.health_checks", {})[name] = check``,
    which packages that do not depend on svc-obs write directly.
    """
    runtime.state.setdefault(HEALTH_CHECKS_KEY, {})[name] = check


def _status(value: object) -> Status:
    if value is True or value == "pass":
        return "pass"
    if value == "warn":
        return "warn"
    return "fail"


async def _run_one(check: HealthCheck, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            status = _status(await check())
        output = None
    except TimeoutError:
        status, output = "fail", "timed out"
    except Exception as exc:  # noqa: BLE001 - a failing check is a result, not a crash
        status, output = "fail", type(exc).__name__
    result: dict[str, Any] = {
        "status": status,
        "observedValue": round((time.perf_counter() - start) * 1000, 3),
        "observedUnit": "ms",
    }
    if output:
        result["output"] = output
    return result


async def run_health_checks(
    checks: dict[str, HealthCheck],
    timeout: float,  # noqa: ASYNC109 - a per-check bound, applied inside
) -> tuple[Status, dict[str, Any]]:
    """Run ``checks`` concurrently, each bounded by ``timeout`` seconds.

    Returns:
        The overall status (the worst of all) and the per-check results, in the shape
        of the ``checks`` member of an ``application/health+json`` document.
    """
    names = list(checks)
    results = await asyncio.gather(*(_run_one(checks[n], timeout) for n in names))
    overall: Status = "pass"
    out: dict[str, Any] = {}
    for name, result in zip(names, results, strict=True):
        out[name] = [result]
        if _RANK[result["status"]] > _RANK[overall]:
            overall = result["status"]
    return overall, out


@dataclass(slots=True)
class Lifecycle:
    """What the probes report about the process itself.

    Attributes:
        started: Start-up work (migrations check, every plugin's start-up) is done.
        draining: Shutdown began (SIGTERM or lifespan shutdown): readiness is 503.
    """

    started: bool = False
    draining: bool = False
