"""A two-package migration fixture: branches ``alpha`` (2 revisions) and ``beta`` (1).

``beta``'s first revision depends on ``alpha``'s first (a cross-package foreign key).
The models live on their own metadata so they never leak into ``svc_core.sql.Base``.
"""

from __future__ import annotations

from pathlib import Path

from svc_core.sql import MigrationSource

HERE = Path(__file__).parent
ALPHA_VERSIONS = HERE / "alpha" / "versions"
BETA_VERSIONS = HERE / "beta" / "versions"

A1, A2, B1 = "a1a1a1a1a1a1", "a2a2a2a2a2a2", "b1b1b1b1b1b1"


def sources(alpha: Path = ALPHA_VERSIONS, beta: Path = BETA_VERSIONS) -> list[MigrationSource]:
    """The two sources, optionally reading revisions from copies of the directories."""
    return [
        MigrationSource("alpha", alpha, models=("svc_core_migration_fixture.alpha_models",)),
        MigrationSource("beta", beta, models=("svc_core_migration_fixture.beta_models",)),
    ]
