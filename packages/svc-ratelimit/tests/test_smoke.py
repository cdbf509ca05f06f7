"""The package imports cleanly and its plugin is discovered through the entry point."""

from __future__ import annotations

import svc_ratelimit
from svc_core.errors import SvcError
from svc_core.plugin import discover_plugins
from svc_ratelimit import RatelimitPlugin, SvcRatelimitError


def test_every_public_name_exists() -> None:
    missing = [name for name in svc_ratelimit.__all__ if not hasattr(svc_ratelimit, name)]
    assert missing == []
    assert svc_ratelimit.__version__


def test_errors_are_svc_errors() -> None:
    assert issubclass(SvcRatelimitError, SvcError)


def test_plugin_is_discovered() -> None:
    plugins = discover_plugins(include=["ratelimit"])
    assert [type(plugin) for plugin in plugins] == [RatelimitPlugin]
