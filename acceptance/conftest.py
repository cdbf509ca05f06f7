"""Acceptance fixtures: the demo service as a real process, on both profiles.

``demo`` is parametrized ``embedded`` | ``production``. The production half runs the
demo on the test Postgres (a database of its own, dropped afterwards) and the test
Redis (a key prefix of its own), from ``SVC_TEST_DATABASE_URL`` / ``SVC_TEST_REDIS_URL``;
without them it is skipped — or fails when ``SVC_TEST_REQUIRE_BACKENDS=1``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from acceptance.harness import DemoServer, create_database, drop_database, start_demo
from svc_core.testing.backends import database_url_or_skip, redis_url_or_skip, run_id


def _production_env(tmp: Path) -> tuple[dict[str, str], str]:
    server_url = database_url_or_skip()
    redis_url = redis_url_or_skip()
    db_url = create_database(server_url, run_id().replace("-", "_"))
    env = {
        "SVC_DATABASE_URL": db_url,
        "SVC_REDIS_URL": redis_url,
        "SVC_REDIS_PREFIX": f"svc-accept:{run_id()}:{uuid.uuid4().hex[:8]}:",
    }
    return env, db_url


@pytest.fixture(scope="session", params=["embedded", "production"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """The demo service, running, on the embedded or the production profile."""
    profile: str = request.param
    workdir = tmp_path_factory.mktemp(f"demo-{profile}")
    db_url = None
    env: dict[str, str] = {}
    args: list[str] = []
    if profile == "production":
        env, db_url = _production_env(workdir)
        args = ["--migrate"]
    server = start_demo(workdir, profile=profile, env=env, args=args)
    try:
        yield server
    finally:
        server.stop()
        if db_url:
            drop_database(db_url)


@pytest.fixture(scope="session")
def prod_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo with ``SVC_ENV=prod`` (embedded profile): HSTS on, no /_dev routes."""
    workdir = tmp_path_factory.mktemp("demo-prod-env")
    # svc-auth refuses to start in prod without signing keys and an SMTP server: give it
    # a strong HS256 secret and an SMTP host (no mail is sent by the prod-env tests).
    auth_env = {
        "SVC_AUTH__ALGORITHMS": "HS256",
        "SVC_AUTH__HS256_SECRET": secrets.token_urlsafe(48),
        "SVC_AUTH__SMTP_HOST": "127.0.0.1",
    }
    server = start_demo(workdir, env={"SVC_ENV": "prod", **auth_env})
    try:
        yield server
    finally:
        server.stop()


class DemoFactory:
    """Starts extra demo instances with their own environment; stops them at the end."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._servers: list[DemoServer] = []
        self._databases: list[str] = []

    def __call__(
        self,
        profile: str = "embedded",
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> DemoServer:
        """A new demo on ``profile`` with ``env`` added (production: own DB and prefix)."""
        workdir = self._tmp.mktemp(f"demo-{profile}")
        full_env: dict[str, str] = {}
        extra = list(args or [])
        if profile == "production":
            prod_env, db_url = _production_env(workdir)
            self._databases.append(db_url)
            full_env.update(prod_env)
            extra.append("--migrate")
        full_env.update(env or {})
        server = start_demo(workdir, profile=profile, env=full_env, args=extra)
        self._servers.append(server)
        return server

    def close(self) -> None:
        """Stop every server started and drop their databases."""
        for server in self._servers:
            server.stop()
        for url in self._databases:
            drop_database(url)


@pytest.fixture(scope="session")
def make_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFactory]:
    """Factory for demo instances with extra environment (e.g. tight rate limits).

    Example::

        @pytest.fixture(scope="module", params=["embedded", "production"])
        def limited(request, make_demo):
            return make_demo(request.param, env={"SVC_RATELIMIT__DEFAULT": "5/minute"})
    """
    factory = DemoFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.close()
