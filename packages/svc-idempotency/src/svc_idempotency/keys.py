"""The ``Idempotency-Key`` header: syntax, scope and request fingerprint.

A key is 1-255 printable ASCII characters without commas or whitespace, sent bare
(``Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324``) or as a structured-field
string (``Idempotency-Key: "8e03978e-…"``, RFC 9651 §3.3.3, as the IETF draft defines
it). Anything else — empty, a list (a comma or several header lines), parameters, a
control character, 256+ characters — is refused with 400.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from svc_idempotency.errors import IdempotencyKeyInvalidError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from svc_core.context import Principal

__all__ = ["MAX_KEY_LENGTH", "fingerprint", "parse_key", "scope_digest"]

MAX_KEY_LENGTH = 255
_DOC_HINT = "see the Idempotency-Key section of the documentation"


def _invalid(why: str) -> IdempotencyKeyInvalidError:
    return IdempotencyKeyInvalidError(f"Idempotency-Key {why}; {_DOC_HINT}.")


def _check_chars(key: str) -> str:
    if not key:
        raise _invalid("is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise _invalid(f"is longer than {MAX_KEY_LENGTH} characters")
    # Printable ASCII without space or comma: checked by C string methods first (the
    # common case), then character by character to say what is wrong.
    if key.isascii() and key.isprintable() and " " not in key and "," not in key:
        return key
    for ch in key:
        code = ord(ch)
        if code <= 0x20 or code >= 0x7F:
            raise _invalid("must be printable ASCII without whitespace")
        if ch == ",":
            raise _invalid("must be a single value, not a list")
    return key


def _parse_sf_string(value: str) -> str:
    # RFC 9651 §4.2.5: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, nothing after.
    out: list[str] = []
    i = 1
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            if i + 1 >= n or value[i + 1] not in '"\\':
                raise _invalid("is not a valid structured-field string")
            out.append(value[i + 1])
            i += 2
            continue
        if ch == '"':
            if i != n - 1:
                raise _invalid("must be a single string without parameters")
            return _check_chars("".join(out))
        out.append(ch)
        i += 1
    raise _invalid("is not a valid structured-field string (unterminated)")


def parse_key(values: Sequence[str]) -> str | None:
    """The key carried by the ``Idempotency-Key`` header lines ``values``.

    Args:
        values: Every ``Idempotency-Key`` header line of the request (decoded latin-1).

    Returns:
        The key, or ``None`` when the header is absent.

    Raises:
        IdempotencyKeyInvalidError: The header is present but not one valid key.
    """
    if not values:
        return None
    if len(values) > 1:
        raise _invalid("must be sent once, not as a list")
    value = values[0].strip(" \t")
    if value.startswith('"'):
        return _parse_sf_string(value)
    return _check_chars(value)


def _principal_id(principal: Principal | None) -> str:
    if principal is None:
        return "anonymous"
    return f"{principal.kind}:{principal.subject}"


def scope_digest(key: str, *, tenant: str | None, principal: Principal | None) -> str:
    """Whose key this is: a digest of tenant, principal and key (no raw key is stored)."""
    raw = "\x00".join((tenant or "-", _principal_id(principal), key))
    return hashlib.sha256(raw.encode()).hexdigest()


# What json.dumps(doc, sort_keys=True, separators=(",", ":")) does, without building an
# encoder on every call (that was a third of a fingerprint's cost).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _canonical_body(body: bytes, content_type: str) -> bytes:
    if body and "json" in content_type:
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        return _CANONICAL.encode(doc).encode()
    return body


def fingerprint(
    *, method: str, route: str, path: str, query: bytes, body: bytes, content_type: str
) -> str:
    """What must be identical for a retry to be replayed: method, route, target and body.

    JSON bodies are compared after canonicalisation (key order and whitespace do not
    matter); other bodies byte for byte.
    """
    # method NUL route NUL path NUL query NUL body, hashed in one call.
    parts = (
        method.encode(),
        route.encode(),
        path.encode(),
        query,
        _canonical_body(body, content_type),
    )
    return hashlib.sha256(b"\x00".join(parts)).hexdigest()[:32]
