"""The package imports cleanly and its plugin is discovered through the entry point."""

from __future__ import annotations

import svc_auth
from svc_auth import AuthPlugin, SvcAuthError
from svc_core.errors import SvcError
from svc_core.plugin import discover_plugins


def test_every_public_name_exists() -> None:
    missing = [name for name in svc_auth.__all__ if not hasattr(svc_auth, name)]
    assert missing == []
    assert svc_auth.__version__


def test_errors_are_svc_errors() -> None:
    assert issubclass(SvcAuthError, SvcError)


def test_plugin_is_discovered() -> None:
    plugins = discover_plugins(include=["auth"])
    assert [type(plugin) for plugin in plugins] == [AuthPlugin]
