"""Optimistic locking helpers: ETag, If-Match (412/428), body version (409)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Response
from pydantic import BaseModel

from svc_core.errors import install_error_handlers, problem_type
from svc_idempotency import IfMatch, check_version, etag, if_match, parse_etag_list


class Patch(BaseModel):
    name: str
    version: int | None = None


def build() -> tuple[FastAPI, dict[str, Any]]:
    app = FastAPI()
    install_error_handlers(app)
    item: dict[str, Any] = {"name": "a", "version": 1}

    @app.get("/item")
    async def read(response: Response) -> dict[str, Any]:
        response.headers["ETag"] = etag(item["version"])
        return item

    @app.patch("/item")
    async def patch(
        body: Patch, pre: Annotated[IfMatch, Depends(if_match(required=True))], response: Response
    ) -> dict[str, Any]:
        pre.check(item["version"])
        check_version(body.version, item["version"])
        item.update(name=body.name, version=item["version"] + 1)
        response.headers["ETag"] = etag(item["version"])
        return item

    @app.patch("/loose")
    async def loose(pre: Annotated[IfMatch, Depends(if_match())]) -> dict[str, bool]:
        return {"present": pre.present}

    return app, item


@pytest.fixture
async def client() -> Any:
    app, _ = build()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_etag_if_match_flow(client: httpx.AsyncClient) -> None:
    tag = (await client.get("/item")).headers["etag"]
    assert tag == '"1"'
    ok = await client.patch("/item", json={"name": "b"}, headers={"If-Match": tag})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'
    stale = await client.patch("/item", json={"name": "c"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert stale.json()["type"] == problem_type("precondition-failed")
    assert stale.headers["etag"] == '"2"'


async def test_missing_if_match_where_required_is_428(client: httpx.AsyncClient) -> None:
    resp = await client.patch("/item", json={"name": "b"})
    assert resp.status_code == 428
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await client.patch("/loose")).json() == {"present": False}


async def test_stale_body_version_is_409(client: httpx.AsyncClient) -> None:
    resp = await client.patch("/item", json={"name": "b", "version": 0}, headers={"If-Match": "*"})
    assert resp.status_code == 409
    assert resp.json()["current_version"] == 1


async def test_weak_tag_never_matches_and_lists_do(client: httpx.AsyncClient) -> None:
    weak = await client.patch("/item", json={"name": "b"}, headers={"If-Match": 'W/"1"'})
    assert weak.status_code == 412
    listed = await client.patch("/item", json={"name": "b"}, headers={"If-Match": '"9", "1"'})
    assert listed.status_code == 200


def test_parse_etag_list() -> None:
    assert parse_etag_list("*") is None
    assert parse_etag_list('"1", W/"2" ,"3"') == ['"1"', 'W/"2"', '"3"']
    assert parse_etag_list("garbage") == ["<invalid>"]
