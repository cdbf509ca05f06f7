"""Meta-test: every package under ``packages/`` has the skeleton CONVENTIONS.md asks for.

Nothing here imports the packages: pyprojects are read with ``tomllib`` and sources
parsed with ``ast``, so the test runs even while a package does not import. Each failure
message names the file to change and what to put in it.

:func:`package_problems` is also used by ``test_new_package.py`` to check that the
package template passes these same rules.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
META_PACKAGE = "svc-infra"
CORE_PACKAGE = "svc-core"


def _load_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def package_dirs(root: Path) -> list[Path]:
    """The package folders of the workspace (``packages/*`` holding a pyproject).

    Args:
        root: The repository root.

    Returns:
        The folders, sorted by name.
    """
    return sorted(p.parent for p in (root / "packages").glob("*/pyproject.toml"))


def _nav_paths(node: Any) -> set[str]:
    """Every page path in an mkdocs ``nav`` tree."""
    if isinstance(node, str):
        return {node}
    if isinstance(node, list):
        return set().union(*(_nav_paths(child) for child in node)) if node else set()
    if isinstance(node, dict):
        return set().union(*(_nav_paths(child) for child in node.values())) if node else set()
    return set()


def _mkdocs_nav(root: Path) -> set[str] | None:
    path = root / "mkdocs.yml"
    if not path.is_file():
        return None
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _nav_paths(config.get("nav", []))


def _init_problems(init: Path, rel: str) -> list[str]:
    """Check the public surface of ``__init__.py`` without importing it."""
    tree = ast.parse(init.read_text(encoding="utf-8"), filename=str(init))
    problems: list[str] = []
    if not ast.get_docstring(tree):
        problems.append(
            f"{rel}: add a module docstring: a short usage guide (what to import, a tiny example)"
        )
    assigned = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assigned.update(
        {
            node.target.id: node.value
            for node in tree.body
            if isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        }
    )
    exported = assigned.get("__all__")
    if not isinstance(exported, ast.List | ast.Tuple) or not all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in exported.elts
    ):
        problems.append(f"{rel}: define __all__ as a literal list of the public names")
    if "__version__" not in assigned or "importlib.metadata" not in ast.unparse(tree):
        problems.append(
            f'{rel}: set __version__ = importlib.metadata.version("<distribution>") '
            "(never a hard-coded string)"
        )
    return problems


def _sibling_problems(project: dict[str, Any], members: set[str], rel_pyproject: str) -> list[str]:
    """Sibling requirements must be ranges with both bounds, never pins."""
    problems: list[str] = []
    own = canonicalize_name(project["name"])
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            problems.append(f"{rel_pyproject}: {text!r} is not a valid requirement")
            continue
        name = canonicalize_name(requirement.name)
        if name == own or name not in members:
            continue
        operators = {spec.operator for spec in requirement.specifier}
        if operators & {"==", "==="}:
            problems.append(
                f"{rel_pyproject}: {text!r} pins a sibling; use a range such as "
                f'"{requirement.name}>=0.1,<1"'
            )
        elif not (operators & {">=", ">", "~="}) or not (operators & {"<", "~="}):
            problems.append(
                f"{rel_pyproject}: {text!r} needs a lower and an upper bound, e.g. "
                f'"{requirement.name}>=0.1,<1"'
            )
    return problems


def _is_alembic(directory: Path, src: Path) -> bool:
    """True inside an Alembic script directory (loaded as scripts, never imported)."""
    for parent in (directory, *directory.parents):
        if parent == src.parent:
            return False
        if (parent / "script.py.mako").is_file() or parent.name in {"migrations", "versions"}:
            return True
    return False


def _source_problems(folder: Path, module: str) -> list[str]:
    """``py.typed``, ``__init__``, no namespace packages, no ``utils.py`` in public."""
    rel = f"packages/{folder.name}"
    src = folder / "src" / module
    if not src.is_dir():
        return [f"{rel}: put the code in src/{module}/ (one distribution, one import name)"]
    problems: list[str] = []
    if not (src / "py.typed").is_file():
        problems.append(f"{rel}: add an empty src/{module}/py.typed (PEP 561 marker)")
    init = src / "__init__.py"
    if init.is_file():
        problems.extend(_init_problems(init, f"{rel}/src/{module}/__init__.py"))
    else:
        problems.append(f"{rel}: add src/{module}/__init__.py")
    problems.extend(
        f"{rel}/{directory.relative_to(folder).as_posix()}: add __init__.py (no namespace packages)"
        for directory in sorted({p.parent for p in src.rglob("*.py")})
        if "__pycache__" not in directory.parts
        and not _is_alembic(directory, src)
        and not (directory / "__init__.py").is_file()
    )
    problems.extend(
        f"{rel}/{utils.relative_to(folder).as_posix()}: rename it after what it holds, "
        "or move it under _internal/"
        for utils in sorted(src.rglob("utils.py"))
        if "_internal" not in utils.relative_to(src).parts
    )
    return problems


