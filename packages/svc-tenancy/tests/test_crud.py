"""The tenant-scoped CRUD router over HTTP (in-process): A6/A7 at library level, AC-01, AC-04."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import Depends
from pydantic import BaseModel

from svc_core.errors import ConfigurationError
from svc_tenancy import require_roles, tenant_crud_router


def headers(tid: str | None, sub: str = "user-1", roles: str = "") -> dict[str, str]:
    h = {"x-test-sub": sub}
    if tid:
        h["x-test-tid"] = tid
    if roles:
        h["x-test-roles"] = roles
    return h


A, B = "tenant-a", "tenant-b"


@pytest.fixture
async def client(make_app, models):
    router = tenant_crud_router(
        models.Note,
        create_schema=models.NoteIn,
        update_schema=models.NotePatch,
        read_schema=models.NoteOut,
        prefix="/notes",
        delete_dependencies=[Depends(require_roles("owner", "admin"))],
    )
    app, _store = await make_app(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_scoped_create_and_list(client) -> None:
    made = [
        (await client.post("/notes", json={"text": f"a{i}"}, headers=headers(A))) for i in range(3)
    ]
    assert [r.status_code for r in made] == [201, 201, 201]
    assert made[0].headers["location"] == f"/notes/{made[0].json()['id']}"
    assert made[0].json()["version"] == 1
    await client.post("/notes", json={"text": "b"}, headers=headers(B))
    a_list = (await client.get("/notes", headers=headers(A))).json()
    b_list = (await client.get("/notes", headers=headers(B))).json()
    assert sorted(n["text"] for n in a_list["items"]) == ["a0", "a1", "a2"]
    assert [n["text"] for n in b_list["items"]] == ["b"]
    assert a_list["next_cursor"] is None


async def test_cursor_pagination_walks_every_row_once(client) -> None:
    ids = {
        (await client.post("/notes", json={"text": str(i)}, headers=headers(A))).json()["id"]
        for i in range(7)
    }
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/notes", params=params, headers=headers(A))).json()
        seen.extend(n["id"] for n in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7
    assert set(seen) == ids
    assert (
        await client.get("/notes", params={"limit": 101}, headers=headers(A))
    ).status_code == 422
    bad = await client.get("/notes", params={"cursor": "not-a-cursor!"}, headers=headers(A))
    assert bad.status_code == 400
    assert bad.json()["type"].endswith("invalid-cursor")


async def test_another_tenants_object_is_404_everywhere(client) -> None:
    note = (await client.post("/notes", json={"text": "secret"}, headers=headers(A))).json()
    url = f"/notes/{note['id']}"
    b = headers(B, sub="user-2", roles="owner")
    assert (await client.get(url, headers=b)).status_code == 404
    assert (await client.patch(url, json={"text": "pwned"}, headers=b)).status_code == 404
    assert (await client.delete(url, headers=b)).status_code == 404
    assert (await client.post(f"{url}/restore", headers=b)).status_code == 404
    assert (await client.get("/notes/not-a-uuid", headers=b)).status_code == 404
    still = await client.get(url, headers=headers(A))
    assert still.json()["text"] == "secret"


async def test_read_has_etag_and_patch_bumps_version_with_stale_409(client) -> None:
    note = (await client.post("/notes", json={"text": "v1"}, headers=headers(A))).json()
    url = f"/notes/{note['id']}"
    got = await client.get(url, headers=headers(A))
    assert got.headers["etag"] == '"1"'
    patched = await client.patch(url, json={"text": "v2", "version": 1}, headers=headers(A))
    assert patched.status_code == 200
    assert patched.json()["version"] == 2
    assert patched.headers["etag"] == '"2"'
    stale = await client.patch(url, json={"text": "v3", "version": 1}, headers=headers(A))
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert (await client.get(url, headers=headers(A))).json()["text"] == "v2"
    no_version = await client.patch(url, json={"text": "v3"}, headers=headers(A))
    assert no_version.json()["version"] == 3


async def test_soft_delete_and_restore(client) -> None:
    note = (await client.post("/notes", json={"text": "bin me"}, headers=headers(A))).json()
    url = f"/notes/{note['id']}"
    owner = headers(A, roles="owner")
    assert (await client.delete(url, headers=owner)).status_code == 204
    assert (await client.get(url, headers=headers(A))).status_code == 404
    assert (await client.get("/notes", headers=headers(A))).json()["items"] == []
    assert (await client.patch(url, json={"text": "x"}, headers=headers(A))).status_code == 404
    restored = await client.post(f"{url}/restore", headers=headers(A))
    assert restored.status_code == 200
    assert restored.json()["text"] == "bin me"
    assert (await client.get(url, headers=headers(A))).status_code == 200


@pytest.mark.parametrize("field", ["tenant_id", "role", "is_admin", "owner_id", "created_by"])
async def test_ac04_fields_a_client_may_not_set_are_refused(client, field) -> None:
    resp = await client.post("/notes", json={"text": "x", field: "tenant-b"}, headers=headers(A))
    assert resp.status_code == 422
    assert any(field in str(e) for e in resp.json()["errors"])
    note = (await client.post("/notes", json={"text": "x"}, headers=headers(A))).json()
    patch = await client.patch(f"/notes/{note['id']}", json={field: "tenant-b"}, headers=headers(A))
    assert patch.status_code == 422
    stored = (await client.get(f"/notes/{note['id']}", headers=headers(A))).json()
    assert stored["owner_id"] is None
    assert (await client.get("/notes", headers=headers(B))).json()["items"] == []


async def test_ac01_unauthenticated_is_401_with_www_authenticate(client) -> None:
    for method, url in [("GET", "/notes"), ("POST", "/notes"), ("GET", "/notes/x")]:
        resp = await client.request(method, url, json={"text": "x"})
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"]
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_ac01_denied_role_is_403_and_audited(client, caplog) -> None:
    note = (await client.post("/notes", json={"text": "x"}, headers=headers(A))).json()
    with caplog.at_level(logging.WARNING, logger="svc_tenancy.audit"):
        resp = await client.delete(
            f"/notes/{note['id']}", headers=headers(A, sub="viewer-7", roles="viewer")
        )
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")
    denial = [r for r in caplog.records if r.name == "svc_tenancy.audit"]
    assert len(denial) == 1
    assert "viewer-7" in denial[0].getMessage()
    assert "DELETE" in denial[0].getMessage()
    assert (await client.get(f"/notes/{note['id']}", headers=headers(A))).status_code == 200


async def test_plug_in_points_run_per_operation(make_app, models) -> None:
    calls: list[str] = []

    async def on_create() -> None:
        calls.append("create")

    async def if_match(request, obj) -> None:
        calls.append(f"before_update:{obj.version}:{request.headers.get('if-match')}")

    router = tenant_crud_router(
        models.Note,
        create_schema=models.NoteIn,
        update_schema=models.NotePatch,
        read_schema=models.NoteOut,
        prefix="/notes",
        create_dependencies=[Depends(on_create)],
        before_update=[if_match],
        etag=lambda obj: f'W/"v{obj.version}"',
    )
    app, _ = await make_app(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        note = await c.post("/notes", json={"text": "x"}, headers=headers(A))
        assert note.headers["etag"] == 'W/"v1"'
        await c.patch(
            f"/notes/{note.json()['id']}",
            json={"text": "y"},
            headers=headers(A) | {"if-match": 'W/"v1"'},
        )
    assert calls == ["create", 'before_update:1:W/"v1"']


def test_schemas_declaring_protected_fields_are_refused(models) -> None:
    class Sneaky(BaseModel):
        text: str
        tenant_id: str

    with pytest.raises(ConfigurationError, match="tenant_id"):
        tenant_crud_router(
            models.Note,
            create_schema=Sneaky,
            update_schema=models.NotePatch,
            read_schema=models.NoteOut,
            prefix="/n",
        )
    with pytest.raises(ConfigurationError, match="TenantMixin"):
        tenant_crud_router(
            models.Label,
            create_schema=models.NoteIn,
            update_schema=models.NotePatch,
            read_schema=models.NoteOut,
            prefix="/n",
        )
