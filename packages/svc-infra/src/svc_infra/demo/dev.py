"""Development-only routes of the demo (never mounted when ``SVC_ENV=prod``).

They exist so that a person or the acceptance suite can see the HTTP layer at work:
validation and malformed-JSON problems (``/_dev/echo``), the handler timeout
(``/_dev/sleep``) and the generic 500 (``/_dev/error``); with svc-idempotency installed,
a slow write honouring ``Idempotency-Key`` with execution counters
(``POST /_dev/slow-write``, ``GET /_dev/slow-write/{key}``).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["dev_router"]

dev_router = APIRouter(prefix="/_dev", tags=["development"])


class EchoIn(BaseModel):
    """A message to echo back."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"message": "hi"}]})

    message: str = Field(min_length=1, max_length=1000)
    count: int = Field(default=1, ge=1, le=10)


class EchoOut(BaseModel):
    """The echoed message."""

    message: str
    count: int


@dev_router.post("/echo", summary="Echo a JSON body", status_code=200)
async def echo(body: EchoIn) -> EchoOut:
    """Return the body as received (after validation)."""
    return EchoOut(message=body.message, count=body.count)


@dev_router.get("/sleep", summary="Sleep, to exercise the handler timeout")
async def sleep(seconds: float = Query(default=0.0, ge=0.0, le=60.0)) -> dict[str, float]:
    """Sleep ``seconds`` before answering."""
    await asyncio.sleep(seconds)
    return {"slept": seconds}


class DemoFailureError(RuntimeError):
    """Raised on purpose by ``/_dev/error``."""


@dev_router.get("/error", summary="Fail on purpose, to show the generic 500 problem")
async def error() -> None:
    """Raise an unexpected exception; the client sees only a generic problem."""
    msg = "deliberate failure with internal detail that must not leak"
    raise DemoFailureError(msg)


# --- svc-idempotency (routes exist only when it is installed) ---------------------------
# ``POST /_dev/slow-write`` requires ``Idempotency-Key``: it counts its executions in the
# service's key-value store (Redis on the production profile, so the counts survive a
# SIGKILL of the demo), sleeps ``seconds`` and answers 201; ``fail: true`` raises after
# starting (a 500 after execution started is stored and replayed).
# ``GET /_dev/slow-write/{key}`` reads the counts.


class SlowWriteIn(BaseModel):
    """How long the write takes, a note echoed back, and whether it fails."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"seconds": 1.0, "note": "hi"}]}
    )

    seconds: float = Field(default=0.0, ge=0.0, le=60.0)
    note: str = Field(default="", max_length=200)
    fail: bool = False


def _slow_write_key(request: Request) -> str:
    return request.headers.get("idempotency-key", "-").strip().strip('"')


def _counter(key: str, what: str) -> str:
    return f"dev:slow-write:{key}:{what}"


async def slow_write(body: SlowWriteIn, request: Request) -> dict[str, object]:
    """Count an execution, sleep ``seconds``, count a completion, answer 201."""
    kv = request.app.state.runtime.kv
    key = _slow_write_key(request)
    started = await kv.incr(_counter(key, "started"), ttl=86400)
    await asyncio.sleep(body.seconds)
    if body.fail:
        msg = "deliberate failure after the write started"
        raise DemoFailureError(msg)
    completed = await kv.incr(_counter(key, "completed"), ttl=86400)
    return {"key": key, "note": body.note, "started": started, "completed": completed}


async def slow_write_counts(key: str, request: Request) -> dict[str, int]:
    """How many times the write started and completed for ``key``."""
    kv = request.app.state.runtime.kv
    started = await kv.get(_counter(key, "started"))
    completed = await kv.get(_counter(key, "completed"))
    return {"started": int(started or 0), "completed": int(completed or 0)}


def _add_idempotency_routes() -> None:
    try:
        from svc_idempotency import IdempotencyKey
    except ImportError:  # svc-idempotency not installed: no such routes
        return
    dev_router.add_api_route(
        "/slow-write",
        slow_write,
        methods=["POST"],
        status_code=201,
        summary="A slow write honouring Idempotency-Key",
        dependencies=[Depends(IdempotencyKey(required=True))],
    )
    dev_router.add_api_route(
        "/slow-write/{key}",
        slow_write_counts,
        methods=["GET"],
        summary="Executions of /_dev/slow-write for a key",
    )


_add_idempotency_routes()
