"""The ASGI scope of one in-process HTTP request, for the benchmarks that call apps directly."""

from __future__ import annotations

from typing import Any


def post_scope(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """An HTTP/1.1 ``POST path`` scope from 127.0.0.1 with ``headers`` (raw, lower-case)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
        "app": app,
    }
