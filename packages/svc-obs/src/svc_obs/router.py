"""The ops routes: probes (``/_ops/live``, ``/_ops/ready``, ``/_ops/startup``) and the
maintenance toggle (``/_ops/maintenance``)."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Body, Header
from pydantic import BaseModel, Field
from starlette.responses import Response

from svc_core.context import get_principal
from svc_core.errors import ForbiddenError, UnauthorizedError
from svc_obs.health import HEALTH_CHECKS_KEY, Lifecycle, run_health_checks

if TYPE_CHECKING:
    from svc_core.plugin import Runtime
    from svc_obs.maintenance import Maintenance
    from svc_obs.settings import ObsSettings

__all__ = ["HEALTH_CONTENT_TYPE", "ObsState", "ops_router"]

#: The media type of probe bodies (draft-inadarei-api-health-check).
HEALTH_CONTENT_TYPE: Final = "application/health+json"


@dataclass(slots=True)
class ObsState:
    """svc-obs' objects for one service, kept in ``runtime.state["obs"]``."""

    settings: ObsSettings
    maintenance: Maintenance
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    routes: list[Any] = field(default_factory=list)

    def resolve(self, scope: Any) -> str | None:
        """The template of the app route ``scope`` would match (for pre-routing answers)."""
        from starlette.routing import Match

        for route in self.routes:
            try:
                match, _ = route.matches(scope)
            except (KeyError, TypeError, ValueError):
                continue
            if match is not Match.NONE:
                path = getattr(route, "path", None)
                return path if isinstance(path, str) else None
        return None


class MaintenanceRequest(BaseModel):
    """Body of ``PUT /_ops/maintenance``."""

    enabled: bool
    retry_after: int | None = Field(default=None, gt=0, le=86_400)
    reason: str | None = Field(default=None, max_length=500)


def _health(status: str, code: int, **extra: Any) -> Response:
    body = {"status": status, **extra}
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=code,
        media_type=HEALTH_CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )


def _health_doc(status: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": status,
        "content": {HEALTH_CONTENT_TYPE: {"example": example or {"status": "pass"}}},
    }


def ops_router(runtime: Runtime, obs: ObsState) -> APIRouter:
    """The ops routes for ``runtime``; see the module docstring."""
    router = APIRouter(prefix="/_ops", tags=["operations"])
    settings = obs.settings

    def require_admin(token: str | None) -> None:
        expected = settings.ops_token.get_secret_value() if settings.ops_token else None
        if expected and token and hmac.compare_digest(token.encode(), expected.encode()):
            return
        principal = get_principal()
        if principal is None:
            raise UnauthorizedError("An admin credential or the ops token is required.")
        if settings.admin_role not in principal.roles:
            raise ForbiddenError("Only administrators may change maintenance mode.")

    @router.get(
        "/live",
        summary="Liveness probe",
        response_class=Response,
        responses={200: _health_doc("The process serves requests.")},
    )
    async def live() -> Response:
        """200 while the process serves requests."""
        return _health("pass", 200)

    @router.get(
        "/startup",
        summary="Start-up probe",
        response_class=Response,
        responses={
            200: _health_doc("Start-up work is done."),
            503: _health_doc("Still starting.", {"status": "fail", "output": "starting"}),
        },
    )
    async def startup() -> Response:
        """503 until start-up work (migrations check, plugins' start-up) is done."""
        if not obs.lifecycle.started:
            return _health("fail", 503, output="starting")
        return _health("pass", 200)

    @router.get(
        "/ready",
        summary="Readiness probe",
        response_class=Response,
        responses={
            200: _health_doc(
                "Every dependency answers.",
                {
                    "status": "pass",
                    "checks": {
                        "database": [{"status": "pass", "observedValue": 1.2, "observedUnit": "ms"}]
                    },
                },
            ),
            503: _health_doc(
                "A dependency fails, or the process is draining.",
                {"status": "fail", "checks": {"database": [{"status": "fail"}]}},
            ),
        },
    )
    async def ready() -> Response:
        """200 when every health check passes (or warns); 503 otherwise or when draining."""
        if obs.lifecycle.draining:
            return _health("fail", 503, output="draining", checks={})
        if not obs.lifecycle.started:
            return _health("fail", 503, output="starting", checks={})
        checks = dict(runtime.state.get(HEALTH_CHECKS_KEY, {}))
        status, results = await run_health_checks(checks, settings.probe_timeout)
        return _health(status, 503 if status == "fail" else 200, checks=results)

    @router.get(
        "/maintenance",
        summary="Maintenance mode state",
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            "enabled": False,
                            "retry_after": 300,
                            "reason": None,
                            "source": "off",
                        }
                    }
                }
            }
        },
    )
    async def maintenance_state() -> dict[str, object]:
        """Whether maintenance mode is on (public: it is visible from any 503 anyway)."""
        return (await obs.maintenance.current()).to_dict()

    @router.put(
        "/maintenance",
        summary="Turn maintenance mode on or off (admin)",
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {
                            "enabled": True,
                            "retry_after": 120,
                            "reason": "database upgrade",
                            "source": "kv",
                        }
                    }
                }
            }
        },
    )
    async def maintenance_toggle(
        body: Annotated[
            MaintenanceRequest,
            Body(examples=[{"enabled": True, "retry_after": 120, "reason": "database upgrade"}]),
        ],
        x_ops_token: Annotated[str | None, Header()] = None,
    ) -> dict[str, object]:
        """Switch maintenance mode for every replica sharing the key-value store.

        Needs a principal with the admin role (``SVC_OBS__ADMIN_ROLE``) or the header
        ``X-Ops-Token`` equal to ``SVC_OBS__OPS_TOKEN``.
        """
        require_admin(x_ops_token)
        if body.enabled:
            await obs.maintenance.enable(retry_after=body.retry_after, reason=body.reason)
        else:
            await obs.maintenance.disable()
        return (await obs.maintenance.current()).to_dict()

    return router
