"""A8: operations — metrics (A8-01, MT-01), maintenance + circuit breaker (A8-02), probes
with dependencies up and down and the SIGTERM drain (A8-03).

Black-box over HTTP against ``svc-infra demo`` running as real processes, on the embedded
and the production profile. Dependencies are taken down by the test itself: a TCP proxy
in front of Postgres that the test stops and restarts, and a ``redis-server`` of its own
that it kills and restarts (by PID).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from acceptance.harness import (
    BASE_ENV,
    DemoServer,
    create_database,
    drop_database,
    free_port,
    svc_infra_command,
)
from svc_core.testing.backends import database_url_or_skip, redis_url_or_skip, run_id

HEALTH = "application/health+json"
PROBLEM = "application/problem+json"
OPS_TOKEN = "a8-ops-token-5f0d1c2b"
METRICS_TOKEN = "a8-metrics-token-9e8d7c6b"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
PROFILES = ["embedded", "production"]


# ----------------------------------------------------------------------------- helpers


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, parsed by prometheus-client's parser."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def wait_for(check: Callable[[], bool], timeout: float = 20.0, step: float = 0.1) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds passed (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def status_of(server: DemoServer, path: str) -> int:
    try:
        return httpx.get(server.base_url + path, timeout=5).status_code
    except httpx.HTTPError:
        return 0


@contextlib.contextmanager
def own_demo(
    tmp_path_factory: pytest.TempPathFactory,
    profile: str,
    env: dict[str, str],
    *,
    args: tuple[str, ...] = (),
    ready: str = "/",
    timeout: float = 240.0,
) -> Iterator[DemoServer]:
    """A demo started by this module: its own readiness path and a longer start-up bound
    (several workers importing the whole stack on a busy machine need more than the
    harness's 60 s)."""
    import os

    workdir = tmp_path_factory.mktemp(f"a8-{profile}")
    full = {k: v for k, v in os.environ.items() if not k.startswith("SVC_")}
    full.update(BASE_ENV)
    full["SVC_DATA_DIR"] = str(workdir / "data")
    extra = list(args)
    db_url = None
    if profile == "production":
        db_url = create_database(database_url_or_skip(), f"a8_{run_id()}".replace("-", "_"))
        full["SVC_DATABASE_URL"] = db_url
        full["SVC_REDIS_URL"] = redis_url_or_skip()
        full["SVC_REDIS_PREFIX"] = f"svc-accept-a8:{run_id()}:{uuid.uuid4().hex[:8]}:"
        extra.append("--migrate")
    full.update(env)
    port = free_port()
    log_path = workdir / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*svc_infra_command(), "demo", "--host", "127.0.0.1", "--port", str(port), *extra],
            cwd=workdir,
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = DemoServer(f"http://127.0.0.1:{port}", profile, proc, log_path, full)
    try:
        up = wait_for(
            lambda: proc.poll() is None and status_of(server, ready) == 200,
            timeout=timeout,
            step=0.2,
        )
        assert up, server.log()
        yield server
    finally:
        server.stop()
        if db_url:
            with contextlib.suppress(Exception):
                drop_database(db_url)


class TcpProxy:
    """A loopback TCP proxy the test can stop (dropping every connection) and restart."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()  # type: ignore[attr-defined]
        self._writers.clear()

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class OwnRedis:
    """A ``redis-server`` of this test's own, stopped and restarted by PID."""

    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.exe = exe
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._answers, timeout=10), "redis-server did not start"

    def _answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 0.5) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=PROFILES)
def ops_demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """A demo with the ops token, a protected /metrics and the breaker demo route."""
    env = {
        "SVC_OBS__OPS_TOKEN": OPS_TOKEN,
        "SVC_OBS__METRICS_TOKEN": METRICS_TOKEN,
        "SVC_OBS__DEMO_ROUTES": "true",
        # Long enough that a loaded CI machine cannot let the breaker reach half-open
        # between the third failure and the next request (it did once at 2 s).
        "SVC_OBS__DEMO_BREAKER_RESET": "6",
        "SVC_OBS__MAINTENANCE_REFRESH": "0.2",
    }
    with own_demo(tmp_path_factory, request.param, env) as server:
        yield server


