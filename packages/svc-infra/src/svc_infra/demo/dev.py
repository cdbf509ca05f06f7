"""Development-only routes of the demo (never mounted when ``SVC_ENV=prod``).

They exist so that a person or the acceptance suite can see the HTTP layer at work:
validation and malformed-JSON problems (``/_dev/echo``), the handler timeout
(``/_dev/sleep``) and the generic 500 (``/_dev/error``).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query
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
