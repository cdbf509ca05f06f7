"""The package imports cleanly and its plugin is discovered through the entry point."""

from __future__ import annotations

import svc_jobs
from svc_core.errors import SvcError
from svc_core.plugin import discover_plugins
from svc_jobs import JobsPlugin, SvcJobsError


def test_every_public_name_exists() -> None:
    missing = [name for name in svc_jobs.__all__ if not hasattr(svc_jobs, name)]
    assert missing == []
    assert svc_jobs.__version__


def test_errors_are_svc_errors() -> None:
    assert issubclass(SvcJobsError, SvcError)


def test_plugin_is_discovered() -> None:
    plugins = discover_plugins(include=["jobs"])
    assert [type(plugin) for plugin in plugins] == [JobsPlugin]
