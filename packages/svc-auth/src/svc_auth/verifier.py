"""Access-token verification with a per-process cache and a local revocation check.

The first time a replica sees an access token it verifies the signature and claims and
asks the store whether the session is revoked. The result is cached for the token's
lifetime, so later requests cost a dictionary lookup plus the local revocation check
(see :mod:`svc_auth.revocation`). While the revocation channel is down the store is
asked on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from svc_auth.errors import InvalidTokenError
from svc_core.context import Principal

if TYPE_CHECKING:
    from svc_auth.service import AuthService

__all__ = ["Authenticated", "TokenVerifier"]


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A verified access token.

    Attributes:
        principal: The caller (subject = user id; claims include ``sid`` and ``jti``).
        tenant_id: The token's ``tid``.
        session_id: The token's ``sid``.
        expires_at: The token's ``exp`` (seconds since the epoch).
    """

    principal: Principal
    tenant_id: str | None
    session_id: str
    expires_at: float


class TokenVerifier:
    """Verifies bearer access tokens for the middleware and the dependencies.

    Args:
        service: The auth service (codec, revocations, settings).
    """

    def __init__(self, service: AuthService) -> None:
        self._service = service
        self._cache: dict[str, Authenticated] = {}
        self._max = service.settings.token_cache_size

    def clear(self) -> None:
        """Forget every verified token (after the revocation channel reconnects)."""
        self._cache.clear()

    async def verify(self, token: str) -> Authenticated:
        """The principal of ``token``.

        Raises:
            InvalidTokenError: Bad, expired or revoked token.
            KVUnavailableError: The store had to be asked and did not answer.
        """
        service = self._service
        revocations = service.revocations
        revocations.sync()
        hit = self._cache.get(token)
        if hit is not None:
            if service.clock() > hit.expires_at + service.settings.leeway:
                self._cache.pop(token, None)
                raise InvalidTokenError
            if revocations.is_revoked_local(hit.session_id) or (
                not revocations.healthy and await revocations.is_revoked(hit.session_id)
            ):
                raise InvalidTokenError
            return hit
        codec = service.codec
        claims = codec.decode(token, "access")
        sid = claims.get("sid")
        if not isinstance(sid, str) or not sid:
            raise InvalidTokenError
        if await revocations.is_revoked(sid):
            raise InvalidTokenError
        tid = claims.get("tid")
        roles: Any = claims.get("roles") or []
        found = Authenticated(
            principal=Principal(
                subject=str(claims["sub"]),
                roles=frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
                kind="user",
                claims=claims,
            ),
            tenant_id=str(tid) if tid else None,
            session_id=sid,
            expires_at=float(claims["exp"]),
        )
        if self._max:
            if len(self._cache) >= self._max:
                now = service.clock()
                self._cache = {
                    k: v
                    for k, v in self._cache.items()
                    if v.expires_at + service.settings.leeway >= now
                }
                if len(self._cache) >= self._max:
                    self._cache.clear()
            self._cache[token] = found
        return found
