"""Password hashing (argon2id) and the password policy.

:class:`PasswordHasher` hashes with argon2id at the D3 parameters (m=19456 KiB, t=2, p=1)
in a bounded thread pool, so a burst of logins never blocks the event loop.
:class:`PasswordPolicy` checks a *new* password: 15..256 code points (8 when the account
uses MFA), no context words (email local part, product name), not common or breached.
There are no composition rules (NIST SP 800-63B).

Both work on the NFKC form (decision D2) given by :func:`normalize_password`, so a
password typed with precomposed "é" verifies when typed as "e" + U+0301.

Example::

    hasher = PasswordHasher()
    policy = PasswordPolicy()
    await policy.check(password, email="alice@example.com")  # PasswordPolicyError (422)
    stored = await hasher.hash(password)
    if await hasher.verify(stored, attempt) and hasher.needs_rehash(stored):
        stored = await hasher.hash(attempt)
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from svc_auth.breach import BundledListChecker
from svc_auth.errors import PasswordPolicyError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from svc_auth.breach import BreachChecker

__all__ = [
    "DEFAULT_PARAMS",
    "TEST_PARAMS",
    "Argon2Params",
    "PasswordHasher",
    "PasswordPolicy",
    "PasswordPolicyError",
    "PolicyViolation",
    "normalize_password",
]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost parameters. The defaults are decision D3 (OWASP's first row).

    Attributes:
        memory_kib: Memory cost in KiB (``m``).
        time_cost: Number of passes (``t``).
        parallelism: Lanes (``p``).
        hash_len: Length of the raw hash in bytes.
        salt_len: Length of the random salt in bytes (at least 16).
    """

    memory_kib: int = 19456
    time_cost: int = 2
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


#: Production parameters (D3): m=19456 KiB, t=2, p=1.
DEFAULT_PARAMS = Argon2Params()

#: Cheap parameters for tests only: never use them in production.
TEST_PARAMS = Argon2Params(memory_kib=64, time_cost=1, parallelism=1)


def normalize_password(password: str) -> str:
    """Return the NFKC form of ``password`` (decision D2; RFC 8265 OpaqueString).

    Nothing is stripped or truncated: every code point, NUL and other control
    characters included, takes part in the hash. Whether such characters may be *set*
    is the policy's decision (:class:`PasswordPolicy` refuses control characters and
    lone surrogates with the code ``invalid_character``); hashing and verifying treat
    any string in full, so the outcome is consistent.

    Args:
        password: The password as received.

    Returns:
        The NFKC-normalised password.
    """
    return unicodedata.normalize("NFKC", password)


def _encode(password: str) -> bytes:
    # surrogatepass: a lone surrogate never raises; it is hashed like any other code point.
    return normalize_password(password).encode("utf-8", "surrogatepass")


_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_pid = 0


def _cpu_count() -> int:
    count_fn: Callable[[], int | None] = getattr(os, "process_cpu_count", os.cpu_count)
    return max(1, count_fn() or 1)


def _hash_executor() -> ThreadPoolExecutor:
    """The process-wide pool for argon2, sized to the CPUs (hashing is CPU bound).

    A dedicated pool bounds concurrent hashes to the CPU count without starving the
    event loop's default pool (used by sync FastAPI endpoints and file I/O), and does not
    belong to any one event loop, so it is safe across loops (tests, workers).
    """
    global _executor, _executor_pid  # noqa: PLW0603 - a lazily created process-wide pool
    with _executor_lock:
        # a forked worker inherits the object but not its threads: make a new pool there
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(
                max_workers=_cpu_count(), thread_name_prefix="svc-auth-argon2"
            )
            _executor_pid = os.getpid()
        return _executor


async def _in_pool(fn: Callable[..., _T], *args: Any) -> _T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hash_executor(), fn, *args)


