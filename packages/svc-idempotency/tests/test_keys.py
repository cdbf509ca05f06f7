"""Key syntax, scope and fingerprint (library level)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svc_core.context import Principal
from svc_idempotency import IdempotencyKeyInvalidError, fingerprint, parse_key, scope_digest

KEY_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=',"\\')


@given(st.text(KEY_CHARS, min_size=1, max_size=255))
def test_every_valid_key_parses_bare_and_quoted_to_itself(key: str) -> None:
    assert parse_key([key]) == key
    assert parse_key([f'"{key}"']) == key


def test_escapes_in_sf_string() -> None:
    assert parse_key(['"a\\"b\\\\c"']) == 'a"b\\c'


def test_absent_header_is_none() -> None:
    assert parse_key([]) is None


@pytest.mark.parametrize(
    "value", ["", '""', "a" * 256, "a,b", "a b", "a\tb", "\x7f", '"a\\x"', '"a"b']
)
def test_invalid(value: str) -> None:
    with pytest.raises(IdempotencyKeyInvalidError):
        parse_key([value])


def test_scope_separates_tenants_and_principals() -> None:
    alice = Principal(subject="alice", kind="user")
    bob = Principal(subject="bob", kind="user")
    base = scope_digest("k", tenant="t1", principal=alice)
    assert base == scope_digest("k", tenant="t1", principal=alice)
    assert base != scope_digest("k", tenant="t2", principal=alice)
    assert base != scope_digest("k", tenant="t1", principal=bob)
    assert base != scope_digest("k", tenant="t1", principal=None)
    assert "k" not in base


def _fp(**kw: object) -> str:
    args: dict[str, object] = {
        "method": "POST",
        "route": "/items",
        "path": "/items",
        "query": b"",
        "body": b'{"a":1,"b":2}',
        "content_type": "application/json",
    }
    args.update(kw)
    return fingerprint(**args)  # type: ignore[arg-type]


def test_fingerprint_covers_method_route_path_query_and_body() -> None:
    base = _fp()
    assert base == _fp(body=b'{ "b": 2, "a": 1 }')
    for change in (
        {"method": "PUT"},
        {"route": "/other"},
        {"path": "/items/2"},
        {"query": b"x=1"},
        {"body": b'{"a":1,"b":3}'},
    ):
        assert _fp(**change) != base, change
    assert _fp(body=b"ab", content_type="text/plain") != _fp(body=b"ba", content_type="text/plain")
