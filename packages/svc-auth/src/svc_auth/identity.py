"""Canonical identifiers: email addresses and usernames (decision D2, RFC 8265 §3.3).

:func:`normalize_email` gives the canonical key accounts are stored and looked up by:
NFKC, then lower-case, so "Alice@Example.COM" and its fullwidth form (U+FF41 U+FF4C ...) are the
same account ("alice@example.com"). Zero-width, bidirectional-control and any other
control or format character is refused with :class:`InvalidIdentifierError` (422), as
is anything that is not a syntactically valid address (checked by ``email-validator``
without DNS lookups).

Example::

    key = normalize_email(body.email)  # raises InvalidIdentifierError (422)
    user = await users.get_by_email(key)
"""

from __future__ import annotations

import functools
import unicodedata

from email_validator import EmailNotValidError, validate_email

from svc_auth.errors import InvalidIdentifierError

__all__ = [
    "InvalidIdentifierError",
    "canonical_username",
    "forbidden_character",
    "normalize_email",
]

#: Longest accepted address (RFC 5321 path limit).
MAX_EMAIL_LENGTH = 254
#: Longest accepted username.
MAX_USERNAME_LENGTH = 64

# Listed for the documentation; every one of them is in Unicode category Cf, which is
# refused as a whole along with Cc (controls), Cs (surrogates), Co/Cn (private/unassigned)
# and line/paragraph separators.
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def forbidden_character(text: str) -> str | None:
    """The kind of the first forbidden character in ``text``, or ``None``.

    Returns:
        ``"zero_width"``, ``"bidi_control"``, ``"control"`` or ``None``.
    """
    for ch in text:
        if ch in ZERO_WIDTH:
            return "zero_width"
        if ch in BIDI_CONTROLS:
            return "bidi_control"
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            return "control"
    return None


_MESSAGES = {
    "zero_width": "must not contain zero-width characters",
    "bidi_control": "must not contain bidirectional control characters",
    "control": "must not contain control or invisible formatting characters",
}


def _invalid(field: str, kind: str, message: str) -> InvalidIdentifierError:
    return InvalidIdentifierError(
        f"The {field} is not valid: {message}.",
        extensions={
            "errors": [{"loc": ["body", field], "msg": message, "type": f"{field}.{kind}"}]
        },
    )


def _fold(text: str) -> str:
    # RFC 8265 UsernameCaseMapped order: width mapping (NFKC), case mapping, then
    # normalisation again so the result is stable (normalize(normalize(x)) == normalize(x)).
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())


@functools.lru_cache(maxsize=4096)
def normalize_email(raw: str, *, field: str = "email") -> str:
    """Return the canonical form of an email address (the account key).

    Pure, so recent results are cached (4,096 addresses; a refused address is not
    cached): a login spends ~60 µs here otherwise, most of it in ``email-validator``.

    NFKC then lower-case (``str.lower``, RFC 8265's case mapping: not ``casefold``, which
    would turn "straße" into the different mailbox "strasse"). Surrounding whitespace
    is not stripped: the caller's input is refused rather than silently changed.

    Args:
        raw: The address as received.
        field: The request field named in the problem's ``errors``.

    Returns:
        The canonical address, e.g. ``"alice@example.com"``.

    Raises:
        InvalidIdentifierError: Forbidden characters, or not a valid address.
    """
    for text in (raw, unicodedata.normalize("NFKC", raw)):
        kind = forbidden_character(text)
        if kind is not None:
            raise _invalid(field, kind, _MESSAGES[kind])
    folded = _fold(raw)
    if not folded or len(folded) > MAX_EMAIL_LENGTH:
        raise _invalid(field, "invalid", "must be a valid email address")
    if folded.count("@") != 1 or any(ch.isspace() for ch in folded):
        raise _invalid(field, "invalid", "must be a valid email address")
    try:
        result = validate_email(folded, check_deliverability=False)
    except EmailNotValidError as exc:
        raise _invalid(field, "invalid", "must be a valid email address") from exc
    canonical = _fold(result.normalized)
    if forbidden_character(canonical) is not None:  # pragma: no cover - defensive
        raise _invalid(field, "invalid", "must be a valid email address")
    return canonical


def canonical_username(raw: str, *, field: str = "username") -> str:
    """Return the canonical form of a username (RFC 8265 UsernameCaseMapped-like).

    NFKC then lower-case; refuses zero-width, bidi-control and control characters,
    whitespace, and empty or over-long (64 code points) names.

    Raises:
        InvalidIdentifierError: The name cannot be an identifier.
    """
    for text in (raw, unicodedata.normalize("NFKC", raw)):
        kind = forbidden_character(text)
        if kind is not None:
            raise _invalid(field, kind, _MESSAGES[kind])
    folded = _fold(raw)
    if not folded or len(folded) > MAX_USERNAME_LENGTH:
        raise _invalid(field, "invalid", f"must be 1 to {MAX_USERNAME_LENGTH} characters")
    if any(ch.isspace() for ch in folded):
        raise _invalid(field, "invalid", "must not contain spaces")
    return folded
