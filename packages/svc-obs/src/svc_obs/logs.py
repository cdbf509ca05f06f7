"""Log lines: JSON in production, human-readable in development, secrets redacted.

:func:`configure_logging` puts one handler on the root logger, so the lines of every
library that logs through the standard :mod:`logging` module (uvicorn, SQLAlchemy,
httpx, every svc-* package) come out in the same format, each carrying the request
id, the tenant and the principal of the request it belongs to (read from
:mod:`svc_core.context`) and, with tracing on, the trace id.

Redaction happens in the formatter, on the final text, so it also covers values
interpolated into messages, ``extra=`` fields and tracebacks: ``Authorization`` and
``Cookie`` values, bearer tokens, JWTs, argon2 hashes and every ``key=value`` or
``"key": "value"`` pair whose key names a password, token, secret, cookie or API key.

uvicorn's access log stays (one line per request) except for successful requests to
the quiet paths (probes and ``/metrics``), which would otherwise flood the logs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, Final

from svc_core.context import get_principal, get_request_id, get_tenant_id

__all__ = [
    "REDACTED",
    "ConsoleFormatter",
    "JsonFormatter",
    "QuietPathsFilter",
    "configure_logging",
    "redact",
]

#: What a secret is replaced with.
REDACTED: Final = "[REDACTED]"

# A pattern that names secrets (not a secret itself).
_SECRET_KEY = (
    r"(?:[\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|"  # noqa: S105
    r"authorization|cookie|session[_-]?id|otp|credential|private[_-]?key)[\w-]*)"
)
_PATTERNS: Final = [
    # "Authorization: Bearer x", "authorization=Basic x", "Cookie: a=b; c=d" (to end of line)
    re.compile(r'(?i)(\b(?:proxy-)?(?:authorization|set-cookie|cookie)\s*[:=]\s*)()([^\r\n"\\]+)'),
    # header-style "X-API-Key: value", "password: value" (one word)
    re.compile(r"(?i)(\b" + _SECRET_KEY + r"\s*:[ \t]*)()([^\s\"'\\,;]+)"),
    # JSON / dict pairs: "password": "x" or 'token': 'x'
    re.compile(r"(?i)([\"']" + _SECRET_KEY + r"[\"']\s*:\s*)([\"'])((?:\\.|(?!\2).)*)\2"),
    # ('authorization', 'x') tuples (header lists, e.g. in ASGI scopes)
    re.compile(r"(?i)(\(b?[\"']" + _SECRET_KEY + r"[\"'],\s*b?)([\"'])((?:\\.|(?!\2).)*)\2"),
    # key=value in query strings, form bodies and messages
    re.compile(r"(?i)(\b" + _SECRET_KEY + r"=)()([^&\s\"',;)]+)"),
]
_BEARER: Final = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT: Final = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_ARGON2: Final = re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9$=,+/.-]+")


def redact(text: str) -> str:
    """``text`` with every secret it visibly carries replaced by ``[REDACTED]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + m.group(2) + REDACTED + m.group(2), text)
    text = _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _ARGON2.sub(REDACTED, text)


_SECRET_NAME: Final = re.compile(r"(?i)^" + _SECRET_KEY + r"$")


def _scrub(value: Any, depth: int = 0) -> Any:
    """Redact a structured value: secret-named keys lose their value, text is redacted."""
    if depth > 5:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SECRET_NAME.match(k) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, (str, int, float, bool)) or value is None:
        return redact(value) if isinstance(value, str) else value
    return redact(str(value))


_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "color_message", "taskName"}
)


def _trace_ids() -> tuple[str | None, str | None]:
    try:
        from opentelemetry import trace
    except ImportError:
        return None, None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def _context_fields() -> dict[str, Any]:
    principal = get_principal()
    trace_id, span_id = _trace_ids()
    fields: dict[str, Any] = {
        "request_id": get_request_id(),
        "tenant_id": get_tenant_id(),
        "principal": principal.subject if principal else None,
    }
    if trace_id:
        fields["trace_id"] = trace_id
        fields["span_id"] = span_id
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as redacted JSON."""
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        data.update(_context_fields())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in data:
                data[key] = REDACTED if _SECRET_NAME.match(key) else _scrub(value)
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            data["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(data, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """A human-readable line: time, level, logger, message, then the context."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one redacted line (plus a traceback when present)."""
        ctx = " ".join(f"{k}={v}" for k, v in _context_fields().items() if v is not None)
        extras = " ".join(
            f"{k}={REDACTED if _SECRET_NAME.match(k) else _scrub(v)!r}"
            for k, v in vars(record).items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        )
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        tail = " ".join(part for part in (ctx, extras) if part)
        if tail:
            line += f"  [{tail}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class QuietPathsFilter(logging.Filter):
    """Drop uvicorn access-log lines of successful requests to the quiet paths."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a 2xx/3xx access line whose path starts with a quiet prefix."""
        args = record.args
        # uvicorn's access record args are client, method, full path, HTTP version, status.
        if isinstance(args, tuple) and len(args) == 5:
            path, status = args[2], args[4]
            if isinstance(path, str) and isinstance(status, int) and status < 400:
                return not path.split("?", 1)[0].startswith(self.prefixes)
        return True


_HANDLER_NAME: Final = "svc_obs"


class _Stderr:
    """``sys.stderr`` looked up at each write (test runners and daemons replace it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def remove_logging(handler: logging.Handler, level: int) -> None:
    """Undo :func:`configure_logging`: detach ``handler`` and restore the root ``level``."""
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(level)


def configure_logging(
    *,
    fmt: str = "console",
    level: str | int = "INFO",
    quiet_paths: tuple[str, ...] = ("/_ops/", "/metrics"),
    stream: Any = None,
) -> logging.Handler:
    """Send every log record through one svc-obs handler on the root logger.

    Replaces a previous svc-obs handler (idempotent), makes uvicorn's loggers
    propagate to the root so they share the format, and filters the access log.

    Args:
        fmt: ``"json"`` or ``"console"``.
        level: The root level (``"DEBUG"``, ``"INFO"`` …).
        quiet_paths: Path prefixes whose successful requests are not access-logged.
        stream: Where lines go (default ``sys.stderr``).

    Returns:
        The installed handler.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or _Stderr())
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    access = logging.getLogger("uvicorn.access")
    for old in [f for f in access.filters if isinstance(f, QuietPathsFilter)]:
        access.removeFilter(old)
    access.addFilter(QuietPathsFilter(tuple(quiet_paths)))
    # Asyncio's and the HTTP clients' DEBUG output is noise, not diagnostics.
    for name in ("asyncio", "hpack", "httpcore", "aiosqlite", "multipart"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    return handler
