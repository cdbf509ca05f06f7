"""A3 idempotency over HTTP against the demo, on both profiles.

A3-01 replay · A3-02 payload mismatch · A3-03 optimistic locking — on ``/projects`` —
plus the catalogue's ID rows that need a real process (ID-04 missing/malformed keys,
ID-05 validation-then-retry and a 500 after execution started, a 409 while in flight) and
the crash case: SIGKILL the demo while a handler holds a key; the retry completes after
the lease.

What the SIGKILL case proves on each profile: on *production* the in-flight claim lives
in Redis and survives the crash; a retry before the lease runs out gets 409, and once
it expired the retry executes (201) — the key is never stuck. On *embedded* the claim
lived in the process's memory store and died with it, so the first retry after the
restart executes at once: there is no persistent state that could keep the key stuck.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from acceptance.conftest import DemoFactory
from acceptance.harness import DemoServer, User, sign_up, start_demo

PROBLEM = "application/problem+json"
DOCS = "https://"


def assert_problem(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status
    assert str(body["type"]).startswith(DOCS)
    return body


def key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def client(demo: DemoServer) -> Iterator[httpx.Client]:
    with demo.client() as c:
        yield c


def names(client: httpx.Client, user: User) -> list[str]:
    page = client.get("/projects", params={"limit": 100}, headers=user.auth)
    assert page.status_code == 200, page.text
    return sorted(p["name"] for p in page.json()["items"])


def test_a3_01_replay(client: httpx.Client) -> None:
    alice = sign_up(client)
    k = key()
    first = client.post(
        "/projects", json={"name": "once"}, headers={**alice.auth, "Idempotency-Key": k}
    )
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for sent in (k, f'"{k}"'):  # bare, and as a structured-field string
        again = client.post(
            "/projects", json={"name": "once"}, headers={**alice.auth, "Idempotency-Key": sent}
        )
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers.get("location") == first.headers.get("location")
    assert names(client, alice) == ["once"]
    # Another principal's identical key is another key.
    bob = sign_up(client)
    other = client.post(
        "/projects", json={"name": "once"}, headers={**bob.auth, "Idempotency-Key": k}
    )
    assert other.status_code == 201
    assert "idempotent-replayed" not in other.headers
    assert other.json()["id"] != first.json()["id"]
    # Without a key, POST /projects simply runs.
    assert client.post("/projects", json={"name": "free"}, headers=alice.auth).status_code == 201
    assert names(client, alice) == ["free", "once"]


def test_a3_02_payload_mismatch(client: httpx.Client) -> None:
    alice = sign_up(client)
    k = key()
    headers = {**alice.auth, "Idempotency-Key": k}
    assert client.post("/projects", json={"name": "a"}, headers=headers).status_code == 201
    changed = client.post("/projects", json={"name": "b"}, headers=headers)
    body = assert_problem(changed, 422)
    assert str(body["type"]).endswith("idempotency-key-mismatch")
    assert names(client, alice) == ["a"]


def test_a3_03_optimistic_lock(client: httpx.Client) -> None:
    alice = sign_up(client)
    made = client.post("/projects", json={"name": "v"}, headers=alice.auth).json()
    url = f"/projects/{made['id']}"
    read = client.get(url, headers=alice.auth)
    tag = read.headers["etag"]
    assert tag == '"1"'
    ok = client.patch(url, json={"name": "v2"}, headers={**alice.auth, "If-Match": tag})
    assert ok.status_code == 200, ok.text
    assert ok.json()["version"] == 2
    stale = client.patch(url, json={"name": "v3"}, headers={**alice.auth, "If-Match": tag})
    assert_problem(stale, 412)
    stale_body = client.patch(url, json={"name": "v3", "version": 1}, headers=alice.auth)
    assert_problem(stale_body, 409)
    after = client.get(url, headers=alice.auth)
    assert after.headers["etag"] == '"2"'
    assert after.json()["name"] == "v2"
    # PATCH honours Idempotency-Key too: the retry replays instead of bumping again.
    k = key()
    headers = {**alice.auth, "Idempotency-Key": k, "If-Match": '"2"'}
    first = client.patch(url, json={"name": "v3"}, headers=headers)
    assert first.status_code == 200, first.text
    again = client.patch(url, json={"name": "v3"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["version"] == first.json()["version"] == 3


def test_id_04_missing_and_malformed_keys_are_400(client: httpx.Client) -> None:
    missing = client.post("/_dev/slow-write", json={})
    body = assert_problem(missing, 400)
    assert str(body["type"]).endswith("#idempotency-key-missing")
    bad_keys: list[str | bytes] = [
        "k" * 256,
        "a, b",
        '"unterminated',
        '"a";p=1',
        "",
        b"caf\xc3\xa9",
    ]
    for bad in bad_keys:
        resp = client.post("/_dev/slow-write", json={}, headers=[("Idempotency-Key", bad)])
        assert_problem(resp, 400)
    ok = client.post("/_dev/slow-write", json={}, headers={"Idempotency-Key": "k" * 255})
    assert ok.status_code == 201


def test_id_05_validation_failure_stores_nothing_and_500_is_replayed(
    client: httpx.Client,
) -> None:
    alice = sign_up(client)
    k = key()
    headers = {**alice.auth, "Idempotency-Key": k}
    bad = client.post("/projects", json={"name": ""}, headers=headers)
    assert_problem(bad, 422)
    good = client.post("/projects", json={"name": "fixed"}, headers=headers)
    assert good.status_code == 201
    assert "idempotent-replayed" not in good.headers

    k2 = key()
    failed = client.post("/_dev/slow-write", json={"fail": True}, headers={"Idempotency-Key": k2})
    problem = assert_problem(failed, 500)
    again = client.post("/_dev/slow-write", json={"fail": True}, headers={"Idempotency-Key": k2})
    assert again.status_code == 500
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["detail"] == problem["detail"]
    assert client.get(f"/_dev/slow-write/{k2}").json() == {"started": 1, "completed": 0}


def test_in_flight_retry_is_409(client: httpx.Client, demo: DemoServer) -> None:
    k = key()
    results: list[httpx.Response] = []

    def first() -> None:
        with demo.client() as c:
            results.append(
                c.post("/_dev/slow-write", json={"seconds": 1.0}, headers={"Idempotency-Key": k})
            )

    thread = threading.Thread(target=first)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while client.get(f"/_dev/slow-write/{k}").json()["started"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        busy = client.post(
            "/_dev/slow-write", json={"seconds": 1.0}, headers={"Idempotency-Key": k}
        )
        assert_problem(busy, 409)
        assert busy.headers["retry-after"] == "1"
    finally:
        thread.join(timeout=15)
    assert results[0].status_code == 201
    again = client.post("/_dev/slow-write", json={"seconds": 1.0}, headers={"Idempotency-Key": k})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == results[0].json()


LEASE = 15.0


@pytest.mark.parametrize("profile", ["embedded", "production"])
def test_sigkill_while_holding_a_key_then_retry_completes_after_the_lease(
    make_demo: DemoFactory, profile: str, tmp_path: Path
) -> None:
    env = {"SVC_IDEMPOTENCY__LEASE": str(LEASE), "SVC_HTTP__HANDLER_TIMEOUT": "60"}
    server = make_demo(profile, env=env)
    k = key()
    body = {"seconds": 5.0, "note": "crash"}  # the retry is the same request

    def doomed() -> None:
        with server.client() as c, pytest.raises(httpx.HTTPError):
            c.post("/_dev/slow-write", json=body, headers={"Idempotency-Key": k})

    thread = threading.Thread(target=doomed)
    thread.start()
    with server.client() as c:
        deadline = time.monotonic() + 15
        while c.get(f"/_dev/slow-write/{k}").json()["started"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    server.proc.kill()  # SIGKILL: no shutdown code runs, the claim is not released
    server.proc.wait(timeout=10)
    killed_at = time.monotonic()
    thread.join(timeout=15)

    svc_env = {name: value for name, value in server.env.items() if name.startswith("SVC_")}
    args = ["--migrate"] if profile == "production" else []
    restarted = start_demo(tmp_path / "restarted", profile=profile, env=svc_env, args=args)
    try:
        with restarted.client() as c:
            statuses: list[int] = []
            first_sent: float | None = None
            deadline = time.monotonic() + LEASE + 30
            while True:
                sent_at = time.monotonic()
                first_sent = sent_at if first_sent is None else first_sent
                resp = c.post("/_dev/slow-write", json=body, headers={"Idempotency-Key": k})
                statuses.append(resp.status_code)
                if resp.status_code != 409:
                    break
                # The lease was renewed at most LEASE/3 before the kill: until then it holds.
                assert time.monotonic() < deadline, statuses
                time.sleep(0.5)
            assert resp.status_code == 201, resp.text
            assert "idempotent-replayed" not in resp.headers
            counts = c.get(f"/_dev/slow-write/{k}").json()
            if profile == "production":
                # The claim survived the crash in Redis. It was renewed at most LEASE/3
                # before the kill, so it held until at least 2/3 LEASE after it: a retry
                # before then is refused, the one that ran came after.
                assert sent_at - killed_at > LEASE * 2 / 3 - 1, statuses
                assert first_sent is not None
                if first_sent - killed_at < LEASE * 2 / 3 - 1:
                    assert statuses[0] == 409, statuses
                assert counts == {"started": 2, "completed": 1}  # the killed run + the retry
            else:
                # The memory store died with the process: nothing could keep the key.
                assert statuses == [201]
                assert counts == {"started": 1, "completed": 1}
            replay = c.post("/_dev/slow-write", json=body, headers={"Idempotency-Key": k})
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json() == resp.json()
    finally:
        restarted.stop()
