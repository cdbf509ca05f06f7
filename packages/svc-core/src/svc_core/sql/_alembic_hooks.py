"""Alembic hooks of :mod:`svc_core.sql.migrations`: rendering, table filters, diff text."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy import Table

from svc_core.errors import ConfigurationError
from svc_core.sql.base import AwareDateTime

__all__ = ["describe_diff", "include_filter", "render_item", "tables_in_module"]


def render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    """Render :class:`AwareDateTime` as the plain column type it stores.

    Revisions then depend on nothing but SQLAlchemy and stay valid if the Python-side
    type changes.
    """
    if type_ == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime(timezone=True)"
    return False


IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]
IncludeName = Callable[[str | None, str, dict[str, Any]], bool]


def include_filter(tables: set[str] | None) -> tuple[IncludeObject, IncludeName]:
    """Alembic ``include_object`` / ``include_name`` hooks limited to ``tables``.

    ``None`` includes everything.
    """

    def include_object(
        obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
    ) -> bool:
        if tables is None:
            return True
        if type_ == "table":
            return name in tables
        table = getattr(obj, "table", None)
        return not isinstance(table, Table) or table.name in tables

    def include_name(name: str | None, type_: str, _parent_names: dict[str, Any]) -> bool:
        if tables is None or type_ != "table":
            return True
        return name in tables

    return include_object, include_name


def tables_in_module(module_name: str) -> set[str]:
    """Names of the tables a models module declares (mapped classes and ``Table`` objects).

    Classes imported from another top-level package (a model referenced for a
    relationship) are not counted.
    """
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"cannot import models module {module_name!r}: {exc}"
        raise ConfigurationError(msg) from exc
    root = module_name.split(".", maxsplit=1)[0]
    names: set[str] = set()
    for value in vars(module).values():
        if isinstance(value, Table):
            names.add(value.name)
            continue
        if not isinstance(value, type):
            continue
        table = getattr(value, "__table__", None)
        owner = getattr(value, "__module__", "")
        if isinstance(table, Table) and (owner == root or owner.startswith(root + ".")):
            names.add(table.name)
    return names


def _name(obj: Any) -> str:
    table = getattr(obj, "table", None)
    name = getattr(obj, "name", None) or "<unnamed>"
    if isinstance(table, Table) and table.name != name:
        return f"{table.name}.{name}"
    return str(name)


def describe_diff(diff: Any) -> str:
    """One readable line for an entry of :func:`alembic.autogenerate.compare_metadata`."""
    if isinstance(diff, list):  # several modify_* changes of one column
        return "; ".join(describe_diff(item) for item in diff)
    op = str(diff[0])
    words = op.replace("_", " ")
    if op.startswith("modify_") and len(diff) == 7:
        _, _schema, table, column, _existing, old, new = diff
        return f"{words} {table}.{column}: {old!r} -> {new!r}"
    if op in {"add_column", "remove_column"} and len(diff) == 4:
        _, _schema, table, column = diff
        return f"{words} {table}.{column.name}"
    subject = next((item for item in diff[1:] if hasattr(item, "name")), None)
    return f"{words} {_name(subject)}" if subject is not None else words
