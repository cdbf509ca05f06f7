"""What each part of a login costs the event loop, in process (no HTTP, warm caches).

The ``auth_login`` app of ``auth_apps.py`` (svc-auth's router), with argon2 at the
test parameters so that hashing is nearly free, is called directly as an ASGI app,
``POST /auth/login`` after ``POST /auth/login``. For each variant one part of the login
is replaced by an instant stand-in and the event loop thread's CPU per login is
measured; the difference to ``full`` is what that part costs:

* ``no-lockout`` — the lockout check and reset do nothing;
* ``no-credentials`` — the account's row is read once and then served from a dict;
* ``no-session`` — no session or refresh token is written;
* ``no-token`` — no access token is signed;
* ``no-verify-hop`` — the password "verifies" without the hashing pool's thread hop;
* ``nothing`` — all of the above: HTTP routing, body validation and the response.

    uv run python bench/auth_login_parts.py                  # SQLite
    BENCH_AUTH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        uv run python bench/auth_login_parts.py              # Postgres

Warm-cache costs: under a login load the same code runs 1.5-3x slower, because the
argon2 fills keep the CPU caches thrashed (RESULTS-auth.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _asgi import post_scope

VARIANTS = ("no-lockout", "no-credentials", "no-session", "no-token", "no-verify-hop")


def _request(app: Any, body: bytes) -> Any:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"user-agent", b"bench"),
    ]

    async def one() -> None:
        scope = post_scope(app, "/auth/login", headers)
        status.clear()
        await app(scope, receive, send)
        if status != [200]:
            msg = f"login answered {status}"
            raise RuntimeError(msg)

    return one


async def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


def _stub(service: Any, variant: str) -> None:
    """Replace one part of ``service``'s login by an instant stand-in (instance attributes)."""
    if variant == "no-lockout":
        service.lockout.check = _nothing
        service.lockout.success = _nothing
    elif variant == "no-credentials":
        read = service._credentials
        cache: dict[str, Any] = {}

        async def credentials(email: str) -> Any:
            if email not in cache:
                cache[email] = await read(email)
            return cache[email]

        service._credentials = credentials
    elif variant == "no-session":
        session_id = uuid.uuid4()

        async def create(*_args: Any, **_kwargs: Any) -> tuple[uuid.UUID, str]:
            return session_id, "refresh-token"

        service.sessions.create = create
    elif variant == "no-token":
        service._issue_access = lambda _user, _sid: "access-token"
    elif variant == "no-verify-hop":

        async def verify(_hash: str, _password: str) -> bool:
            return True

        service.hasher.verify = verify


def _unstub(service: Any) -> None:
    for obj, names in (
        (service, ("_credentials", "_issue_access")),
        (service.lockout, ("check", "success")),
        (service.sessions, ("create",)),
        (service.hasher, ("verify",)),
    ):
        for name in names:
            obj.__dict__.pop(name, None)


async def run(logins: int, repeats: int) -> dict[str, float]:
    """Event loop CPU µs per login for ``full``, each variant and ``nothing``."""
    import auth_apps

    from svc_auth import Auth

    captured: list[Auth] = []
    install = Auth.install

    def capture(self: Auth, app: Any) -> None:
        captured.append(self)
        install(self, app)

    Auth.install = capture  # type: ignore[method-assign]
    try:
        app = auth_apps._app(None, auth_apps.TEST_PARAMS, ping="open")
    finally:
        Auth.install = install  # type: ignore[method-assign]
    body = json.dumps({"email": auth_apps.EMAIL, "password": auth_apps.PASSWORD}).encode()
    one = _request(app, body)
    results: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        service = captured[0].service
        for variant in ("full", *VARIANTS, "nothing"):
            for part in VARIANTS if variant == "nothing" else (variant,):
                _stub(service, part)
            for _ in range(30):
                await one()
            samples = []
            for _ in range(repeats):
                start = time.thread_time()
                for _ in range(logins):
                    await one()
                samples.append((time.thread_time() - start) / logins * 1e6)
            results[variant] = statistics.median(samples)
            _unstub(service)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logins", type=int, default=200, help="logins per sample")
    ap.add_argument("--repeats", type=int, default=5, help="samples per variant (median)")
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ.setdefault("BENCH_AUTH_DIR", tempfile.mkdtemp(prefix="auth-parts-"))
    database = "Postgres" if os.environ.get("BENCH_AUTH_DATABASE_URL") else "SQLite"
    results = asyncio.run(run(a.logins, a.repeats))
    full = results["full"]
    print(f"event loop CPU per login, {database}, warm, in process")
    print("| variant | µs per login | the part costs |")
    print("|---|---|---|")
    for variant, us in results.items():
        print(f"| {variant} | {us:.0f} | {'-' if variant == 'full' else f'{full - us:.0f}'} |")


if __name__ == "__main__":
    main()
