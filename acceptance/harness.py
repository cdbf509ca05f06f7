"""Start ``svc-infra demo`` as a real process, wait for it, stop it by PID.

Used by the acceptance suite (A0..A10): every test talks HTTP to the real demo
service — the library's real routers — on a free loopback port.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_TIMEOUT = 120.0

#: Environment every demo instance gets unless a test overrides it.
BASE_ENV = {
    "SVC_ENV": "test",
    "SVC_HTTP__HANDLER_TIMEOUT": "2",
    "SVC_HTTP__BODY_TIMEOUT": "1",
    "SVC_HTTP__CORS_ORIGINS": "https://app.example.test",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def svc_infra_command() -> list[str]:
    """How to invoke the CLI of the environment running the tests."""
    exe = shutil.which("svc-infra", path=str(Path(sys.executable).parent))
    if exe:
        return [exe]
    return [sys.executable, "-c", "from svc_infra.cli import main; main()"]


@dataclass
class DemoServer:
    """A running demo process."""

    base_url: str
    profile: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client bound to this server."""
        return httpx.Client(base_url=self.base_url, timeout=15.0, **kwargs)  # type: ignore[arg-type]

    @property
    def port(self) -> int:
        """The listening port."""
        return int(self.base_url.rsplit(":", 1)[1])

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; only this process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_demo(
    workdir: Path,
    *,
    profile: str = "embedded",
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
) -> DemoServer:
    """Start ``svc-infra demo`` on a free port and wait until it answers ``GET /``.

    The process runs in ``workdir`` (its embedded SQLite file lives there) with the
    current environment minus every ``SVC_`` variable, plus :data:`BASE_ENV` and ``env``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SVC_")}
    full_env.update(BASE_ENV)
    full_env["SVC_DATA_DIR"] = str(workdir / "data")
    full_env.update(env or {})
    log_path = workdir / f"demo-{port}.log"
    cmd = [*svc_infra_command(), "demo", "--host", "127.0.0.1", "--port", str(port)]
    cmd += args or []
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    server = DemoServer(f"http://127.0.0.1:{port}", profile, proc, log_path, full_env)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"demo exited with {proc.returncode}:\n{server.log()}"
            raise RuntimeError(msg)
        try:
            if httpx.get(server.base_url + "/", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    msg = f"demo did not answer within {READY_TIMEOUT} s:\n{server.log()}"
    raise RuntimeError(msg)


def _admin_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


async def _exec_autocommit(url: str, statement: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(_admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def create_database(server_url: str, tag: str) -> str:
    """Create an empty Postgres database on the server of ``server_url``; return its URL."""
    from sqlalchemy.engine import make_url

    name = f"svc_accept_{tag}_{uuid.uuid4().hex[:10]}".lower()
    asyncio.run(_exec_autocommit(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database`."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    asyncio.run(_exec_autocommit(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class User:
    """A verified, logged-in demo user."""

    email: str
    token: str
    tenant_id: str

    @property
    def auth(self) -> dict[str, str]:
        """The ``Authorization`` header of this user."""
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(client: httpx.Client, prefix: str = "user") -> User:
    """Register, verify through the dev mailbox, log in: the contract's sign-up flow."""
    email = f"{prefix}-{secrets.token_hex(6)}@example.com"
    password = "Tq7!" + secrets.token_urlsafe(18)
    reg = client.post("/auth/register", json={"email": email, "password": password})
    assert reg.status_code == 201, reg.text
    mails = client.get("/_dev/mail", params={"to": email}).json()
    token = next(m["data"]["token"] for m in reversed(mails) if m["data"].get("kind") == "verify")
    assert client.post("/auth/verify", json={"token": token}).status_code == 200
    login = client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    access = login.json()["access_token"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200, me.text
    return User(email, access, me.json()["tenant_id"])
