"""Canonical identifiers at library level (LG-04, decision D2)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from svc_auth.errors import InvalidIdentifierError, SvcAuthError
from svc_auth.identity import canonical_username, forbidden_character, normalize_email
from svc_core.errors import UnprocessableError


@pytest.mark.parametrize(
    "raw",
    [
        "alice@example.com",
        "Alice@example.com",
        "ALICE@EXAMPLE.COM",
        "\uff41\uff4c\uff49\uff43\uff45@example.com",  # fullwidth "alice"
        "\uff21\uff2c\uff29\uff23\uff25@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
    ],
)
def test_lg04_variants_share_one_canonical_key(raw: str) -> None:
    assert normalize_email(raw) == "alice@example.com"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("ad\u200bmin@example.com", "zero_width"),
        ("ad\u200cmin@example.com", "zero_width"),
        ("ad\u200dmin@example.com", "zero_width"),
        ("ad\u2060min@example.com", "zero_width"),
        ("\ufeffadmin@example.com", "zero_width"),
        ("admin\u202e@example.com", "bidi_control"),
        ("admin\u202a@example.com", "bidi_control"),
        ("admin\u2066@example.com", "bidi_control"),
        ("admin\u200f@example.com", "bidi_control"),
        ("admin\u200e@example.com", "bidi_control"),
        ("ad\x00min@example.com", "control"),
        ("ad\x07min@example.com", "control"),
        ("admin\x7f@example.com", "control"),
        ("admin\u0085@example.com", "control"),
        ("ad\u00admin@example.com", "control"),  # soft hyphen (Cf)
        ("admin@exa\u200bmple.com", "zero_width"),
    ],
)
def test_lg04_invisible_and_control_characters_are_refused(raw: str, kind: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        normalize_email(raw)
    err = info.value
    assert isinstance(err, UnprocessableError)
    assert isinstance(err, SvcAuthError)
    assert err.status_code == 422
    assert err.extensions["errors"] == [
        {
            "loc": ["body", "email"],
            "msg": err.extensions["errors"][0]["msg"],
            "type": f"email.{kind}",
        }
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "a@b@example.com",
        "alice smith@example.com",
        " alice@example.com",
        "alice@example.com ",
        "alice@localhost",
        "alice@exa mple.com",
        "alice@-example.com",
        "a" * 250 + "@example.com",
        "alice\u3000@example.com",  # ideographic space: NFKC makes it a space
    ],
)
def test_malformed_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        normalize_email(raw)
    assert info.value.extensions["errors"][0]["type"] == "email.invalid"


def test_field_name_is_configurable() -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        normalize_email("nope", field="new_email")
    assert info.value.extensions["errors"][0]["loc"] == ["body", "new_email"]


def test_valid_unusual_addresses_are_kept() -> None:
    assert normalize_email("Bob.Smith+Tag@Sub.Example.ORG") == "bob.smith+tag@sub.example.org"
    assert normalize_email("\u00fcser@b\u00fccher.example") == "\u00fcser@b\u00fccher.example"
    # decomposed ü canonicalises to the precomposed one
    assert normalize_email("u\u0308ser@example.com") == "\u00fcser@example.com"
    # lower(), not casefold(): "straße" stays a different mailbox from "strasse"
    assert normalize_email("STRAßE@example.com") == "straße@example.com"


_local = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
    min_size=1,
    max_size=30,
)
_label = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=1,
    max_size=15,
)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@settings(deadline=None)  # CI machines are shared: no per-example deadline
@given(local=_local, domain=_label, tld=st.sampled_from(["com", "org", "example", "io"]))
def test_canonical_email_is_stable_and_case_insensitive(local: str, domain: str, tld: str) -> None:
    raw = f"{local}@{domain}.{tld}"
    try:
        canonical = normalize_email(raw)
    except InvalidIdentifierError:
        canonical = ""
    assume(canonical)  # e.g. "a..b" or a leading dot: invalid syntax, not our concern
    assert normalize_email(canonical) == canonical
    assert canonical == canonical.lower()
    assert normalize_email(raw.upper()) == canonical
    assert normalize_email(raw.lower()) == canonical
    assert normalize_email(raw.swapcase()) == canonical
    assert normalize_email(_fullwidth(raw)) == canonical


@settings(deadline=None)  # CI machines are shared: no per-example deadline
@given(st.text(max_size=30))
def test_normalize_email_is_idempotent_or_refuses(text: str) -> None:
    try:
        canonical = normalize_email(text)
    except InvalidIdentifierError:
        return
    assert normalize_email(canonical) == canonical
    assert forbidden_character(canonical) is None


# --- usernames ---


@pytest.mark.parametrize("raw", ["alice", "Alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45"])
def test_usernames_share_one_canonical_key(raw: str) -> None:
    assert canonical_username(raw) == "alice"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("ad\u200bmin", "zero_width"),
        ("admin\u202e", "bidi_control"),
        ("ad\x01min", "control"),
        ("", "invalid"),
        ("two words", "invalid"),
        ("x" * 65, "invalid"),
    ],
)
def test_bad_usernames_are_refused(raw: str, kind: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        canonical_username(raw)
    assert info.value.extensions["errors"][0]["type"] == f"username.{kind}"


@settings(deadline=None)  # CI machines are shared: no per-example deadline
@given(st.text(max_size=30))
def test_canonical_username_is_idempotent_or_refuses(text: str) -> None:
    try:
        canonical = canonical_username(text)
    except InvalidIdentifierError:
        return
    assert canonical_username(canonical) == canonical
    if canonical.upper().lower() == canonical:  # round-trips through upper case
        assert canonical_username(canonical.upper()) == canonical
