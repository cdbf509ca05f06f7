"""The limit syntax and the RateLimit fields (property-based; parsed with ``http-sf``)."""

from __future__ import annotations

import http_sf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from svc_ratelimit import InvalidLimitError, Limit, Policy, format_limits, parse_limits
from svc_ratelimit.headers import policy_field, sf_string, state_field

names = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
ints = st.integers(min_value=0, max_value=10**12)
items = st.lists(st.tuples(names, ints, ints), min_size=1, max_size=4)


@given(items)
def test_policy_field_is_a_structured_list(values: list[tuple[str, int, int]]) -> None:
    parsed = http_sf.parse(policy_field(values).encode(), tltype="list")
    assert parsed == [(name, {"q": q, "w": w}) for name, q, w in values]


@given(items)
def test_state_field_is_a_structured_list(values: list[tuple[str, int, int]]) -> None:
    parsed = http_sf.parse(state_field(values).encode(), tltype="list")
    assert parsed == [(name, {"r": r, "t": t}) for name, r, t in values]


@given(names)
def test_sf_string_matches_the_library(value: str) -> None:
    assert sf_string(value) == http_sf.ser(value)


def test_sf_string_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        sf_string("caf\u00e9")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/minute;2000/hour", ((100, 60), (2000, 3600))),
        ("5/10 seconds", ((5, 10),)),
        ("3 per second", ((3, 1),)),
        ("10/s, 20/2m", ((10, 1), (20, 120))),
        ("1/day", ((1, 86400),)),
        ("off", ()),
        ("", ()),
    ],
)
def test_limit_strings_parse(text: str, expected: tuple[tuple[int, int], ...]) -> None:
    assert tuple((lim.amount, lim.window) for lim in parse_limits(text)) == expected


@pytest.mark.parametrize(
    "text", ["10/fortnight", "10/ms", "ten/minute", "0/minute", "5/minute;6/60 seconds", "1/0s"]
)
def test_bad_limit_strings_are_refused(text: str) -> None:
    with pytest.raises(InvalidLimitError):
        parse_limits(text)


@given(
    st.lists(
        st.tuples(st.integers(1, 10**7), st.integers(1, 366 * 86400)),
        min_size=1,
        max_size=5,
        unique_by=lambda pair: pair[1],
    )
)
def test_format_round_trips(pairs: list[tuple[int, int]]) -> None:
    limits = tuple(sorted((Limit(a, w) for a, w in pairs), key=lambda lim: lim.window))
    assert parse_limits(format_limits(limits)) == limits


def test_policy_headers_name_each_window() -> None:
    policy = Policy("api", (Limit(10, 1), Limit(1000, 3600), Limit(5, 90)))
    assert policy.items == ("api-second", "api-hour", "api-90s")
    assert (
        policy.policy_header
        == '"api-second";q=10;w=1, "api-hour";q=1000;w=3600, "api-90s";q=5;w=90'
    )
