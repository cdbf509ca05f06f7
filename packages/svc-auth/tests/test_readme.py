"""The README's example works as written: a plain FastAPI app gains accounts."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

README = Path(__file__).parents[1] / "README.md"
PASSWORD = "granite harbour lamp drifts east"


async def test_readme_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SVC_DATABASE_URL", "SVC_REDIS_URL", "SVC_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SVC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SVC_AUTH__LOCKOUT_THRESHOLD", "100")
    [code] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    app = namespace["app"]
    auth = namespace["auth"]
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/hello")).status_code == 401
            email = "reader@example.com"
            resp = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
            assert resp.status_code == 201
            mail = (await client.get("/_dev/mail", params={"to": email})).json()
            await client.post("/auth/verify", json={"token": mail[-1]["data"]["token"]})
            tokens = (
                await client.post("/auth/login", json={"email": email, "password": PASSWORD})
            ).json()
            hello = await client.get(
                "/hello", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            assert hello.json() == {"hello": resp.json()["id"]}
    assert auth is not None
