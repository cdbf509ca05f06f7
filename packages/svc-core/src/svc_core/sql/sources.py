"""Migration branches and revisions as plain data.

:class:`MigrationSource` is what a package's plugin contributes; :class:`RevisionInfo`
is what a :class:`~svc_core.sql.Migrator` reports about each revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Self

from svc_core.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MigrationSource", "RevisionInfo"]


@dataclass(frozen=True, slots=True)
class MigrationSource:
    """One package's Alembic branch.

    Attributes:
        name: The branch label (the package's short name, e.g. ``auth``).
        versions_dir: Directory holding the revision files.
        models: Modules declaring the package's models. They are imported before
            ``check`` and ``revision`` so the metadata is complete, and the tables they
            declare are the ones this branch owns (autogenerate writes only those).
    """

    name: str
    versions_dir: Path
    models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            msg = f"invalid migration source name {self.name!r}: use letters, digits, - or _"
            raise ConfigurationError(msg)
        object.__setattr__(self, "versions_dir", Path(self.versions_dir))
        object.__setattr__(self, "models", tuple(self.models))

    @classmethod
    def for_package(cls, name: str, package: str, *, models: Sequence[str] = ()) -> Self:
        """The branch stored in ``<package>/migrations/versions/``.

        Args:
            name: Branch label.
            package: Import name of the package (``svc_auth``).
            models: See :attr:`models`.
        """
        versions = files(package).joinpath("migrations", "versions")
        return cls(name, Path(str(versions)), tuple(models))


@dataclass(frozen=True, slots=True)
class RevisionInfo:
    """One revision, as shown by ``svc-infra db pending`` and ``history``.

    Attributes:
        revision: The revision id.
        source: The branch (source name) it belongs to, if known.
        message: First line of its docstring.
        down_revisions: The revisions it follows (empty for a branch's first one).
        is_head: True for the latest revision of its branch.
        applied: True when the database has it.
    """

    revision: str
    source: str | None
    message: str
    down_revisions: tuple[str, ...]
    is_head: bool
    applied: bool