def _document_problems(folder: Path, dist: str, version: object) -> list[str]:
    """README (install line, example), CHANGELOG (a section for the version), tests."""
    rel = f"packages/{folder.name}"
    problems: list[str] = []
    readme = folder / "README.md"
    if not readme.is_file():
        problems.append(f"{rel}: add README.md (what it does, `pip install {dist}`, an example)")
    else:
        text = readme.read_text(encoding="utf-8")
        if not re.search(rf"pip install [\"']?{re.escape(dist)}(?![\w-])", text):
            problems.append(f"{rel}/README.md: add the install line `pip install {dist}`")
        if "```python" not in text:
            problems.append(f"{rel}/README.md: add a short ```python example")
    changelog = folder / "CHANGELOG.md"
    if not changelog.is_file():
        problems.append(f"{rel}: add CHANGELOG.md with a '## {version}' section")
    elif isinstance(version, str):
        heading = re.compile(rf"^## \[?v?{re.escape(version)}\]?(?![\w.])", re.MULTILINE)
        if not heading.search(changelog.read_text(encoding="utf-8")):
            problems.append(f"{rel}/CHANGELOG.md: add a '## {version}' section")
    if not any((folder / "tests").rglob("test_*.py")):
        problems.append(f"{rel}: add tests under tests/ (at least one test_*.py)")
    return problems


def package_problems(root: Path, folder: Path) -> list[str]:
    """Everything wrong with one package's skeleton, each as a fix-it message.

    Args:
        root: The repository root.
        folder: The package folder, ``packages/svc-<name>``.

    Returns:
        One message per problem; empty when the package is in order.
    """
    rel = f"packages/{folder.name}"
    pyproject = _load_toml(folder / "pyproject.toml")
    project = pyproject.get("project", {})
    dist = str(project.get("name", ""))
    if canonicalize_name(dist) != folder.name or not folder.name.startswith("svc-"):
        return [f"{rel}/pyproject.toml: [project] name must be {folder.name!r} (the folder name)"]
    module = folder.name.replace("-", "_")
    problems: list[str] = []

    build = pyproject.get("build-system", {})
    if build.get("build-backend") != "hatchling.build" or not any(
        str(r).startswith("hatchling") for r in build.get("requires", [])
    ):
        problems.append(
            f'{rel}/pyproject.toml: add [build-system] requires = ["hatchling>=1.25"], '
            'build-backend = "hatchling.build" (without it uv does not install the member)'
        )
    if "version" in project.get("dynamic", []) or not isinstance(project.get("version"), str):
        problems.append(
            f'{rel}/pyproject.toml: set a static version = "X.Y.Z" in [project] '
            "(no dynamic version; bump with `uv version --package ...`)"
        )
    core = _load_toml(root / "packages" / CORE_PACKAGE / "pyproject.toml")["project"]
    if project.get("requires-python") != core.get("requires-python"):
        problems.append(
            f"{rel}/pyproject.toml: set requires-python = {core.get('requires-python')!r} "
            "(the same as svc-core)"
        )
    for name, target in project.get("entry-points", {}).get("svc_infra.plugins", {}).items():
        if str(target).split(":")[0].split(".")[0] != module:
            problems.append(
                f"{rel}/pyproject.toml: plugin entry point {name!r} must point into {module}"
            )

    problems.extend(_source_problems(folder, module))
    problems.extend(_document_problems(folder, dist, project.get("version")))

    members: set[str] = {canonicalize_name(p.name) for p in package_dirs(root)}
    problems.extend(_sibling_problems(project, members, f"{rel}/pyproject.toml"))
    problems.extend(_root_config_problems(root, folder.name, module))
    return problems


