"""Common and breached password checks (NIST SP 800-63B-4 §3.1.1.2 blocklist).

* :class:`BundledListChecker` — offline, the default: a list shipped in the package
  (``svc_auth/data/common-passwords.txt``: zxcvbn's 30,000 most common passwords of 8+
  characters plus keyboard walks and digit patterns), and pattern rules for repeated
  units ("abcabcabcabcabc"), straight sequences ("123456789012345") and a top password
  wrapped in digits or symbols ("password1234", "2024password!").
* :class:`HIBPRangeChecker` — Have I Been Pwned's k-anonymity range API: only the first
  5 hex digits of the SHA-1 leave the process (``Add-Padding: true``); on a network
  failure it falls back to another checker (the bundled list by default) and logs a
  warning that never includes the password or its hash.
* :class:`CompositeChecker` — compromised when any of its checkers says so.

Every checker works on the NFKC form (decision D2); the bundled list is case-insensitive.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import threading
import unicodedata
from importlib import resources
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import httpx

from svc_auth.errors import BreachCheckUnavailableError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "BreachChecker",
    "BundledListChecker",
    "CompositeChecker",
    "HIBPRangeChecker",
]

logger = logging.getLogger("svc_auth.breach")

_LIST_RESOURCE = "common-passwords.txt"
#: Number of entries at the top of the zxcvbn list treated as "base words" for affixes.
_AFFIX_BASES = frozenset(
    {
        "password", "passw0rd", "p@ssword", "p@ssw0rd", "qwerty", "letmein", "welcome",
        "admin", "administrator", "iloveyou", "changeme", "secret", "monkey", "dragon",
        "football", "baseball", "sunshine", "princess", "master", "login", "passphrase",
        "default", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdef", "abcdefgh", "trustno1",
        "superman", "batman", "starwars", "whatever", "freedom", "shadow", "michael",
        "computer", "internet", "summer", "winter", "spring", "autumn", "hello", "test",
        "guest", "root", "user", "qazwsx", "1qaz2wsx",
    }
)  # fmt: skip
_AFFIX = re.compile(r"^([\d\W_]*)(.*?)([\d\W_]*)$", re.DOTALL)
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "3": "e", "1": "i", "!": "i", "$": "s",
                       "5": "s", "7": "t"})  # fmt: skip


def _fold(password: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", password).casefold())


@runtime_checkable
class BreachChecker(Protocol):
    """Says whether a password is common or known to be breached."""

    async def is_compromised(self, password: str) -> bool:
        """Whether ``password`` must be refused as common or breached."""
        ...


def _is_repetition(text: str) -> bool:
    n = len(text)
    return any(n % unit == 0 and text[:unit] * (n // unit) == text for unit in range(1, n // 2 + 1))


def _is_sequence(text: str) -> bool:
    """A straight run such as "123456789012345", "abcdefghijkl" or "987654321"."""
    if len(text) < 4:
        return False
    steps = set()
    for a, b in itertools.pairwise(text):
        if a.isdigit() and b.isdigit():
            steps.add({1: 1, 9: -1}.get((int(b) - int(a)) % 10, 0))  # 9 -> 0 wraps
        elif a.isascii() and b.isascii() and a.isalpha() and b.isalpha():
            steps.add(ord(b) - ord(a))
        else:
            return False
    return steps in ({1}, {-1})


def _is_trivial_affix(affix: str) -> bool:
    if not affix:
        return True
    core = re.sub(r"[\W_]", "", affix)
    if len(affix) <= 4 or not core:
        return True
    if _is_repetition(core) or _is_sequence(core):
        return True
    return len(core) == 4 and 1900 <= int(core) <= 2099 if core.isdigit() else False


class BundledListChecker:
    """The offline common-password check shipped with svc-auth (the default).

    The list loads lazily, once per process, into a set; lookups are case-insensitive
    on the NFKC form. The pattern rules catch what a list cannot enumerate.

    Args:
        extra: Further words to refuse (e.g. the product's own name variants).
    """

    _lock = threading.Lock()
    _words: frozenset[str] | None = None

    def __init__(self, extra: tuple[str, ...] | list[str] = ()) -> None:
        self.extra = frozenset(_fold(w) for w in extra)

    @classmethod
    def words(cls) -> frozenset[str]:
        """The bundled list (loaded on first use)."""
        if cls._words is None:
            with cls._lock:
                if cls._words is None:
                    resource = resources.files("svc_auth") / "data" / _LIST_RESOURCE
                    text = resource.read_text(encoding="utf-8")
                    cls._words = frozenset(
                        line for line in text.splitlines() if line and not line.startswith("#")
                    )
        return cls._words

    def _listed(self, folded: str) -> bool:
        return folded in self.words() or folded in self.extra

    def check(self, password: str) -> bool:
        """Synchronous form of :meth:`is_compromised` (cheap: set lookups)."""
        folded = _fold(password)
        compact = re.sub(r"\s+", "", folded)
        if not compact or any(self._listed(c) for c in {folded, compact, folded.translate(_LEET)}):
            return True
        if _is_repetition(compact) or _is_sequence(compact):
            return True
        return self._wrapped(compact)

    def _wrapped(self, compact: str) -> bool:
        """A top password with a trivial prefix or suffix ("password1234", "2024qwerty!")."""
        match = _AFFIX.match(compact)
        if match is None:  # pragma: no cover - the pattern matches every string
            return False
        prefix, base, suffix = match.groups()
        if not (_is_trivial_affix(prefix) and _is_trivial_affix(suffix)):
            return False
        for word in {base, base.translate(_LEET)}:
            half = word[: len(word) // 2]
            if word in _AFFIX_BASES or (_is_repetition(word) and half in _AFFIX_BASES):
                return True
            if len(word) >= 8 and self._listed(word):
                return True
        return False

    async def is_compromised(self, password: str) -> bool:
        """Whether ``password`` is on the bundled list or matches a trivial pattern."""
        return self.check(password)


class HIBPRangeChecker:
    """Have I Been Pwned Pwned Passwords, k-anonymity range API.

    Only the first five hex digits of the password's SHA-1 (of its NFKC UTF-8 form) are
    sent, to ``{base_url}/range/{prefix}`` with ``Add-Padding: true``; the suffixes in
    the answer are compared locally and zero-count padding rows are ignored.

    Args:
        base_url: The API root.
        timeout: Seconds for the whole request.
        client: An ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`); by
            default one is created on first use and closed by :meth:`aclose`.
        fallback: Checker consulted when the API fails (network error, timeout,
            non-2xx); the bundled list by default. A warning is logged (exception type
            only: never the password or its hash).
        fail_closed: Raise :class:`~svc_auth.errors.BreachCheckUnavailableError` (503)
            on failure instead of using the fallback.
        min_count: A password counts as breached when seen at least this many times.
    """

    def __init__(
        self,
        base_url: str = "https://api.pwnedpasswords.com",
        *,
        timeout: float = 2.0,
        client: httpx.AsyncClient | None = None,
        fallback: BreachChecker | None = None,
        fail_closed: bool = False,
        min_count: int = 1,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.min_count = min_count
        self._client = client
        self._owns_client = client is None
        self.fallback: BreachChecker | None = (
            None if fail_closed else (fallback if fallback is not None else BundledListChecker())
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, headers={"User-Agent": "svc-auth"}
            )
        return self._client

    async def is_compromised(self, password: str) -> bool:
        """Whether the range API lists ``password``; see the class for failure handling."""
        digest = (
            hashlib.sha1(  # the HIBP protocol is SHA-1 based; not a password store
                unicodedata.normalize("NFKC", password).encode("utf-8", "surrogatepass"),
                usedforsecurity=False,
            )
            .hexdigest()
            .upper()
        )
        prefix, suffix = digest[:5], digest[5:]
        try:
            response = await self._http().get(
                f"{self.base_url}/range/{prefix}",
                headers={"Add-Padding": "true", "User-Agent": "svc-auth"},
                timeout=self.timeout,
            )
            response.raise_for_status()
            body = response.text
        except httpx.HTTPError as exc:
            return await self._failed(exc, password)
        for line in body.splitlines():
            candidate, _, count = line.strip().partition(":")
            if candidate.upper() == suffix:
                try:
                    return int(count) >= self.min_count
                except ValueError:
                    return False
        return False

    async def _failed(self, exc: httpx.HTTPError, password: str) -> bool:
        if self.fallback is None:
            logger.warning("breached-password API failed (%s); refusing", type(exc).__name__)
            msg = "The breached-password check is unavailable; try again later."
            raise BreachCheckUnavailableError(msg) from exc
        logger.warning(
            "breached-password API failed (%s); using the fallback checker", type(exc).__name__
        )
        return await self.fallback.is_compromised(password)

    async def aclose(self) -> None:
        """Close the HTTP client this checker created (a passed-in one is left open)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> HIBPRangeChecker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class CompositeChecker:
    """Compromised when any checker says so; asked in order, stopping at the first yes.

    Put cheap checkers first (the bundled list before the remote API).
    """

    def __init__(self, *checkers: BreachChecker) -> None:
        if not checkers:
            msg = "CompositeChecker needs at least one checker"
            raise ValueError(msg)
        self.checkers = checkers

    async def is_compromised(self, password: str) -> bool:
        """Whether any checker finds ``password`` compromised."""
        for checker in self.checkers:
            if await checker.is_compromised(password):
                return True
        return False

    async def aclose(self) -> None:
        """Close every checker that has an ``aclose()``."""
        for checker in self.checkers:
            close = getattr(checker, "aclose", None)
            if close is not None:
                await close()
