"""Policies (named sets of limits with an algorithm) and the decisions taken on them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal, NamedTuple

from svc_ratelimit.algorithms import ALGORITHMS, Algorithm
from svc_ratelimit.errors import InvalidLimitError
from svc_ratelimit.headers import policy_field, sf_string
from svc_ratelimit.limits import Limit, parse_limits

__all__ = ["Decision", "KeyBy", "Policy", "QuotaState", "StoreErrorMode"]

#: What a policy does when its store is unreachable: let requests through (``open``),
#: answer 503 (``closed``), or count in this process only (``local``).
StoreErrorMode = Literal["open", "closed", "local"]
#: What a policy partitions on: the principal when authenticated else the client address
#: (``principal``), or always the client address (``client``).
KeyBy = Literal["principal", "client"]

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_WINDOW_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


@dataclass(frozen=True, slots=True)
class Policy:
    """A named quota policy: one or more limits decided together, atomically.

    Attributes:
        name: Shown in ``RateLimit-Policy`` and ``violated-policies``, and part of the
            storage key (letters, digits, ``_``, ``.``, ``-``).
        limits: The limits; a request must fit all of them.
        algorithm: ``sliding_window`` (default), ``fixed_window`` or ``gcra``.
        key_by: ``principal`` (the principal when authenticated, else the client
            address) or ``client`` (always the client address).
        on_store_error: Behaviour when the store is unreachable; ``None`` uses the
            limiter's default.
        quota: The quota name asked of the :class:`~svc_core.quotas.QuotaProvider` for
            per-tenant overrides (``None``: no per-tenant override).
        cost: Units one request consumes.
    """

    name: str
    limits: tuple[Limit, ...]
    algorithm: Algorithm = "sliding_window"
    key_by: KeyBy = "principal"
    on_store_error: StoreErrorMode | None = None
    quota: str | None = None
    cost: int = 1
    _items: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _policy_header: str = field(init=False, repr=False, compare=False)
    _args: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _quoted: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _key_id: str = field(init=False, repr=False, compare=False)
    _policy_header_raw: bytes = field(init=False, repr=False, compare=False)
    _limits_ms: tuple[tuple[float, float], ...] = field(init=False, repr=False, compare=False)
    _quoted_raw: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            msg = f"a policy name is 1-64 letters, digits, '_', '.' or '-', got {self.name!r}"
            raise InvalidLimitError(msg)
        if not self.limits:
            msg = f"policy {self.name!r} has no limits"
            raise InvalidLimitError(msg)
        if self.algorithm not in ALGORITHMS:
            msg = f"unknown algorithm {self.algorithm!r}; use one of {sorted(ALGORITHMS)}"
            raise InvalidLimitError(msg)
        if not 1 <= self.cost <= min(limit.amount for limit in self.limits):
            msg = f"policy {self.name!r}: cost must be between 1 and its smallest quota"
            raise InvalidLimitError(msg)
        if len(self.limits) == 1:
            items: tuple[str, ...] = (self.name,)
        else:
            items = tuple(
                f"{self.name}-{_WINDOW_NAMES.get(limit.window, f'{limit.window}s')}"
                for limit in self.limits
            )
        object.__setattr__(self, "_items", items)
        object.__setattr__(
            self,
            "_policy_header",
            policy_field(
                (item, limit.amount, limit.window)
                for item, limit in zip(items, self.limits, strict=True)
            ),
        )
        # Pre-encoded as the store would encode them: one less step per decision.
        args: list[bytes] = [str(self.cost).encode()]
        for limit in self.limits:
            args += [str(limit.amount).encode(), str(limit.window * 1000).encode()]
        object.__setattr__(self, "_args", tuple(args))
        object.__setattr__(
            self,
            "_limits_ms",
            tuple((float(limit.amount), float(limit.window * 1000)) for limit in self.limits),
        )
        object.__setattr__(self, "_quoted", tuple(sf_string(item) for item in items))
        object.__setattr__(self, "_quoted_raw", self._quoted[0].encode("latin-1"))
        object.__setattr__(self, "_policy_header_raw", self._policy_header.encode("latin-1"))
        windows = ",".join(str(limit.window) for limit in self.limits)
        object.__setattr__(self, "_key_id", f"{self.name}:{self.algorithm}:{windows}")

    @classmethod
    def parse(cls, name: str, text: str | None, **options: object) -> Policy | None:
        """A policy from a limit string, or ``None`` when the string is ``"off"``/empty.

        Args:
            name: The policy name.
            text: Limits such as ``"100/minute;2000/hour"``.
            **options: Other :class:`Policy` fields (``algorithm``, ``key_by`` …).

        Raises:
            InvalidLimitError: The string does not parse.
        """
        limits = parse_limits(text)
        if not limits:
            return None
        return cls(name, limits, **options)  # type: ignore[arg-type]

    def with_limits(self, limits: tuple[Limit, ...]) -> Policy:
        """The same policy with other limits (a per-tenant or per-plan override)."""
        return replace(self, limits=limits)

    @property
    def items(self) -> tuple[str, ...]:
        """The names of the quota policies in the headers, one per limit."""
        return self._items

    @property
    def policy_header(self) -> str:
        """The ``RateLimit-Policy`` field value."""
        return self._policy_header

    @property
    def script_args(self) -> tuple[bytes, ...]:
        """``cost, q1, w1_ms, …`` for the algorithm's script."""
        return self._args

    @property
    def limits_ms(self) -> tuple[tuple[float, float], ...]:
        """``(quota, window_ms)`` per limit, as the in-process store takes them."""
        return self._limits_ms

    @property
    def policy_header_raw(self) -> bytes:
        """:attr:`policy_header` as bytes, for raw ASGI headers."""
        return self._policy_header_raw

    @property
    def key_id(self) -> str:
        """What identifies the policy's storage keys: name, algorithm and windows."""
        return self._key_id

    @property
    def quoted_raw(self) -> bytes:
        """The first item as an sf-string in bytes (the one-limit header's name)."""
        return self._quoted_raw

    @property
    def quoted_items(self) -> tuple[str, ...]:
        """:attr:`items` as sf-strings, ready for the fields."""
        return self._quoted


