"""Work out which workspace packages a change affects, for CI's test matrix.

A package is affected when a file under its folder changed, or when a workspace package
it depends on (in ``dependencies`` or any extra) is affected. A change to a file every
package shares (the root ``pyproject.toml``, ``uv.lock``, the CI workflow, this script)
affects every package. The dependency graph is read from each member's ``pyproject.toml``,
so a new package needs no change here.

Usage::

    python scripts/affected.py --base origin/main            # diff BASE...HEAD
    python scripts/affected.py --all                         # every package
    python scripts/affected.py packages/svc-core/src/x.py    # explicit file names
    python scripts/affected.py --base "$SHA" --github-output # also write $GITHUB_OUTPUT

It prints one JSON object: ``packages`` (affected distribution names, dependencies
first), ``integration`` (whether the integration and acceptance suites should run) and
``all`` (whether every package was selected). Only the standard library is used, so it
runs before any environment is set up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Files whose change affects every package.
GLOBAL_FILES = frozenset(
    {
        "pyproject.toml",
        "uv.lock",
        ".python-version",
        ".github/workflows/ci.yml",
        "scripts/affected.py",
    }
)
#: Folders whose change affects every package.
GLOBAL_DIRS = (".ci/",)
#: Folders whose change runs the integration and acceptance suites only.
INTEGRATION_DIRS = ("integration-tests/", "acceptance/")

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_NULL_SHA = re.compile(r"^0+$")


def normalize(name: str) -> str:
    """Normalise a distribution name as PEP 503 does (``Svc_Core`` → ``svc-core``).

    Args:
        name: A distribution name.

    Returns:
        The lower-cased name with runs of ``-``, ``_`` and ``.`` replaced by ``-``.
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str | None:
    """The normalised distribution name of a PEP 508 requirement string.

    Args:
        requirement: e.g. ``"svc-core[sql]>=0.1,<1"``.

    Returns:
        ``"svc-core"``, or ``None`` when the string does not start with a name.
    """
    match = _REQ_NAME.match(requirement)
    return normalize(match.group(1)) if match else None


@dataclass(frozen=True)
class Member:
    """One workspace package.

    Attributes:
        name: Normalised distribution name (``svc-core``).
        path: Folder relative to the repository root, POSIX style (``packages/svc-core``).
        requires: Normalised names of everything it depends on, extras included.
    """

    name: str
    path: str
    requires: frozenset[str]


def load_members(root: Path) -> dict[str, Member]:
    """Read the workspace members named by the root ``[tool.uv.workspace]``.

    Args:
        root: The repository root.

    Returns:
        The members by normalised name.
    """
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    workspace = config.get("tool", {}).get("uv", {}).get("workspace", {})
    excluded = {
        path.resolve() for pattern in workspace.get("exclude", []) for path in root.glob(pattern)
    }
    members: dict[str, Member] = {}
    for pattern in workspace.get("members", []):
        for folder in sorted(root.glob(pattern)):
            pyproject = folder / "pyproject.toml"
            if folder.resolve() in excluded or not pyproject.is_file():
                continue
            project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
            requirements = list(project.get("dependencies", []))
            for extra in project.get("optional-dependencies", {}).values():
                requirements.extend(extra)
            requires = {requirement_name(req) for req in requirements} - {None}
            name = normalize(project["name"])
            members[name] = Member(
                name=name,
                path=folder.relative_to(root).as_posix(),
                requires=frozenset(r for r in requires if r is not None and r != name),
            )
    return members


def dependents(members: dict[str, Member]) -> dict[str, set[str]]:
    """Invert the workspace dependency graph.

    Args:
        members: The workspace members.

    Returns:
        For each member, the members that depend on it directly.
    """
    reverse: dict[str, set[str]] = {name: set() for name in members}
    for member in members.values():
        for dependency in member.requires:
            if dependency in reverse:
                reverse[dependency].add(member.name)
    return reverse


def ordered(names: set[str], members: dict[str, Member]) -> list[str]:
    """Sort package names so that dependencies come before their dependents.

    Args:
        names: The names to sort.
        members: The workspace members.

    Returns:
        The names in dependency order, ties broken alphabetically.
    """
    result: list[str] = []
    remaining = set(names)
    while remaining:
        ready = sorted(n for n in remaining if not (members[n].requires & remaining))
        if not ready:  # a dependency cycle: keep going rather than loop forever
            ready = sorted(remaining)
        result.extend(ready)
        remaining.difference_update(ready)
    return result


