"""The package imports cleanly and its plugin is discovered through the entry point."""

from __future__ import annotations

import svc_idempotency
from svc_core.errors import SvcError
from svc_core.plugin import discover_plugins
from svc_idempotency import IdempotencyPlugin, SvcIdempotencyError


def test_every_public_name_exists() -> None:
    missing = [name for name in svc_idempotency.__all__ if not hasattr(svc_idempotency, name)]
    assert missing == []
    assert svc_idempotency.__version__


def test_errors_are_svc_errors() -> None:
    assert issubclass(SvcIdempotencyError, SvcError)


def test_plugin_is_discovered() -> None:
    plugins = discover_plugins(include=["idempotency"])
    assert [type(plugin) for plugin in plugins] == [IdempotencyPlugin]
