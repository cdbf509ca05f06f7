"""scripts/new_package.py, run against a temporary copy of the repository skeleton.

The real repository is never modified: each test copies the files the script reads and
edits (root and svc-infra pyprojects, svc-core's pyproject, mkdocs.yml, docs/index.md and
scripts/) into ``tmp_path`` and runs the copied script there.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

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


new_package = _load("_svc_scripts_new_package", ROOT / "scripts" / "new_package.py")
workspace = _load("_svc_tests_workspace", ROOT / "tests" / "test_workspace.py")

SKELETON = [
    "pyproject.toml",
    "mkdocs.yml",
    "docs/index.md",
    "packages/svc-core/pyproject.toml",
    "packages/svc-infra/pyproject.toml",
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository skeleton the script works on."""
    for rel in SKELETON:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, target)
    shutil.copytree(
        ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__")
    )
    # Existing packages as ruff's first-party detection sees them (src = packages/*/src).
    for name in ("svc_core", "svc_infra"):
        (tmp_path / "packages" / name.replace("_", "-") / "src" / name).mkdir(parents=True)
    return tmp_path


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "new_package.py"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and ".ruff_cache" not in p.parts
    }


def toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_creates_a_package_that_passes_the_meta_test(repo: Path) -> None:
    result = run(repo, "webhooks", "Accounts, passwords, tokens and sessions")

    assert result.returncode == 0, result.stderr
    folder = repo / "packages" / "svc-webhooks"
    for rel in [
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "src/svc_webhooks/__init__.py",
        "src/svc_webhooks/py.typed",
        "src/svc_webhooks/errors.py",
        "src/svc_webhooks/plugin.py",
        "tests/test_smoke.py",
    ]:
        assert (folder / rel).is_file(), rel
    assert workspace.package_problems(repo, folder) == []


def test_package_pyproject(repo: Path) -> None:
    assert run(repo, "webhooks", 'Accounts with "quotes" and ünïcode').returncode == 0

    project = toml(repo / "packages" / "svc-webhooks" / "pyproject.toml")["project"]
    core = toml(repo / "packages" / "svc-core" / "pyproject.toml")["project"]
    assert isinstance(project, dict)
    assert isinstance(core, dict)
    assert project["name"] == "svc-webhooks"
    assert project["version"] == "0.1.0"
    assert project["description"] == 'Accounts with "quotes" and ünïcode'
    assert project["requires-python"] == core["requires-python"]
    assert project["dependencies"] == ["svc-core>=0.1,<1"]
    assert project["entry-points"] == {
        "svc_infra.plugins": {"webhooks": "svc_webhooks.plugin:WebhooksPlugin"}
    }