Start = Callable[..., DemoServer]


@pytest.fixture
def start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Start]:
    """``start(profile, env)``: a demo of this test's own, stopped at the end."""
    with contextlib.ExitStack() as stack:

        def factory(profile: str, env: dict[str, str] | None = None) -> DemoServer:
            return stack.enter_context(own_demo(tmp_path_factory, profile, env or {}))

        yield factory


@pytest.fixture
def client(demo: DemoServer) -> Iterator[httpx.Client]:
    with demo.client() as c:
        yield c


# ----------------------------------------------------------------------------- A8-01


def test_a8_01_metrics_by_route_template(demo: DemoServer, client: httpx.Client) -> None:
    before = client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert client.get(f"/no/such/{uuid.uuid4()}").status_code == 404
    text = client.get("/metrics").text
    key = {"method": "GET", "route": "/", "status_code": "200"}
    assert (
        value(text, "http_server_requests_total", **key)
        - value(before.text, "http_server_requests_total", **key)
        == 3
    )
    assert (
        value(
            text, "http_server_requests_total", method="GET", route="<unmatched>", status_code="404"
        )
        >= 1
    )
    assert value(text, "http_server_request_duration_seconds_count", **key) >= 3
    assert value(text, "http_server_request_duration_seconds_bucket", le="+Inf", **key) >= 3
    assert "/no/such/" not in text  # never a raw path
    for gauge in ("db_pool_connections_open", "db_pool_connections_in_use", "db_pool_size"):
        assert any(name == gauge for name, _ in samples(text)), gauge
    assert value(text, "db_pool_size") >= 1


def test_mt_01_exposition_follows_prometheus_naming(demo: DemoServer, client: httpx.Client) -> None:
    """MT-01: the text parser accepts the scrape; counters end in _total, durations are
    _seconds histograms; the per-package series of the installed packages exist."""
    client.get("/")
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["http_server_requests"].type == "counter"
    assert families["http_server_request_duration_seconds"].type == "histogram"
    for family in families.values():
        names = {s.name for s in family.samples}
        if family.type == "counter":
            assert all(n.endswith(("_total", "_created")) for n in names), family.name
        if family.type == "histogram":
            assert not family.name.endswith(("_ms", "_milliseconds")), family.name
            if "duration" in family.name or "latency" in family.name:
                assert family.name.endswith("_seconds"), family.name
    for sample in families["http_server_requests"].samples:
        route = sample.labels["route"]
        assert route == "<unmatched>" or route.startswith("/"), route
        assert not any(ch.isdigit() for ch in route.replace("{", "").split("/")[-1][:1])
    plugins = set(client.get("/").json()["plugins"])
    expected = {
        "obs": {
            "http_server_requests",
            "db_pool_connections_in_use",
            "circuit_breaker_transitions",
        },
        "auth": {"auth_logins"},
        "ratelimit": {"ratelimit_decisions"},
        "idempotency": {"idempotency_replays", "idempotency_conflicts"},
    }
    for plugin, names in expected.items():
        if plugin in plugins:
            missing = names - set(families)
            assert not missing, f"{plugin}: {missing}"


