"""JWTs (RFC 7519, RFC 8725): a key ring with rotation and strict verification.

* Algorithms come from an allowlist (EdDSA and ES256 by default, HS256 only with a
  strong secret); ``alg=none`` and every algorithm not configured are refused.
* ``kid`` selects among the configured keys only — never a URL, a file or an embedded
  JWK. Several verification keys may be configured (rotation); one of them signs.
* ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat`` are required and checked with the
  leeway (D4: 30 s) against an injectable clock.
* ``typ`` (``access``, ``verify``, ``reset``) is checked on every decode, so one kind of
  token never passes for another.

Key ring file (``SVC_AUTH__KEYS_FILE``)::

    {"signing_kid": "k2",
     "keys": [{"kid": "k2", "alg": "EdDSA", "private_key": "-----BEGIN PRIVATE KEY-----…"},
              {"kid": "k1", "alg": "EdDSA", "public_key": "-----BEGIN PUBLIC KEY-----…"}]}
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from svc_auth.errors import InvalidTokenError, WeakSecretError
from svc_core.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

__all__ = [
    "JWTCodec",
    "KeyRing",
    "SigningKey",
    "TokenType",
    "check_hs256_secret",
    "generate_key",
]

TokenType = Literal["access", "verify", "reset"]

_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ"]
_WEAK_WORDS = ("secret", "password", "changeme", "example", "default", "qwerty", "12345")


def check_hs256_secret(secret: str | bytes) -> bytes:
    """Return ``secret`` as bytes if it is strong enough for HS256, else raise.

    Strong means: at least 32 bytes (RFC 7518 §3.2), at least 10 distinct characters,
    and no common dictionary word (``secret``, ``password``, ``changeme`` …) inside.

    Raises:
        WeakSecretError: The secret is too short or guessable (a start-up error).
    """
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    lowered = raw.lower()
    if len(raw) < 32:
        msg = "the HS256 secret must be at least 32 bytes (RFC 7518 §3.2)"
        raise WeakSecretError(msg)
    if len(set(raw)) < 10 or any(w.encode() in lowered for w in _WEAK_WORDS):
        msg = "the HS256 secret is guessable; use 32+ random bytes (secrets.token_urlsafe(32))"
        raise WeakSecretError(msg)
    return raw


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of the ring.

    Attributes:
        kid: Key id (the JWT header's ``kid``).
        alg: ``EdDSA``, ``ES256`` or ``HS256``.
        signer: Private key (or secret) when this key can sign, else ``None``.
        verifier: Public key (or secret).
    """

    kid: str
    alg: str
    verifier: Any
    signer: Any = None


def generate_key(kid: str | None = None, alg: str = "EdDSA") -> dict[str, str]:
    """A new key-ring entry (``kid``, ``alg``, PEM ``private_key``) for EdDSA or ES256."""
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        msg = f"cannot generate a key for {alg!r}"
        raise ConfigurationError(msg)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {"kid": kid or secrets.token_hex(8), "alg": alg, "private_key": pem}


def _load_entry(entry: Mapping[str, Any], allowed: frozenset[str]) -> SigningKey:
    kid, alg = str(entry.get("kid") or ""), str(entry.get("alg") or "")
    if not kid or alg not in allowed:
        msg = f"key ring entry {kid or '?'} has an algorithm not in the allowlist: {alg!r}"
        raise ConfigurationError(msg)
    try:
        if alg == "HS256":
            secret = check_hs256_secret(str(entry["secret"]))
            return SigningKey(kid, alg, secret, secret)
        if "private_key" in entry:
            private = serialization.load_pem_private_key(entry["private_key"].encode(), None)
            return SigningKey(kid, alg, private.public_key(), private)
        public = serialization.load_pem_public_key(str(entry["public_key"]).encode())
    except (KeyError, ValueError, TypeError) as exc:
        msg = f"key ring entry {kid} cannot be loaded"
        raise ConfigurationError(msg) from exc
    return SigningKey(kid, alg, public)


@dataclass(slots=True)
class KeyRing:
    """Verification keys by ``kid`` and the one signing key.

    Attributes:
        keys: Every verification key, by ``kid``.
        signing_kid: The key new tokens are signed with (must hold a private key).
    """

    keys: dict[str, SigningKey] = field(default_factory=dict)
    signing_kid: str = ""

    @property
    def signing(self) -> SigningKey:
        """The signing key."""
        return self.keys[self.signing_kid]

    @classmethod
    def from_data(cls, data: Mapping[str, Any], allowed: frozenset[str]) -> KeyRing:
        """Build a ring from the key-ring JSON document (see the module docstring).

        Raises:
            ConfigurationError: A key is malformed, uses a disallowed algorithm, or the
                signing key is missing or has no private half.
        """
        ring = cls()
        for entry in data.get("keys", []):
            key = _load_entry(entry, allowed)
            ring.keys[key.kid] = key
        ring.signing_kid = str(data.get("signing_kid") or "")
        if ring.signing_kid not in ring.keys or ring.keys[ring.signing_kid].signer is None:
            msg = "the key ring names no signing key with a private half"
            raise ConfigurationError(msg)
        return ring

    @classmethod
    def from_file(cls, path: Path, allowed: frozenset[str]) -> KeyRing:
        """Load the ring from a JSON file.

        Raises:
            ConfigurationError: The file is missing, unreadable or invalid.
        """
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            msg = f"cannot read the key ring {path}"
            raise ConfigurationError(msg) from exc
        return cls.from_data(data, allowed)

    @classmethod
    def hs256(cls, secret: str | bytes, kid: str = "hs256") -> KeyRing:
        """A ring with one HS256 secret (checked with :func:`check_hs256_secret`)."""
        raw = check_hs256_secret(secret)
        return cls({kid: SigningKey(kid, "HS256", raw, raw)}, kid)


class JWTCodec:
    """Issues and verifies the service's JWTs.

    Args:
        ring: The key ring.
        issuer: ``iss`` put in and required of every token.
        audience: ``aud`` put in and required of every token.
        leeway: Seconds of clock skew tolerated on ``exp`` and ``nbf`` (D4).
        clock: Seconds since the epoch (inject a frozen one in tests).
    """

    def __init__(
        self,
        ring: KeyRing,
        *,
        issuer: str,
        audience: str,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ring = ring
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.clock = clock

    def encode(
        self,
        typ: TokenType,
        subject: str,
        ttl: int,
        *,
        claims: Mapping[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Sign a token of type ``typ`` for ``subject`` valid ``ttl`` seconds.

        Returns:
            The compact JWT and its claims.
        """
        now = int(self.clock())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(16),
            "typ": typ,
            **dict(claims or {}),
        }
        key = self.ring.signing
        token = jwt.encode(body, key.signer, algorithm=key.alg, headers={"kid": key.kid})
        return token, body

    def decode(self, token: str, typ: TokenType) -> dict[str, Any]:
        """Verify ``token`` and return its claims.

        Raises:
            InvalidTokenError: Anything is wrong: format, ``kid``, algorithm, signature,
                issuer, audience, time claims or type. The reason is not disclosed.
        """
        try:
            header = jwt.get_unverified_header(token)
            key = self.ring.keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != key.alg:
                raise InvalidTokenError
            claims: dict[str, Any] = jwt.decode(
                token,
                key.verifier,
                algorithms=[key.alg],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidTokenError from exc
        now = self.clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
            raise InvalidTokenError
        if now > exp + self.leeway or now < nbf - self.leeway:
            raise InvalidTokenError
        if claims.get("typ") != typ:
            raise InvalidTokenError
        return claims
