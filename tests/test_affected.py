"""scripts/affected.py: which packages CI tests for a change, on a small fake workspace."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


affected = _load("_svc_scripts_affected", ROOT / "scripts" / "affected.py")

# svc-core <- svc-jobs <- svc-webhooks (through an extra); svc-obs <- svc-core only;
# svc-infra depends on everything.
PACKAGES = {
    "svc-core": ([], {"redis": ["redis>=5"]}),
    "svc-jobs": (["svc-core>=0.1,<1"], {}),
    "svc-obs": (["svc-core[sql]>=0.1,<1", "prometheus-client>=0.20"], {}),
    "svc-webhooks": (["svc-core>=0.1,<1"], {"jobs": ["svc-jobs>=0.1,<1"]}),
    "svc-infra": (
        ["svc-core>=0.1,<1"],
        {"all": ["svc-jobs>=0.1,<1", "svc-obs>=0.1,<1", "svc-webhooks>=0.1,<1"]},
    ),
}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.uv.workspace]\nmembers = ["packages/*"]\nexclude = ["packages/old"]\n',
        encoding="utf-8",
    )
    for name, (deps, extras) in PACKAGES.items():
        folder = tmp_path / "packages" / name
        folder.mkdir(parents=True)
        lines = [
            "[project]",
            f'name = "{name}"',
            'version = "0.1.0"',
            f"dependencies = {_toml_list(deps)}",
            "[project.optional-dependencies]",
            *(f"{extra} = {_toml_list(reqs)}" for extra, reqs in extras.items()),
        ]
        (folder / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    old = tmp_path / "packages" / "old"
    old.mkdir()
    (old / "pyproject.toml").write_text('[project]\nname = "old"\n', encoding="utf-8")
    return tmp_path


def select(repo: Path, *files: str) -> tuple[list[str], bool]:
    selection = affected.select(list(files), affected.load_members(repo), everything=False)
    return selection.packages, selection.integration


def test_members_are_read_from_the_workspace(repo: Path) -> None:
    members = affected.load_members(repo)

    assert sorted(members) == sorted(PACKAGES)
    assert members["svc-webhooks"].requires == {"svc-core", "svc-jobs"}
    assert members["svc-obs"].requires == {"svc-core", "prometheus-client"}


def test_a_core_change_affects_everything_in_dependency_order(repo: Path) -> None:
    packages, integration = select(repo, "packages/svc-core/src/svc_core/errors.py")

    assert packages == ["svc-core", "svc-jobs", "svc-obs", "svc-webhooks", "svc-infra"]
    assert integration


def test_dependents_through_extras_are_affected(repo: Path) -> None:
    packages, _ = select(repo, "packages/svc-jobs/src/svc_jobs/worker.py")

    assert packages == ["svc-jobs", "svc-webhooks", "svc-infra"]


def test_a_leaf_change_affects_only_itself_and_the_meta_package(repo: Path) -> None:
    assert select(repo, "packages/svc-obs/README.md")[0] == ["svc-obs", "svc-infra"]
    assert select(repo, "packages/svc-infra/tests/test_app.py")[0] == ["svc-infra"]


@pytest.mark.parametrize(
    "changed", ["pyproject.toml", "uv.lock", ".github/workflows/ci.yml", "scripts/affected.py"]
)
def test_shared_files_affect_every_package(repo: Path, changed: str) -> None:
    selection = affected.select([changed], affected.load_members(repo), everything=False)

    assert sorted(selection.packages) == sorted(PACKAGES)
    assert selection.all
    assert selection.integration


def test_documentation_changes_test_no_package(repo: Path) -> None:
    assert select(repo, "docs/index.md", "mkdocs.yml", "README.md") == ([], False)


def test_integration_suites_run_without_any_package(repo: Path) -> None:
    assert select(repo, "acceptance/test_a2.py") == ([], True)
    assert select(repo, "integration-tests/test_x.py") == ([], True)


def test_a_similar_folder_name_is_not_a_match(repo: Path) -> None:
    assert select(repo, "packages/svc-core-extras/x.py") == ([], False)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def run(repo: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "affected.py"), "--root", str(repo), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env=env,
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_git_diff_against_a_base(repo: Path, tmp_path: Path) -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    (repo / "packages" / "svc-jobs" / "CHANGELOG.md").write_text("x\n", encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "change")
    output = tmp_path / "github_output"

    result = run(
        repo,
        "--base",
        "HEAD~1",
        "--github-output",
        env={**os.environ, "GITHUB_OUTPUT": str(output)},
    )

    assert result["packages"] == ["svc-jobs", "svc-webhooks", "svc-infra"]
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines == [
        'packages=["svc-jobs", "svc-webhooks", "svc-infra"]',
        "any=true",
        "integration=true",
    ]


@pytest.mark.parametrize("base", ["0000000000000000000000000000000000000000", "no-such-ref"])
def test_an_unusable_base_selects_everything(repo: Path, base: str) -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")

    result = run(repo, "--base", base)

    assert result["all"] is True
    assert sorted(result["packages"]) == sorted(PACKAGES)


def test_explicit_files_and_all(repo: Path) -> None:
    assert run(repo, "docs/x.md") == {"packages": [], "integration": False, "all": False}
    assert run(repo, "--all")["all"] is True