def test_wires_the_package_into_the_workspace(repo: Path) -> None:
    result = run(repo, "webhooks", "Accounts")
    assert result.returncode == 0, result.stderr

    tool = toml(repo / "pyproject.toml")["tool"]
    assert isinstance(tool, dict)
    assert tool["uv"]["sources"]["svc-webhooks"] == {"workspace": True}
    assert "svc_webhooks" in tool["importlinter"]["root_packages"]
    assert "packages/svc-webhooks/src" in tool["mypy"]["mypy_path"]

    extras = toml(repo / "packages" / "svc-infra" / "pyproject.toml")["project"]
    assert isinstance(extras, dict)
    optional = extras["optional-dependencies"]
    assert optional["webhooks"] == ["svc-webhooks>=0.1,<1"]
    assert "svc-webhooks>=0.1,<1" in optional["all"]
    assert list(optional)[-1] == "all", "the `all` extra stays last"

    nav = yaml.safe_load((repo / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    packages = next(item["Packages"] for item in nav if "Packages" in item)
    labels = [next(iter(entry)) for entry in packages]
    assert labels[0] == "svc-core"
    assert labels[-1] == "svc-infra"
    assert {"svc-webhooks": "packages/svc-webhooks.md"} in packages
    assert (repo / "docs" / "packages" / "svc-webhooks.md").is_file()

    index = (repo / "docs" / "index.md").read_text(encoding="utf-8")
    assert "| [svc-webhooks](packages/svc-webhooks.md) |" in index
    row = next(line for line in index.splitlines() if "svc-webhooks" in line)
    assert row.rstrip().endswith("| available |")

    assert "edit    pyproject.toml" in result.stdout
    assert "uv sync" in result.stdout


def test_reports_the_layer_to_choose_for_an_unknown_module(repo: Path) -> None:
    result = run(repo, "cache", "Caching")

    assert result.returncode == 0, result.stderr
    assert "add svc_cache to a layer of the import-linter 'layers' contract" in result.stdout
    problems = workspace.package_problems(repo, repo / "packages" / "svc-cache")
    assert problems == [
        (
            "pyproject.toml: place svc_cache in a layer of the import-linter 'layers' "
            "contract (see ARCHITECTURE.md)"
        )
    ]


def test_generated_code_is_lint_clean(repo: Path) -> None:
    assert run(repo, "webhooks", "Signed webhooks").returncode == 0

    folder = repo / "packages" / "svc-webhooks"
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *args, str(folder)],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.slow
def test_generated_code_type_checks(repo: Path) -> None:
    assert run(repo, "webhooks", "Signed webhooks").returncode == 0

    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(repo / "pyproject.toml"),
            "--cache-dir",
            str(repo / ".mypy_cache"),
            "packages/svc-webhooks/src",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=280,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_refuses_an_existing_package_and_changes_nothing(repo: Path) -> None:
    assert run(repo, "webhooks", "Accounts").returncode == 0
    before = snapshot(repo)

    again = run(repo, "webhooks", "Accounts")

    assert again.returncode == 1
    assert "packages/svc-webhooks exists already" in again.stderr
    assert snapshot(repo) == before


def test_dry_run_writes_nothing(repo: Path) -> None:
    before = snapshot(repo)

    result = run(repo, "webhooks", "Accounts", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "would create  packages/svc-webhooks/pyproject.toml" in result.stdout
    assert "would edit    pyproject.toml" in result.stdout
    assert snapshot(repo) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Auth", "invalid name"),
        ("svc-webhooks", "invalid name"),
        ("a", "invalid name"),
        ("core", "packages/svc-core exists already"),
        ("redis", "svc-infra already has an extra named 'redis'"),
        ("all", "svc-infra already has an extra named 'all'"),
    ],
)
def test_rejects_bad_names(repo: Path, name: str, message: str) -> None:
    before = snapshot(repo)

    result = run(repo, name, "Something")

    assert result.returncode == 1
    assert message in result.stderr
    assert snapshot(repo) == before


# ------------------------------------------------------------------ text-edit helpers


def test_add_to_array_keeps_comments_and_bracketed_strings() -> None:
    text = (
        "[project.optional-dependencies]\n"
        "all = [\n"
        '    "svc-core[sql,redis]>=0.1,<1",  # the core, with [brackets] in a comment\n'
        '    "svc-webhooks>=0.1,<1"\n'
        "]\n"
        "\n"
        "[tool.x]\n"
        "all = []\n"
    )

    edited = new_package.add_to_array(
        text, "[project.optional-dependencies]", "all", "svc-jobs>=0.1,<1"
    )

    parsed = tomllib.loads(edited)
    assert parsed["project"]["optional-dependencies"]["all"] == [
        "svc-core[sql,redis]>=0.1,<1",
        "svc-webhooks>=0.1,<1",
        "svc-jobs>=0.1,<1",
    ]
    assert parsed["tool"]["x"]["all"] == []
    assert "# the core, with [brackets] in a comment" in edited


def test_add_to_array_wraps_a_long_one_line_array() -> None:
    items = [f"svc_package_number_{i}" for i in range(5)]
    text = '[tool.importlinter]\nroot_packages = ["' + '", "'.join(items) + '"]\n'

    edited = new_package.add_to_array(text, "[tool.importlinter]", "root_packages", "svc_a")

    assert all(len(line) <= 100 for line in edited.splitlines())
    assert tomllib.loads(edited)["tool"]["importlinter"]["root_packages"] == sorted(
        [*items, "svc_a"]
    )


def test_add_key_goes_after_the_last_entry_not_after_trailing_comments() -> None:
    text = (
        "[tool.uv.sources]\n"
        "svc-core = { workspace = true }\n"
        "\n"
        "# ------------------------------ pytest\n"
        "[tool.pytest.ini_options]\n"
    )

    edited = new_package.add_key(text, "[tool.uv.sources]", "svc-webhooks", "{ workspace = true }")

    assert edited.splitlines()[:3] == [
        "[tool.uv.sources]",
        "svc-core = { workspace = true }",
        "svc-webhooks = { workspace = true }",
    ]
    assert new_package.add_key(edited, "[tool.uv.sources]", "svc-webhooks", "x") == edited


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.1.0", "svc-core>=0.1,<1"), ("0.4.2", "svc-core>=0.4,<1"), ("1.2.3", "svc-core>=1.2,<2")],
)
def test_core_requirement_is_a_range(version: str, expected: str) -> None:
    assert new_package.core_requirement(version) == expected
