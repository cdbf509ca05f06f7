"""svc-core: the minimal shared core of svc-infra."""

from importlib.metadata import version as _version

__version__ = _version("svc-core")
__all__ = ["__version__"]
