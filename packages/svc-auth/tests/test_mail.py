"""Mail: SMTP against a local aiosmtpd server, the dev mailbox and its route."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from svc_auth.errors import MailDeliveryError, SvcAuthError
from svc_auth.mail import (
    DevMailbox,
    MailSender,
    Message,
    SMTPMailSender,
    dev_mail_router,
    render_reset_email,
    render_verify_email,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Collector:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.received.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content))
        )
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Collector]]:
    collector = _Collector()
    port = _free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, collector
    finally:
        controller.stop()


async def test_smtp_delivers_to_a_local_server(smtp_server: tuple[int, _Collector]) -> None:
    port, collector = smtp_server
    sender = SMTPMailSender("127.0.0.1", port, sender="noreply@example.com", timeout=5)
    assert isinstance(sender, MailSender)
    message = render_verify_email("alice@example.com", "tok-123", "https://app.example")
    await sender.send(message)
    assert len(collector.received) == 1
    mail_from, rcpts, email = collector.received[0]
    assert mail_from == "noreply@example.com"
    assert rcpts == ["alice@example.com"]
    assert email["Subject"] == message.subject
    assert email["To"] == "alice@example.com"
    assert email["From"] == "noreply@example.com"
    assert email["Message-ID"]
    assert email["Date"]
    payload = email.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode("utf-8")
    assert "https://app.example/verify?token=tok-123" in body


async def test_smtp_sends_unicode_text(smtp_server: tuple[int, _Collector]) -> None:
    port, collector = smtp_server
    sender = SMTPMailSender("127.0.0.1", port, sender="noreply@example.com", timeout=5)
    await sender.send(Message("bob@example.com", "Grüße 👋", "Hallo Bob — 灯籠", {}))
    email = collector.received[0][2]
    payload = email.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert "灯籠" in payload.decode("utf-8")
    assert "Grüße" in str(email["Subject"]) or "=?utf-8?" in str(email["Subject"]).lower()


async def test_smtp_unreachable_port_fails_fast_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = SMTPMailSender(
        "127.0.0.1",
        _free_port(),
        sender="noreply@example.com",
        username="mailer",
        password="s3cret-smtp-pass",
        timeout=5,
    )
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(MailDeliveryError) as info:
        await sender.send(Message("alice@example.com", "hi", "hello", {}))
    assert time.monotonic() - started < 5  # refused at once, not after the timeout
    err = info.value
    assert isinstance(err, SvcAuthError)
    assert err.status_code == 503
    assert "s3cret-smtp-pass" not in str(err.to_problem())
    assert "s3cret-smtp-pass" not in caplog.text
    assert "s3cret-smtp-pass" not in repr(sender)
    assert "mail delivery" in caplog.text


async def test_smtp_server_that_never_answers_times_out() -> None:
    # a listening socket that accepts but never greets: the timeout bounds the wait
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        sender = SMTPMailSender("127.0.0.1", port, sender="noreply@example.com", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(MailDeliveryError):
            await sender.send(Message("alice@example.com", "hi", "hello", {}))
        assert time.monotonic() - started < 10
    finally:
        listener.close()


def test_smtp_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SMTPMailSender("h", 25, sender="a@example.com", starttls=True, use_tls=True)


# --- dev mailbox ---


async def test_dev_mailbox_keeps_messages_newest_last_and_filters() -> None:
    box = DevMailbox()
    assert isinstance(box, MailSender)
    await box.send(Message("alice@example.com", "one", "1", {"n": 1}))
    await box.send(Message("bob@example.com", "two", "2", {"n": 2}))
    await box.send(Message("Alice@Example.com", "three", "3", {"n": 3}))
    assert [m.subject for m in box.messages()] == ["one", "two", "three"]
    assert [m.subject for m in box.messages("ALICE@example.com")] == ["one", "three"]
    assert box.messages("carol@example.com") == []
    assert len(box) == 3
    box.clear()
    assert box.messages() == []


def test_dev_mailbox_drops_the_oldest_beyond_its_bound() -> None:
    box = DevMailbox(max_messages=3)
    for i in range(5):
        box.put(Message("a@example.com", str(i), "", {}))
    assert [m.subject for m in box.messages()] == ["2", "3", "4"]


async def test_dev_mailbox_is_thread_and_task_safe() -> None:
    box = DevMailbox(max_messages=10_000)

    def worker(n: int) -> None:
        for i in range(200):
            box.put(Message("a@example.com", f"t{n}-{i}", "", {}))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    await asyncio.gather(*(box.send(Message("a@example.com", f"a{i}", "", {})) for i in range(200)))
    for thread in threads:
        thread.join()
    assert len(box.messages("a@example.com")) == 1000


async def test_dev_mail_route_serves_the_contract_shape() -> None:
    box = DevMailbox()
    app = FastAPI()
    app.include_router(dev_mail_router(box))
    await box.send(render_verify_email("alice@example.com", "v-token", "http://localhost:8000"))
    await box.send(render_reset_email("bob@example.com", "r-token", "http://localhost:8000"))
    await box.send(render_reset_email("alice@example.com", "r2/+token", "http://localhost:8000"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.get("/_dev/mail", params={"to": "ALICE@example.com"})
        assert resp.status_code == 200
        assert resp.headers["cache-control"] == "no-store"
        body: list[dict[str, Any]] = resp.json()
        assert [set(m) for m in body] == [{"to", "subject", "text", "data"}] * 2
        assert [m["data"] for m in body] == [
            {"kind": "verify", "token": "v-token"},
            {"kind": "reset", "token": "r2/+token"},
        ]
        assert all(m["to"] == "alice@example.com" for m in body)
        assert "r2%2F%2Btoken" in body[1]["text"]  # the link is URL-encoded
        everything = (await client.get("/_dev/mail")).json()
        assert len(everything) == 3
        assert (await client.get("/_dev/mail", params={"to": "nobody@example.com"})).json() == []
        schema = (await client.get("/openapi.json")).json()
        assert "/_dev/mail" not in schema["paths"]


def test_render_helpers() -> None:
    verify = render_verify_email(
        "a@example.com", "abc", "https://app.example/", product_name="Acme"
    )
    assert verify.to == "a@example.com"
    assert verify.data == {"kind": "verify", "token": "abc"}
    assert "Acme" in verify.subject
    assert "https://app.example/verify?token=abc" in verify.text
    reset = render_reset_email("a@example.com", "xyz", "https://app.example", path="/r")
    assert reset.data == {"kind": "reset", "token": "xyz"}
    assert "https://app.example/r?token=xyz" in reset.text
    assert reset.as_dict() == {
        "to": "a@example.com",
        "subject": reset.subject,
        "text": reset.text,
        "data": reset.data,
    }
