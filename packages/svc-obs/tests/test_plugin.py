"""The plugin's start-up and shutdown: logging handler, separate metrics port, SIGTERM hook."""

from __future__ import annotations

import logging
import signal
import socket
from typing import Any

import httpx

from svc_obs import ObsSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_logging_handler_installed_then_removed(build: Any) -> None:
    root = logging.getLogger()
    level = root.level
    async with build(obs=ObsSettings(log_level="DEBUG")):
        names = [h.get_name() for h in root.handlers]
        assert "svc_obs" in names
        assert root.level == logging.DEBUG
        assert logging.getLogger("uvicorn.access").propagate is True
    assert "svc_obs" not in [h.get_name() for h in root.handlers]
    assert root.level == level


async def test_metrics_on_a_separate_port(build: Any) -> None:
    port = _free_port()
    settings = ObsSettings(configure_logging=False, metrics_port=port, metrics_host="127.0.0.1")
    async with build(obs=settings) as (_, _, client):
        await client.get("/_ops/live")
        assert (await client.get("/metrics")).status_code == 404  # not on the app
        async with httpx.AsyncClient() as direct:
            scrape = await direct.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert scrape.status_code == 200
    assert "http_server_requests_total" in scrape.text


async def test_sigterm_hook_chains_and_is_restored(build: Any) -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: calls.append(signum))
    try:
        settings = ObsSettings(configure_logging=False, drain_seconds=0)
        async with build(obs=settings) as (_, runtime, client):
            from svc_obs.plugin import obs_state

            handler = signal.getsignal(signal.SIGTERM)
            assert callable(handler)
            handler(signal.SIGTERM, None)  # as the interpreter would on SIGTERM
            assert calls == [signal.SIGTERM]  # passed on at once (no drain)
            assert obs_state(runtime).lifecycle.draining is True
            assert (await client.get("/_ops/ready")).status_code == 503
        restored = signal.getsignal(signal.SIGTERM)
        assert restored is not handler
    finally:
        signal.signal(signal.SIGTERM, previous)
