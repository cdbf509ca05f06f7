"""Errors raised by svc-auth.

Every error subclasses :class:`SvcAuthError`, itself a
:class:`svc_core.errors.SvcError`, so the handlers svc-core installs render it as
problem+json. Give each subclass a ``status_code``, a ``type_slug`` and a ``title``, and
list the slug on the documentation's problem types page.
"""

from __future__ import annotations

from svc_core.errors import SvcError

__all__ = ["SvcAuthError"]


class SvcAuthError(SvcError):
    """Root of every svc-auth error."""