@pytest.mark.parametrize("profile", PROFILES)
def test_a8_01_totals_add_up_across_two_workers(
    profile: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with own_demo(tmp_path_factory, profile, env, args=("--workers", "2")) as server:
        # wait until both workers serve (each writes its own sample files)
        assert wait_for(
            lambda: status_of(server, "/") == 200 and len(list(tmp_path.glob("counter_*.db"))) >= 2,
            timeout=120,
            step=0.2,
        )
        base = httpx.get(server.base_url + "/metrics", timeout=10).text
        key = {"method": "GET", "route": "/", "status_code": "200"}
        sent = 40
        for _ in range(sent):  # a new connection each time, so both workers take some
            assert httpx.get(server.base_url + "/", timeout=10).status_code == 200
        before = value(base, "http_server_requests_total", **key)
        for _ in range(4):  # whichever worker answers the scrape reports the same total
            text = httpx.get(server.base_url + "/metrics", timeout=10).text
            assert value(text, "http_server_requests_total", **key) - before == sent
            assert value(text, "http_server_request_duration_seconds_count", **key) - before == sent


def test_a8_01_metrics_token(ops_demo: DemoServer) -> None:
    with ops_demo.client() as c:
        denied = c.get("/metrics")
        assert denied.status_code == 401
        assert denied.headers["content-type"] == PROBLEM
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/metrics", headers=SCRAPE)
    assert ok.status_code == 200
    assert "http_server_requests_total" in ok.text


# ----------------------------------------------------------------------------- A8-02


def test_a8_02_maintenance_toggle(ops_demo: DemoServer) -> None:
    with ops_demo.client() as c:
        assert c.put("/_ops/maintenance", json={"enabled": True}).status_code == 401
        wrong = c.put("/_ops/maintenance", json={"enabled": True}, headers={"X-Ops-Token": "x"})
        assert wrong.status_code == 401
        on = c.put(
            "/_ops/maintenance",
            json={"enabled": True, "retry_after": 90, "reason": "upgrade"},
            headers={"X-Ops-Token": OPS_TOKEN},
        )
        try:
            assert on.status_code == 200, on.text
            assert on.json()["enabled"] is True
            for path in ("/", "/projects", "/no/such/route", "/_dev/obs/breaker"):
                r = c.get(path)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["retry-after"] == "90"
                assert r.headers["content-type"] == PROBLEM
                assert r.json()["status"] == 503
                assert r.json()["request_id"] == r.headers["x-request-id"]
            assert c.post("/_dev/echo", json={"a": 1}).status_code == 503
            assert c.get("/_ops/live").status_code == 200
            assert c.get("/_ops/ready").status_code == 200
            assert c.get("/metrics", headers=SCRAPE).status_code == 200
            assert c.get("/_ops/maintenance").json()["enabled"] is True
        finally:
            off = c.put(
                "/_ops/maintenance", json={"enabled": False}, headers={"X-Ops-Token": OPS_TOKEN}
            )
        assert off.status_code == 200
        assert c.get("/").status_code == 200


@pytest.mark.parametrize("profile", PROFILES)
def test_a8_02_maintenance_from_the_environment(
    profile: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SVC_OBS__MAINTENANCE=true: 503 from the first request (the harness's readiness
    check on ``/`` cannot be used, so this test starts the demo itself)."""
    env = {"SVC_OBS__MAINTENANCE": "true", "SVC_OBS__MAINTENANCE_RETRY_AFTER": "45"}
    with (
        own_demo(tmp_path_factory, profile, env, ready="/_ops/live") as server,
        server.client() as c,
    ):
        r = c.get("/")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "45"
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["type"].endswith("#maintenance")
        assert c.get("/_ops/live").status_code == 200
        assert c.get("/_ops/ready").status_code == 200
        assert c.get("/metrics").status_code == 200


def test_a8_02_circuit_breaker(ops_demo: DemoServer) -> None:
    with ops_demo.client() as c:
        c.get("/_dev/obs/breaker")  # close it if an earlier run left it open
        for _ in range(3):
            failed = c.get("/_dev/obs/breaker", params={"fail": "true"})
            assert failed.status_code == 502
        rejected = c.get("/_dev/obs/breaker")
        assert rejected.status_code == 503
        assert rejected.headers["content-type"] == PROBLEM
        assert rejected.json()["type"].endswith("#circuit-open")
        assert 1 <= int(rejected.headers["retry-after"]) <= 6
        metrics = c.get("/metrics", headers=SCRAPE).text
        assert (
            value(
                metrics,
                "circuit_breaker_transitions_total",
                breaker="demo_upstream",
                from_state="closed",
                to_state="open",
            )
            >= 1
        )
        assert (
            value(
                metrics, "circuit_breaker_calls_total", breaker="demo_upstream", outcome="rejected"
            )
            >= 1
        )
        # after the reset timeout one trial goes through and closes the breaker
        assert wait_for(lambda: c.get("/_dev/obs/breaker").status_code == 200, timeout=20, step=0.5)
        assert c.get("/_dev/obs/breaker").status_code == 200
        metrics = c.get("/metrics", headers=SCRAPE).text
        assert (
            value(
                metrics,
                "circuit_breaker_transitions_total",
                breaker="demo_upstream",
                from_state="half_open",
                to_state="closed",
            )
            >= 1
        )


def test_a8_02_replicas_share_breaker_and_maintenance(start: Start) -> None:
    """Production: two demo processes on one Redis agree on the breaker and the switch."""
    env = {
        "SVC_OBS__OPS_TOKEN": OPS_TOKEN,
        "SVC_OBS__DEMO_ROUTES": "true",
        "SVC_OBS__DEMO_BREAKER_RESET": "30",
        "SVC_OBS__MAINTENANCE_REFRESH": "0.2",
        "SVC_REDIS_PREFIX": f"svc-accept-a8r:{run_id()}:{uuid.uuid4().hex[:8]}:",
    }
    one = start("production", env)
    two = start("production", env)
    with one.client() as a, two.client() as b:
        for _ in range(3):
            assert a.get("/_dev/obs/breaker", params={"fail": "true"}).status_code == 502
        assert b.get("/_dev/obs/breaker").status_code == 503  # tripped on the other replica
        on = a.put("/_ops/maintenance", json={"enabled": True}, headers={"X-Ops-Token": OPS_TOKEN})
        assert on.status_code == 200
        try:
            assert wait_for(lambda: b.get("/").status_code == 503, timeout=10)
        finally:
            b.put("/_ops/maintenance", json={"enabled": False}, headers={"X-Ops-Token": OPS_TOKEN})
        assert wait_for(lambda: a.get("/").status_code == 200, timeout=10)


# ----------------------------------------------------------------------------- A8-03


def test_a8_03_probes_pass(demo: DemoServer, client: httpx.Client) -> None:
    for path in ("/_ops/live", "/_ops/startup", "/_ops/ready"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"] == HEALTH
        assert r.json()["status"] == "pass"
    checks = client.get("/_ops/ready").json()["checks"]
    assert checks["database"][0]["status"] == "pass"
    if demo.profile == "production":
        assert checks["redis"][0]["status"] == "pass"
    # probes do not flood the access log
    marker = f"/_ops/live?probe={uuid.uuid4().hex}"
    client.get(marker)
    client.get(f"/?visible={uuid.uuid4().hex}")
    time.sleep(0.3)
    log = demo.log()
    assert marker not in log


@pytest.mark.parametrize("profile", PROFILES)
def test_a8_03_readiness_fails_on_sigterm_while_serving(profile: str, start: Start) -> None:
    server = start(profile, env={"SVC_OBS__DRAIN_SECONDS": "8"})
    assert status_of(server, "/_ops/ready") == 200
    server.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: status_of(server, "/_ops/ready") == 503, timeout=6, step=0.05)
    body = httpx.get(server.base_url + "/_ops/ready", timeout=5)
    assert body.headers["content-type"] == HEALTH
    assert body.json()["status"] == "fail"
    assert status_of(server, "/_ops/live") == 200  # still serving in-flight traffic
    assert status_of(server, "/") == 200
    server.proc.wait(timeout=30)  # then it shuts down by itself
    assert server.proc.returncode is not None


def test_a8_03_database_and_redis_down_then_back(start: Start, tmp_path: Path) -> None:
    """Production: Postgres behind a proxy the test stops, a Redis the test kills."""
    from sqlalchemy.engine import make_url

    server_url = database_url_or_skip()
    redis_url_or_skip()
    db_url = create_database(server_url, f"a8_{run_id()}".replace("-", "_"))
    target = make_url(db_url)
    proxy = TcpProxy(target.port or 5432)
    proxy.start()
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        proxied = target.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        )
        server = start(
            "production",
            {
                "SVC_DATABASE_URL": proxied,
                "SVC_REDIS_URL": redis.url,
                "SVC_OBS__PROBE_TIMEOUT": "1",
            },
        )

        def ready() -> httpx.Response:
            return httpx.get(server.base_url + "/_ops/ready", timeout=10)

        assert ready().status_code == 200
        proxy.stop()
        assert wait_for(lambda: ready().status_code == 503, timeout=15)
        down = ready()
        assert down.headers["content-type"] == HEALTH
        assert down.json()["status"] == "fail"
        assert down.json()["checks"]["database"][0]["status"] == "fail"
        assert down.json()["checks"]["redis"][0]["status"] == "pass"
        assert status_of(server, "/_ops/live") == 200
        proxy.start()
        assert wait_for(lambda: ready().status_code == 200, timeout=20)

        redis.stop()
        assert wait_for(lambda: ready().status_code == 503, timeout=15)
        down = ready().json()
        assert down["checks"]["redis"][0]["status"] == "fail"
        assert down["checks"]["database"][0]["status"] == "pass"
        redis.start()
        assert wait_for(lambda: ready().status_code == 200, timeout=20)
    finally:
        redis.stop()
        proxy.close()
        with contextlib.suppress(Exception):
            drop_database(db_url)


def test_a8_03_logs_carry_context_and_no_secrets(start: Start) -> None:
    """Logging: JSON lines with request id; secrets in headers/bodies/queries never logged.

    When svc-auth is installed the full flow register → verify → login → me → refresh runs
    at DEBUG; its password and tokens must not appear anywhere in the captured log.
    """
    import json

    server = start(
        "embedded",
        {"SVC_OBS__LOG_FORMAT": "json", "SVC_OBS__LOG_LEVEL": "DEBUG"},
    )
    secrets: list[str] = []
    password = f"Unbreakable-{uuid.uuid4().hex}"
    with server.client() as c:
        plugins = set(c.get("/").json()["plugins"])
        cookie = f"sess-{uuid.uuid4().hex}"
        bearer = f"opaque-{uuid.uuid4().hex}"
        c.post(
            f"/_dev/echo?api_key=k-{cookie}&token=t-{bearer}",
            json={"password": password, "token": bearer},
            headers={
                "Authorization": f"Bearer {bearer}",
                "Cookie": f"session={cookie}",
                "X-API-Key": f"k-{cookie}",
            },
        )
        secrets += [password, bearer, cookie]
        if "auth" in plugins:
            email = f"a8-{uuid.uuid4().hex[:10]}@example.com"
            reg = c.post("/auth/register", json={"email": email, "password": password})
            assert reg.status_code == 201, reg.text
            mail = c.get("/_dev/mail", params={"to": email}).json()
            verify_token = next(
                m["data"]["token"] for m in mail if m["data"].get("kind") == "verify"
            )
            secrets.append(verify_token)
            assert c.post("/auth/verify", json={"token": verify_token}).status_code == 200
            login = c.post("/auth/login", json={"email": email, "password": password})
            assert login.status_code == 200, login.text
            pair = login.json()
            secrets += [pair["access_token"], pair["refresh_token"]]
            me = c.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
            assert me.status_code == 200
            refreshed = c.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            assert refreshed.status_code == 200
            secrets += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
    time.sleep(0.5)
    log = server.log()
    for secret in secrets:
        assert secret not in log, f"secret leaked into the log: {secret[:6]}…"
    json_lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert json_lines
    request_lines = [line for line in json_lines if line.get("request_id")]
    assert request_lines, "no log line carries a request id"
    assert all({"request_id", "tenant_id", "principal"} <= set(line) for line in json_lines)
