"""Limits and their text syntax: ``"100/minute;2000/hour"``.

A :class:`Limit` is a quota ``amount`` per ``window`` (whole seconds). A limit string
holds one or more limits separated by ``;`` (or ``,``); each is ``<amount>/<window>``
where the window is a unit (``second``, ``minute``, ``hour``, ``day``; singular, plural
or ``s``/``m``/``h``/``d``) optionally preceded by a count (``"5/10 seconds"``). ``"N per
minute"`` is accepted too. ``"off"`` (or an empty string) means *no limit*.

    >>> parse_limits("100/minute;2000/hour")
    (Limit(amount=100, window=60), Limit(amount=2000, window=3600))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from svc_ratelimit.errors import InvalidLimitError

__all__ = ["Limit", "format_limits", "parse_limits"]

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_ITEM = re.compile(
    r"^\s*(?P<amount>\d+)\s*(?:/|\s+per\s+)\s*(?P<count>\d+)?\s*(?P<unit>[a-z]+)\s*$",
    re.IGNORECASE,
)
_OFF = frozenset({"", "off", "none", "false", "0"})
#: Largest amount and window accepted: keeps every script's arithmetic exact in Lua's
#: doubles (amount * window in milliseconds stays far below 2**53).
MAX_AMOUNT = 10**7
MAX_WINDOW = 366 * 86400


@dataclass(frozen=True, slots=True, order=True)
class Limit:
    """A quota of ``amount`` requests per ``window`` seconds.

    Attributes:
        amount: Requests allowed per window (``q`` in ``RateLimit-Policy``), ≥ 1.
        window: The window in whole seconds (``w``), ≥ 1.
    """

    amount: int
    window: int

    def __post_init__(self) -> None:
        if not 1 <= self.amount <= MAX_AMOUNT:
            msg = f"a limit's amount must be between 1 and {MAX_AMOUNT}, got {self.amount}"
            raise InvalidLimitError(msg)
        if not 1 <= self.window <= MAX_WINDOW:
            msg = f"a limit's window must be between 1 s and {MAX_WINDOW} s, got {self.window}"
            raise InvalidLimitError(msg)

    def __str__(self) -> str:
        return f"{self.amount}/{self.window} seconds"


def parse_limits(text: str | None) -> tuple[Limit, ...]:
    """Parse a limit string; ``"off"``, ``""`` or ``None`` give an empty tuple.

    Raises:
        InvalidLimitError: An item does not parse, a unit is unknown, or two items
            share a window (the second would never matter or always win).
    """
    if text is None or text.strip().lower() in _OFF:
        return ()
    limits: list[Limit] = []
    for raw in re.split(r"[;,]", text):
        if not raw.strip():
            continue
        match = _ITEM.match(raw)
        unit = _unit(match.group("unit")) if match else None
        if match is None or unit is None:
            msg = (
                f"cannot parse the limit {raw.strip()!r}: expected '<amount>/<window>', "
                "e.g. '100/minute' or '5/10 seconds'"
            )
            raise InvalidLimitError(msg)
        count = int(match.group("count") or 1)
        limits.append(Limit(int(match.group("amount")), count * unit))
    windows = [limit.window for limit in limits]
    if len(set(windows)) != len(windows):
        msg = f"two limits in {text!r} share a window"
        raise InvalidLimitError(msg)
    return tuple(sorted(limits, key=lambda limit: limit.window))


def _unit(word: str) -> int | None:
    word = word.lower()
    if word in _UNITS:
        return _UNITS[word]
    # Plurals of the long forms only: "ms" must not read as minutes.
    return _UNITS.get(word[:-1]) if len(word) > 3 and word.endswith("s") else None


def format_limits(limits: tuple[Limit, ...]) -> str:
    """The canonical text of ``limits`` (``"off"`` when empty); parses back to them."""
    return ";".join(str(limit) for limit in limits) or "off"
