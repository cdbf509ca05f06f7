"""Prometheus counters of svc-auth, on prometheus-client's default registry.

svc-obs serves the default registry at ``/metrics``; an app without svc-obs can expose
it with ``prometheus_client.make_asgi_app()``. Pass another ``registry`` to
:func:`auth_metrics` to keep them apart (tests).

* ``auth_logins_total{outcome}`` — ``success``, ``invalid_credentials``, ``locked``,
  ``unverified``;
* ``auth_lockouts_total`` — cool-downs started (account or client address);
* ``auth_refresh_reuse_total`` — spent refresh tokens presented again (family revoked).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter

__all__ = ["AuthMetrics", "auth_metrics"]


@dataclass(frozen=True, slots=True)
class AuthMetrics:
    """The counters.

    Attributes:
        logins: ``auth_logins_total`` by ``outcome``.
        lockouts: ``auth_lockouts_total``.
        refresh_reuse: ``auth_refresh_reuse_total``.
    """

    logins: Counter
    lockouts: Counter
    refresh_reuse: Counter


_BY_REGISTRY: dict[int, AuthMetrics] = {}


def auth_metrics(registry: CollectorRegistry | None = None) -> AuthMetrics:
    """The counters registered on ``registry`` (default: the global one), made once."""
    reg = registry if registry is not None else REGISTRY
    found = _BY_REGISTRY.get(id(reg))
    if found is None:
        found = AuthMetrics(
            logins=Counter(
                "auth_logins_total", "Login attempts by outcome.", ["outcome"], registry=reg
            ),
            lockouts=Counter("auth_lockouts_total", "Login cool-downs started.", registry=reg),
            refresh_reuse=Counter(
                "auth_refresh_reuse_total",
                "Spent refresh tokens presented again (session revoked).",
                registry=reg,
            ),
        )
        _BY_REGISTRY[id(reg)] = found
    return found
