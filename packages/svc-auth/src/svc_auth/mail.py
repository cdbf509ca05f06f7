"""Outgoing mail: the sender protocol, SMTP, the dev mailbox and the auth emails.

* :class:`SMTPMailSender` delivers over SMTP with ``aiosmtplib`` (asyncio-native:
  no thread is held while the server answers, and the thread pool stays free for
  password hashing). Failures become :class:`~svc_auth.errors.MailDeliveryError`.
* :class:`DevMailbox` keeps messages in memory; :func:`dev_mail_router` serves them at
  ``GET /_dev/mail?to=<email>`` (HTTP contract: dev/test only, never mounted in prod).
* :func:`render_verify_email` / :func:`render_reset_email` build the messages the auth
  flows send, with the token under ``data`` for machines.

Example::

    mailbox = DevMailbox()
    app.include_router(dev_mail_router(mailbox))  # only when SVC_ENV != "prod"
    await mailbox.send(render_verify_email("alice@example.com", token, "https://app.example"))
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import aiosmtplib
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from svc_auth.errors import MailDeliveryError

__all__ = [
    "DevMailbox",
    "MailDeliveryError",
    "MailSender",
    "Message",
    "SMTPMailSender",
    "dev_mail_router",
    "render_reset_email",
    "render_verify_email",
]

logger = logging.getLogger("svc_auth.mail")


@dataclass(frozen=True, slots=True)
class Message:
    """One outgoing email.

    Attributes:
        to: Recipient address.
        subject: Subject line.
        text: Plain-text body.
        data: Machine-readable fields (e.g. ``{"kind": "verify", "token": ...}``); kept
            by the dev mailbox, never sent over SMTP.
    """

    to: str
    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The dev-mailbox JSON form ``{"to", "subject", "text", "data"}``."""
        return {"to": self.to, "subject": self.subject, "text": self.text, "data": dict(self.data)}


@runtime_checkable
class MailSender(Protocol):
    """Sends one message; raises :class:`~svc_auth.errors.MailDeliveryError` on failure."""

    async def send(self, message: Message) -> None:
        """Deliver ``message``."""
        ...


class SMTPMailSender:
    """Delivers mail through an SMTP server, one connection per message.

    Args:
        host: SMTP server host.
        port: SMTP server port.
        sender: The ``From`` address.
        username: Login name, if the server needs authentication.
        password: Login password (never logged, never in an error).
        starttls: Upgrade a plain connection with STARTTLS (port 587).
        use_tls: Connect with implicit TLS (port 465).
        timeout: Seconds for connecting and for each SMTP command.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        timeout: float = 10,
    ) -> None:
        if starttls and use_tls:
            msg = "choose one of starttls (587) and use_tls (465)"
            raise ValueError(msg)
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.use_tls = use_tls
        self.timeout = timeout

    def __repr__(self) -> str:
        return (
            f"SMTPMailSender(host={self.host!r}, port={self.port!r}, sender={self.sender!r}, "
            f"username={self.username!r}, password={'***' if self._password else None})"
        )

    def build(self, message: Message) -> EmailMessage:
        """The MIME message sent for ``message`` (plain text, UTF-8)."""
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        email.set_content(message.text)
        return email

    async def send(self, message: Message) -> None:
        """Deliver ``message``.

        Raises:
            MailDeliveryError: The server is unreachable, timed out or refused the message.
        """
        try:
            await aiosmtplib.send(
                self.build(message),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                use_tls=self.use_tls,
                start_tls=self.starttls,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            logger.warning(
                "mail delivery via %s:%s failed (%s)", self.host, self.port, type(exc).__name__
            )
            msg = "The mail server could not deliver the message; try again later."
            raise MailDeliveryError(msg) from exc


def _address_key(address: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).lower())


class DevMailbox:
    """In-process mailbox for development and tests (a :class:`MailSender`).

    Keeps the newest ``max_messages`` messages, oldest dropped first. Safe to use from
    threads and tasks.
    """

    def __init__(self, max_messages: int = 1000) -> None:
        self._messages: deque[Message] = deque(maxlen=max_messages)
        self._lock = threading.Lock()

    async def send(self, message: Message) -> None:
        """Keep ``message`` (never fails)."""
        self.put(message)

    def put(self, message: Message) -> None:
        """Synchronous form of :meth:`send`."""
        with self._lock:
            self._messages.append(message)

    def messages(self, to: str | None = None) -> list[Message]:
        """Kept messages, newest last; only those to ``to`` (case-insensitive) if given."""
        with self._lock:
            kept = list(self._messages)
        if to is None:
            return kept
        key = _address_key(to)
        return [m for m in kept if _address_key(m.to) == key]

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)


def dev_mail_router(mailbox: DevMailbox) -> APIRouter:
    """A router serving ``GET /_dev/mail?to=<email>`` from ``mailbox``.

    The answer is 200 with a JSON list of ``{"to", "subject", "text", "data"}``, newest
    last (all messages without ``to``), ``Cache-Control: no-store``. Mount it only when
    ``SVC_ENV`` is not ``prod``: it exposes verification and reset tokens. It is left out
    of the OpenAPI schema.
    """
    router = APIRouter()

    @router.get("/_dev/mail", include_in_schema=False)
    async def dev_mail(to: str | None = None) -> JSONResponse:
        body = [m.as_dict() for m in mailbox.messages(to)]
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return router


def _link(base_url: str, path: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{path}?token={quote(token, safe='')}"


def render_verify_email(
    to: str, token: str, base_url: str, *, product_name: str = "svc-infra", path: str = "/verify"
) -> Message:
    """The email-verification message; ``data`` is ``{"kind": "verify", "token": token}``.

    Args:
        to: Recipient.
        token: The verification token.
        base_url: Where the user's client lives; the link is ``{base_url}{path}?token=…``.
        product_name: Named in the subject and text.
        path: Path of the page that posts the token to ``POST /auth/verify``.
    """
    link = _link(base_url, path, token)
    text = (
        f"Welcome to {product_name}!\n\n"
        f"Confirm your email address by opening this link:\n\n{link}\n\n"
        f"Or use this code: {token}\n\n"
        "If you did not create an account, ignore this message.\n"
    )
    return Message(
        to=to,
        subject=f"Verify your email address for {product_name}",
        text=text,
        data={"kind": "verify", "token": token},
    )


def render_reset_email(
    to: str,
    token: str,
    base_url: str,
    *,
    product_name: str = "svc-infra",
    path: str = "/reset-password",
) -> Message:
    """The password-reset message; ``data`` is ``{"kind": "reset", "token": token}``.

    Args:
        to: Recipient.
        token: The reset token.
        base_url: Where the user's client lives; the link is ``{base_url}{path}?token=…``.
        product_name: Named in the subject and text.
        path: Path of the page that posts the token to ``POST /auth/password/reset``.
    """
    link = _link(base_url, path, token)
    text = (
        f"Someone asked to reset the password of your {product_name} account.\n\n"
        f"Choose a new password by opening this link:\n\n{link}\n\n"
        f"Or use this code: {token}\n\n"
        "If it was not you, ignore this message: your password stays unchanged.\n"
    )
    return Message(
        to=to,
        subject=f"Reset your {product_name} password",
        text=text,
        data={"kind": "reset", "token": token},
    )