class QuotaState(NamedTuple):
    """One limit's state after a decision.

    Attributes:
        name: The quota policy's name in the headers.
        limit: The limit.
        remaining: Units left in the window (``r``).
        reset: Whole seconds until the quota resets (``t``), rounded up.
        retry_after: Whole seconds until a retry can succeed when this limit refused
            the request (rounded up, ≥ 1), else 0.
    """

    name: str
    limit: Limit
    remaining: int
    reset: int
    retry_after: int


@dataclass(slots=True)
class Decision:
    """The outcome of one request against one policy.

    Attributes:
        allowed: Whether the request may proceed.
        policy: The policy decided (after per-tenant and per-plan overrides).
        quotas: The state of each limit; empty when the store was down and the
            policy failed open.
        degraded: The store was unreachable: the decision came from the fallback.
    """

    allowed: bool
    policy: Policy
    quotas: tuple[QuotaState, ...] = ()
    degraded: bool = False

    @classmethod
    def from_reply(cls, policy: Policy, reply: list[int], *, degraded: bool = False) -> Decision:
        """Build a decision from an algorithm script's reply (see :mod:`.algorithms`)."""
        # Milliseconds to whole seconds, rounded up: never announce an early reset.
        if len(reply) == 4:  # one limit: the common case, without the loop
            quota = QuotaState(
                policy.items[0],
                policy.limits[0],
                reply[1],
                -(-reply[2] // 1000),
                -(-reply[3] // 1000),
            )
            return cls(reply[0] == 1, policy, (quota,), degraded)
        quotas = []
        i = 1
        for name, limit in zip(policy.items, policy.limits, strict=True):
            reset, retry = -(-reply[i + 1] // 1000), -(-reply[i + 2] // 1000)
            quotas.append(QuotaState(name, limit, reply[i], reset, retry))
            i += 3
        return cls(reply[0] == 1, policy, tuple(quotas), degraded)

    @property
    def violated(self) -> list[str]:
        """Names of the quota policies that refused the request."""
        return [q.name for q in self.quotas if q.retry_after > 0]

    @property
    def retry_after(self) -> int:
        """Whole seconds before a retry can succeed (≥ 1 when refused, else 0)."""
        if self.allowed:
            return 0
        return max([q.retry_after for q in self.quotas] + [1])

    def _state(self) -> str:
        quoted = self.policy.quoted_items
        if self.allowed:
            return ", ".join(
                f"{name};r={q.remaining};t={q.reset}"
                for name, q in zip(quoted, self.quotas, strict=True)
            )
        return ", ".join(
            f"{name};r=0;t={q.retry_after}"
            for name, q in zip(quoted, self.quotas, strict=True)
            if q.retry_after > 0
        )

    def headers(self) -> list[tuple[str, str]]:
        """``RateLimit-Policy`` and ``RateLimit`` for the response (none when unknown).

        On a refusal ``RateLimit`` lists the violated quotas with ``r=0`` and ``t`` equal
        to the retry delay, so ``Retry-After`` is never earlier than any ``t``.
        """
        if not self.quotas:
            return []
        return [("RateLimit-Policy", self.policy.policy_header), ("RateLimit", self._state())]

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """:meth:`headers` as raw ASGI header pairs."""
        quotas = self.quotas
        if not quotas:
            return []
        if self.allowed and len(quotas) == 1:  # the common case, formatted directly
            quota = quotas[0]
            state = b"%s;r=%d;t=%d" % (self.policy.quoted_raw, quota.remaining, quota.reset)
            return [(b"ratelimit-policy", self.policy.policy_header_raw), (b"ratelimit", state)]
        return [
            (b"ratelimit-policy", self.policy.policy_header_raw),
            (b"ratelimit", self._state().encode("latin-1")),
        ]
