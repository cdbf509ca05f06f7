"""A4 jobs and A10-02 worker, over HTTP against the demo, on both profiles.

On the production profile the demo only enqueues: this module starts a separate
``svc-infra jobs worker`` and ``svc-infra jobs scheduler`` with the demo's environment
(and stops them by PID). Callers are real users (register → verify → login).

A4-01 enqueue → consume (export) · A4-02 retry → DLQ · A4-03 schedule tick ·
A10-02 a separate worker process consumes · JQ-08 enqueue while Redis is down → 503.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from acceptance.harness import DemoServer, User, free_port, sign_up, svc_infra_command

PROBLEM = "application/problem+json"
JOBS_APP = "svc_infra.demo.exports"


class Proc:
    """A CLI process of ours, stopped by PID."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log_path = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*svc_infra_command(), *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, banner: str, timeout: float = 120.0) -> None:
        """Wait until the process printed ``banner`` (it has started consuming)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if banner in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.args} exited early:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"{self.args} not ready within {timeout} s:\n{self.log()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode


@pytest.fixture(scope="module")
def consumers(demo: DemoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Proc]]:
    """On production: one worker and one scheduler process with the demo's environment."""
    if demo.profile != "production":
        yield []
        return
    tmp = tmp_path_factory.mktemp("jobs-procs")
    env = {**demo.env, "SVC_JOBS__VISIBILITY_TIMEOUT": "10"}
    procs = [
        Proc(["jobs", "worker", "--app", JOBS_APP], env, tmp / "worker.log"),
        Proc(["jobs", "scheduler", "--app", JOBS_APP], env, tmp / "scheduler.log"),
    ]
    procs[0].wait_ready("svc-jobs worker:")
    procs[1].wait_ready("svc-jobs scheduler:")
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()


@pytest.fixture
def client(demo: DemoServer, consumers: list[Proc]) -> Iterator[httpx.Client]:
    with demo.client() as c:
        yield c