class PasswordHasher:
    """argon2id hashing that never blocks the event loop.

    Args:
        params: Cost parameters; the default is D3. Use :data:`TEST_PARAMS` in tests.
        max_input_length: Passwords longer than this many code points are never hashed:
            :meth:`verify` spends the cost of a dummy verification and returns
            ``False`` (no stored password can be that long; the policy caps new ones).
    """

    def __init__(
        self, params: Argon2Params = DEFAULT_PARAMS, *, max_input_length: int = 4096
    ) -> None:
        self.params = params
        self.max_input_length = max_input_length
        self._argon2 = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=params.hash_len,
            salt_len=params.salt_len,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    async def hash(self, password: str) -> str:
        """Hash ``password`` (NFKC) with a fresh random salt.

        Returns:
            The PHC string, e.g. ``$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``.
        """
        return await _in_pool(self._hash_sync, password)

    async def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` (NFKC) matches the ``stored`` PHC hash.

        Never raises on a mismatch, a malformed or foreign hash, or odd input: those
        return ``False``.
        """
        if len(password) > self.max_input_length:
            await self.dummy_verify("")
            return False
        return await _in_pool(self._verify_sync, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters (or is not argon2id at all).

        Re-hash after a successful :meth:`verify` when this is true.
        """
        if not stored.startswith("$argon2id$"):
            return True
        try:
            return self._argon2.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True

    async def dummy_verify(self, password: str) -> None:
        """Spend the cost of one verification at these parameters, for unknown users.

        Call it when the account does not exist (or cannot log in) so that the response
        time does not reveal which. The dummy hash is computed once per hasher.
        """
        await _in_pool(self._dummy_sync, password)

    async def warm_up(self) -> None:
        """Compute the dummy hash now (call at start-up), so the first unknown-user
        login costs the same as every later one."""
        await _in_pool(self._dummy_hash)

    # --- synchronous halves, run in the pool ---

    def _hash_sync(self, password: str) -> str:
        return self._argon2.hash(_encode(password))

    def _verify_sync(self, stored: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored, _encode(password))
        except (VerificationError, InvalidHashError, ValueError, TypeError):
            return False

    def _dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._argon2.hash(secrets.token_bytes(32))
            return self._dummy

    def _dummy_sync(self, password: str) -> None:
        self._verify_sync(self._dummy_hash(), password[: self.max_input_length])


# --- policy ---


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    """One reason a password was refused.

    Attributes:
        code: Machine code: ``too_short``, ``too_long``, ``compromised``,
            ``contains_context_word`` or ``invalid_character``.
        message: A sentence for people; it never quotes the password.
    """

    code: str
    message: str

    def as_error(self, field: str = "password") -> dict[str, Any]:
        """The entry for the problem's ``errors`` list (``field``: the body member)."""
        return {"loc": ["body", field], "msg": self.message, "type": f"password.{self.code}"}


_SEPARATORS = re.compile(r"[\W_]+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _has_invalid_char(password: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in password)


class PasswordPolicy:
    """The rules a new password must meet (NIST SP 800-63B-4 §3.1.1.2, ASVS 6.2).

    Length is counted in Unicode code points of the NFKC form. There are no
    composition rules. Context words (case-insensitive): the email's local part (when
    at least 3 characters; ``+tag`` ignored), the product name, and ``context_words``.
    Control characters (including NUL) and lone surrogates are refused at set time.

    Args:
        min_length: Minimum length for single-factor accounts (15).
        min_length_mfa: Minimum length when the account uses MFA (8).
        max_length: Maximum length (256).
        product_name: A context word that may not appear in the password.
        context_words: Further words that may not appear (3+ characters each count).
        checker: The common/breached password checker; the bundled offline list by
            default.
    """

    def __init__(
        self,
        *,
        min_length: int = 15,
        min_length_mfa: int = 8,
        max_length: int = 256,
        product_name: str = "svc-infra",
        context_words: Iterable[str] = (),
        checker: BreachChecker | None = None,
    ) -> None:
        if not 1 <= min_length_mfa <= min_length <= max_length:
            msg = "need 1 <= min_length_mfa <= min_length <= max_length"
            raise ValueError(msg)
        self.min_length = min_length
        self.min_length_mfa = min_length_mfa
        self.max_length = max_length
        self.product_name = product_name
        self.context_words = tuple(context_words)
        self.checker: BreachChecker = checker if checker is not None else BundledListChecker()

    def _context_words(self, email: str | None) -> list[str]:
        words = [self.product_name, *self.context_words]
        if email and "@" in email:
            local = email.rsplit("@", 1)[0]
            words.append(local)
            words.append(local.split("+", 1)[0])
        out: set[str] = set()
        for word in words:
            folded = _fold(word)
            for variant in (folded, _SEPARATORS.sub("", folded)):
                if len(variant) >= 3:
                    out.add(variant)
        return sorted(out)

    async def violations(
        self, password: str, *, email: str | None = None, mfa: bool = False
    ) -> list[PolicyViolation]:
        """Every rule ``password`` breaks (empty when it is acceptable).

        Args:
            password: The proposed password, as received.
            email: The account's email, for the context-word rule.
            mfa: Whether the account uses MFA (lower minimum length).
        """
        found: list[PolicyViolation] = []
        normalized = normalize_password(password)
        length = len(normalized)
        minimum = self.min_length_mfa if mfa else self.min_length
        if length < minimum:
            found.append(
                PolicyViolation(
                    "too_short", f"Password must be at least {minimum} characters long."
                )
            )
        if length > self.max_length:
            found.append(
                PolicyViolation(
                    "too_long", f"Password must be at most {self.max_length} characters long."
                )
            )
            return found  # never feed huge input to the checkers
        if _has_invalid_char(normalized):
            found.append(
                PolicyViolation(
                    "invalid_character",
                    "Password must not contain control characters (such as NUL).",
                )
            )
        folded = _fold(normalized)
        compact = _SEPARATORS.sub("", folded)
        for word in self._context_words(email):
            if word in folded or word in compact:
                found.append(
                    PolicyViolation(
                        "contains_context_word",
                        "Password must not contain your account name or the product name.",
                    )
                )
                break
        if await self.checker.is_compromised(normalized):
            found.append(
                PolicyViolation(
                    "compromised",
                    "Password is too common or has appeared in a data breach; choose another.",
                )
            )
        return found

    async def check(
        self,
        password: str,
        *,
        email: str | None = None,
        mfa: bool = False,
        field: str = "password",
    ) -> None:
        """Raise :class:`PasswordPolicyError` (422) naming every broken rule.

        Args:
            password: The proposed password.
            email: The account's email (context words).
            mfa: Whether the account uses MFA.
            field: The body member named in ``loc`` (``"new_password"`` for reset/change).

        Raises:
            PasswordPolicyError: ``extensions["errors"]`` lists one entry per reason with
                ``type`` ``password.<code>``.
        """
        found = await self.violations(password, email=email, mfa=mfa)
        if found:
            raise PasswordPolicyError(
                "The password does not meet the password policy.",
                extensions={"errors": [v.as_error(field) for v in found]},
            )
