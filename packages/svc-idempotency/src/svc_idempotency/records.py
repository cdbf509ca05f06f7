"""A completed request as stored: fingerprint, status, replayable headers and body."""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["StoredResponse"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The outcome of the first execution of a key, replayed to every retry.

    Attributes:
        fingerprint: The request fingerprint (see :func:`~svc_idempotency.keys.fingerprint`).
        status: HTTP status code.
        headers: The replayable headers, lower-case names, in order.
        body: The response body.
        created_at: Store-clock seconds when it was stored.
    """

    fingerprint: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    created_at: float = 0.0

    def encode(self) -> bytes:
        """Serialise as one JSON line followed by the raw body."""
        meta = {
            "fp": self.fingerprint,
            "status": self.status,
            "headers": [list(h) for h in self.headers],
            "at": self.created_at,
        }
        return json.dumps(meta, separators=(",", ":")).encode() + b"\n" + self.body

    @classmethod
    def decode(cls, data: bytes) -> StoredResponse:
        """The inverse of :meth:`encode`."""
        head, _, body = data.partition(b"\n")
        meta = json.loads(head)
        return cls(
            fingerprint=str(meta["fp"]),
            status=int(meta["status"]),
            headers=tuple((str(k), str(v)) for k, v in meta["headers"]),
            body=body,
            created_at=float(meta.get("at", 0.0)),
        )
