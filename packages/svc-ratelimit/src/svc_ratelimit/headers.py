"""The RateLimit fields of the IETF httpapi ratelimit-headers draft, serialised.

``RateLimit-Policy: "default";q=100;w=60`` describes each quota policy and
``RateLimit: "default";r=42;t=17`` its current state; both are Structured Field Lists
(RFC 9651) of sf-strings with integer parameters. This tiny serialiser covers exactly that
shape: it runs on every limited response, where a general structured-field library costs
several microseconds more. The tests parse its output with the ``http-sf`` library
(property-based) to prove it is valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["policy_field", "sf_string", "state_field"]


def sf_string(value: str) -> str:
    """``value`` as an sf-string: quoted, ``\\`` and ``"`` escaped.

    Raises:
        ValueError: ``value`` holds a character an sf-string cannot carry (outside
            printable ASCII).
    """
    if any(not 0x20 <= ord(ch) <= 0x7E for ch in value):
        msg = f"an sf-string holds printable ASCII only, got {value!r}"
        raise ValueError(msg)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def policy_field(items: Iterable[tuple[str, int, int]]) -> str:
    """``RateLimit-Policy`` for ``(name, quota, window_seconds)`` items."""
    return ", ".join(f"{sf_string(name)};q={q};w={w}" for name, q, w in items)


def state_field(items: Iterable[tuple[str, int, int]]) -> str:
    """``RateLimit`` for ``(name, remaining, reset_seconds)`` items."""
    return ", ".join(f"{sf_string(name)};r={r};t={t}" for name, r, t in items)