@dataclass(frozen=True)
class Selection:
    """What CI should run for a change.

    Attributes:
        packages: Affected distribution names, dependencies first.
        integration: Whether the integration and acceptance suites should run.
        all: Whether every package was selected.
    """

    packages: list[str]
    integration: bool
    all: bool

    def to_json(self) -> str:
        """The selection as a compact JSON object."""
        return json.dumps(
            {"packages": self.packages, "integration": self.integration, "all": self.all}
        )


def select(changed: list[str], members: dict[str, Member], *, everything: bool) -> Selection:
    """Select the packages and suites a set of changed files affects.

    Args:
        changed: Changed file names, relative to the repository root.
        members: The workspace members.
        everything: Select every package regardless of ``changed``.

    Returns:
        The selection.
    """
    files = [name.strip().removeprefix("./") for name in changed if name.strip()]
    if everything or any(f in GLOBAL_FILES or f.startswith(GLOBAL_DIRS) for f in files):
        return Selection(ordered(set(members), members), integration=True, all=True)

    direct = {
        member.name for member in members.values() for f in files if f.startswith(member.path + "/")
    }
    reverse = dependents(members)
    affected: set[str] = set()
    todo = list(direct)
    while todo:
        name = todo.pop()
        if name not in affected:
            affected.add(name)
            todo.extend(reverse[name])

    integration = bool(affected) or any(f.startswith(INTEGRATION_DIRS) for f in files)
    return Selection(
        ordered(affected, members),
        integration=integration,
        all=affected == set(members),
    )


def git_changed(root: Path, base: str, head: str) -> list[str] | None:
    """Files changed between the merge base of ``base`` and ``head``, and ``head``.

    Args:
        root: The repository root.
        base: The base revision (a branch, tag or commit).
        head: The head revision.

    Returns:
        The changed file names, or ``None`` when git cannot compare the two (an unknown
        or all-zero base, e.g. the first push of a branch, or a shallow clone).
    """
    if not base or _NULL_SHA.match(base):
        return None
    completed = subprocess.run(
        ["git", "diff", "--name-only", "--no-renames", f"{base}...{head}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        print(
            f"git diff failed ({completed.stderr.strip()}); selecting everything", file=sys.stderr
        )
        return None
    return completed.stdout.splitlines()


def write_github_output(selection: Selection) -> None:
    """Append the selection to the file named by ``$GITHUB_OUTPUT``.

    Writes ``packages`` (a JSON list, for ``fromJSON`` in a matrix), ``any`` and
    ``integration`` (``true`` or ``false``).

    Args:
        selection: The selection to write.
    """
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        msg = "--github-output needs the GITHUB_OUTPUT environment variable"
        raise SystemExit(msg)
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(f"packages={json.dumps(selection.packages)}\n")
        out.write(f"any={str(bool(selection.packages)).lower()}\n")
        out.write(f"integration={str(selection.integration).lower()}\n")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="changed files (instead of --base)")
    parser.add_argument("--base", help="compare BASE...HEAD with git")
    parser.add_argument("--head", default="HEAD", help="head revision (default: HEAD)")
    parser.add_argument("--all", action="store_true", help="select every package")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument(
        "--github-output", action="store_true", help="also append to $GITHUB_OUTPUT"
    )
    args = parser.parse_args(argv)

    root: Path = args.root.resolve()
    members = load_members(root)
    everything = bool(args.all)
    changed: list[str] = list(args.files)
    if not everything and not changed:
        if args.base is None:
            parser.error("give --base, --all or a list of changed files")
        diff = git_changed(root, args.base, args.head)
        everything = diff is None
        changed = diff or []

    selection = select(changed, members, everything=everything)
    print(selection.to_json())
    print(
        f"{len(changed)} changed file(s) -> packages: {', '.join(selection.packages) or 'none'};"
        f" integration: {selection.integration}",
        file=sys.stderr,
    )
    if args.github_output:
        write_github_output(selection)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
