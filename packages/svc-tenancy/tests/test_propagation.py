"""Carrying the tenant into background work."""

from __future__ import annotations

import asyncio
import json

from svc_core.context import Principal, get_tenant_id, scope
from svc_tenancy import bind_tenant, tenant_from_labels, tenant_labels, with_tenant


async def test_labels_round_trip_through_json() -> None:
    with scope(
        tenant_id="t9", request_id="r1", principal=Principal("u1", roles=frozenset({"admin"}))
    ):
        labels = json.loads(json.dumps(tenant_labels()))
    assert get_tenant_id() is None
    with tenant_from_labels(labels) as tid:
        assert tid == "t9"
        assert get_tenant_id() == "t9"
    assert get_tenant_id() is None


async def test_bind_tenant_keeps_the_tenant_after_the_request_scope_ends() -> None:
    async def job() -> str | None:
        await asyncio.sleep(0)
        return get_tenant_id()

    with with_tenant("t7"):
        bound = bind_tenant(job)
    assert get_tenant_id() is None
    assert await asyncio.create_task(bound()) == "t7"