def wait_job(
    client: httpx.Client, user: User, job_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = client.get(f"/jobs/{job_id}", headers=user.auth)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        if body["status"] == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {status}: {body}")


def test_a4_01_enqueue_then_consume(client: httpx.Client) -> None:
    alice, bob = sign_up(client), sign_up(client)
    made = client.post(
        "/projects", json={"name": "Apollo", "description": "Moon"}, headers=alice.auth
    )
    assert made.status_code == 201, made.text
    project = made.json()

    resp = client.post(f"/projects/{project['id']}/export", headers=alice.auth)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    assert resp.headers["Location"] == f"/jobs/{job_id}"

    body = wait_job(client, alice, job_id, "succeeded")
    assert body["id"] == job_id
    assert body["attempts"] == 1
    assert body["result"]["id"] == project["id"]
    assert body["result"]["name"] == "Apollo"

    # Another tenant's job → 404; another tenant's project cannot be exported.
    other = client.get(f"/jobs/{job_id}", headers=bob.auth)
    assert other.status_code == 404
    assert other.headers["content-type"].startswith(PROBLEM)
    assert client.post(f"/projects/{project['id']}/export", headers=bob.auth).status_code == 404
    # Anonymous → 401.
    assert client.get(f"/jobs/{job_id}").status_code == 401


def test_a4_02_retry_then_dead_letter(client: httpx.Client) -> None:
    alice = sign_up(client)
    resp = client.post("/_dev/jobs/fail", headers=alice.auth)
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["job_id"]
    body = wait_job(client, alice, job_id, "dead")
    assert body["attempts"] == 3
    assert body["result"] is None
    # The admin DLQ routes are closed to a non-admin user.
    assert client.get("/admin/jobs/dlq", headers=alice.auth).status_code == 403
    assert client.get("/admin/jobs/dlq").status_code == 401


def test_a4_03_schedule_ticks(client: httpx.Client) -> None:
    first = client.get("/_dev/jobs/ticks").json()["runs"]
    time.sleep(3.5)
    second = client.get("/_dev/jobs/ticks").json()["runs"]
    # The 1-second schedule ticked (once per second at most).
    assert second >= first + 2
    assert second - first <= 5


def test_a10_02_separate_worker_consumes(
    demo: DemoServer, client: httpx.Client, consumers: list[Proc]
) -> None:
    alice = sign_up(client)
    project = client.post("/projects", json={"name": "Gemini"}, headers=alice.auth).json()
    if demo.profile != "production":
        # Embedded: the demo itself consumes.
        job_id = client.post(f"/projects/{project['id']}/export", headers=alice.auth).json()[
            "job_id"
        ]
        wait_job(client, alice, job_id, "succeeded")
        return
    worker = consumers[0]
    # Stop the worker: the job waits (queued), nothing in the demo runs it.
    assert worker.stop() == 0
    job_id = client.post(f"/projects/{project['id']}/export", headers=alice.auth).json()["job_id"]
    time.sleep(1.0)
    assert client.get(f"/jobs/{job_id}", headers=alice.auth).json()["status"] == "queued"
    # A new worker process picks it up.
    fresh = Proc(worker.args, worker.env, worker.log_path.with_name("worker2.log"))
    consumers[0] = fresh
    body = wait_job(client, alice, job_id, "succeeded")
    assert body["result"]["name"] == "Gemini"


def test_jq_08_enqueue_with_redis_down_is_503(make_demo: Any, tmp_path: Path) -> None:
    """JQ-08: the broker's Redis stops → the export answers 503 problem+json, never 202.

    The broker gets a Redis of its own (``SVC_JOBS__REDIS_URL``) so the rest of the demo
    (sessions, rate limits) keeps working and the 503 is provably the queue's.
    """
    port = free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        server = make_demo("production", env={"SVC_JOBS__REDIS_URL": f"redis://127.0.0.1:{port}/0"})
        with server.client() as c:
            user = sign_up(c)
            project = c.post("/projects", json={"name": "X"}, headers=user.auth)
            assert project.status_code == 201, project.text
            redis.send_signal(signal.SIGKILL)
            redis.wait(timeout=10)
            resp = c.post(f"/projects/{project.json()['id']}/export", headers=user.auth)
    finally:
        if redis.poll() is None:
            redis.kill()
            redis.wait(timeout=10)
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["status"] == 503
    assert "job_id" not in resp.json()
    assert resp.json()["type"].endswith("jobs-unavailable")


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def admin_user(demo: DemoServer, client: httpx.Client) -> User:
    """An admin account made with ``svc-infra auth create-user --admin``, logged in."""
    import secrets

    email = f"admin-{secrets.token_hex(6)}@example.com"
    password = "Adm!" + secrets.token_urlsafe(18)
    made = subprocess.run(
        [*svc_infra_command(), "auth", "create-user", email, "--admin", "--password-stdin"],
        input=password + "\n",
        env=demo.env,
        cwd=Path(demo.env["SVC_DATA_DIR"]).parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    login = client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    access = login.json()["access_token"]
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {access}"}).json()
    return User(email, access, me["tenant_id"])


def test_jq_06_dead_letter_listed_and_replayed_by_an_admin(
    demo: DemoServer, client: httpx.Client
) -> None:
    """JQ-06 over HTTP: the DLQ entry holds error and attempts; an admin replays it."""
    alice = sign_up(client)
    job_id = client.post("/_dev/jobs/fail", headers=alice.auth).json()["job_id"]
    wait_job(client, alice, job_id, "dead")
    admin = admin_user(demo, client)

    def entries() -> list[dict[str, Any]]:
        resp = client.get(
            "/admin/jobs/dlq", params={"name": "demo.always_fails"}, headers=admin.auth
        )
        assert resp.status_code == 200, resp.text
        return [e for e in resp.json()["items"] if e["job_id"] == job_id]

    (entry,) = entries()
    assert entry["attempts"] == 3
    assert entry["reason"] == "exhausted"
    assert entry["error"] == "RuntimeError: this job always fails"
    assert entry["tenant_id"] == alice.tenant_id
    replay = client.post("/admin/jobs/dlq/replay", json={"ids": [entry["id"]]}, headers=admin.auth)
    assert replay.json() == {"replayed": 1}
    # It runs again (and, failing again, comes back to the DLQ as a new entry).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = entries()
        if found and found[0]["id"] != entry["id"]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the replayed job did not run again")
    assert client.get(f"/jobs/{job_id}", headers=alice.auth).json()["status"] == "dead"