def _root_config_problems(root: Path, dist: str, module: str) -> list[str]:
    """The root pyproject, svc-infra's extras and the docs must all know the package."""
    problems: list[str] = []
    config = _load_toml(root / "pyproject.toml")
    tool = config.get("tool", {})
    if tool.get("uv", {}).get("sources", {}).get(dist) != {"workspace": True}:
        problems.append(
            f"pyproject.toml: add `{dist} = {{ workspace = true }}` under [tool.uv.sources]"
        )
    importlinter = tool.get("importlinter", {})
    if module not in importlinter.get("root_packages", []):
        problems.append(f'pyproject.toml: add "{module}" to [tool.importlinter] root_packages')
    layers = [
        layer
        for contract in importlinter.get("contracts", [])
        if contract.get("type") == "layers"
        for layer in contract.get("layers", [])
    ]
    if layers and not any(re.search(rf"\b{module}\b", layer) for layer in layers):
        problems.append(
            f"pyproject.toml: place {module} in a layer of the import-linter 'layers' "
            "contract (see ARCHITECTURE.md)"
        )
    mypy_path = str(tool.get("mypy", {}).get("mypy_path", ""))
    if mypy_path and f"packages/{dist}/src" not in mypy_path:
        problems.append(
            f"pyproject.toml: append `:$MYPY_CONFIG_FILE_DIR/packages/{dist}/src` to "
            "[tool.mypy] mypy_path"
        )

    if dist != META_PACKAGE:
        infra = _load_toml(root / "packages" / META_PACKAGE / "pyproject.toml")["project"]
        extra_all = infra.get("optional-dependencies", {}).get("all", [])
        names = set()
        for text in extra_all:
            try:
                names.add(canonicalize_name(Requirement(text).name))
            except InvalidRequirement:
                continue
        if dist not in names:
            problems.append(
                f'packages/{META_PACKAGE}/pyproject.toml: add "{dist}>=0.1,<1" to the `all` '
                f"extra (and a `{dist.removeprefix('svc-')}` extra)"
            )

    pages = [f"packages/{dist}.md", f"reference/{dist}.md"]
    existing = [page for page in pages if (root / "docs" / page).is_file()]
    if not existing:
        problems.append(f"docs/packages/{dist}.md: add a documentation page for {dist}")
    else:
        nav = _mkdocs_nav(root)
        if nav is not None and not nav.intersection(existing):
            problems.append(f"mkdocs.yml: add `- {dist}: {existing[0]}` to the nav")
    return problems


def _ids(folders: list[Path]) -> list[str]:
    return [folder.name for folder in folders]


PACKAGES = package_dirs(ROOT)


def test_workspace_has_core_and_meta_packages() -> None:
    names = _ids(PACKAGES)
    assert CORE_PACKAGE in names, "packages/svc-core is missing"
    assert META_PACKAGE in names, "packages/svc-infra is missing"


@pytest.mark.parametrize("folder", PACKAGES, ids=_ids(PACKAGES))
def test_package_skeleton(folder: Path) -> None:
    problems = package_problems(ROOT, folder)
    assert not problems, f"{folder.name}: fix these:\n  - " + "\n  - ".join(problems)


def test_root_sources_name_existing_packages() -> None:
    sources = _load_toml(ROOT / "pyproject.toml")["tool"]["uv"].get("sources", {})
    names = set(_ids(PACKAGES))
    stale = sorted(
        name for name, spec in sources.items() if spec.get("workspace") and name not in names
    )
    assert not stale, (
        f"pyproject.toml: [tool.uv.sources] lists {stale} with workspace = true, but "
        "packages/<name>/ does not exist; remove the entries or add the packages"
    )


def test_import_linter_roots_name_existing_packages() -> None:
    config = _load_toml(ROOT / "pyproject.toml")["tool"]["importlinter"]
    modules = {name.replace("-", "_") for name in _ids(PACKAGES)}
    stale = sorted(set(config.get("root_packages", [])) - modules)
    assert not stale, (
        f"pyproject.toml: [tool.importlinter] root_packages lists {stale}, which no "
        "package provides; remove them"
    )


def test_meta_package_extras_name_existing_packages() -> None:
    infra = _load_toml(ROOT / "packages" / META_PACKAGE / "pyproject.toml")["project"]
    named = {
        canonicalize_name(Requirement(text).name)
        for extra in infra.get("optional-dependencies", {}).values()
        for text in extra
    }
    unknown = sorted(n for n in named if n.startswith("svc-") and n not in set(_ids(PACKAGES)))
    assert not unknown, (
        f"packages/{META_PACKAGE}/pyproject.toml: the extras name {unknown}, which are not "
        "workspace packages; add the packages or remove them from the extras"
    )
