"""Create a workspace package from ``scripts/_template/`` and wire it into the repository.

Usage::

    uv run python scripts/new_package.py cache "Response caching on the key-value store"
    uv run python scripts/new_package.py cache "…" --dry-run    # show, change nothing

It creates ``packages/svc-<name>/`` (pyproject with hatchling and a static version, the
``svc_<name>`` package with ``__init__``, ``py.typed``, ``errors`` and ``plugin``, a
README, a CHANGELOG and a smoke test), then edits, as text so that comments and layout
survive:

* the root ``pyproject.toml``: ``[tool.uv.sources]``, import-linter's ``root_packages``
  and mypy's ``mypy_path``;
* ``packages/svc-infra/pyproject.toml``: a ``<name>`` extra and an entry in ``all``;
* ``mkdocs.yml`` and ``docs/``: a page ``docs/packages/svc-<name>.md`` with its nav
  entry, and the package's row of the table in ``docs/index.md``.

Every edited TOML file is parsed again before anything is written. The script prints
each change and the steps left to do by hand (``uv sync``, choosing the import-linter
layer, writing the docs).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "_template"

_NAME = re.compile(r"^[a-z][a-z0-9]{1,29}$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_LINE_LENGTH = 100


class ScaffoldError(Exception):
    """The package cannot be created; the message says why and what to do."""


@dataclass(frozen=True)
class Names:
    """Every spelling of a package's name.

    Attributes:
        name: The short name, also the extra and the plugin name (``cache``).
        dist: The distribution name (``svc-cache``).
        module: The import name (``svc_cache``).
        title: The class-name stem (``Cache``, as in ``SvcCacheError``).
    """

    name: str
    dist: str
    module: str
    title: str

    @classmethod
    def of(cls, name: str) -> Names:
        """Derive every spelling from the short name.

        Args:
            name: Lower-case letters and digits, starting with a letter.

        Returns:
            The names.

        Raises:
            ScaffoldError: The name is not valid.
        """
        if not _NAME.match(name):
            msg = (
                f"invalid name {name!r}: use 2-30 lower-case letters and digits, starting "
                "with a letter (e.g. 'cache'); the package becomes svc-<name>"
            )
            raise ScaffoldError(msg)
        return cls(name=name, dist=f"svc-{name}", module=f"svc_{name}", title=name.capitalize())


# ------------------------------------------------------------------ rendering


def toml_string(value: str) -> str:
    """Quote ``value`` as a TOML basic string.

    Args:
        value: Any text.

    Returns:
        The quoted string (JSON escapes are valid TOML basic-string escapes).
    """
    return json.dumps(value, ensure_ascii=False)


def render(text: str, values: dict[str, str]) -> str:
    """Replace every ``{{key}}`` of ``text`` with ``values[key]``.

    Args:
        text: Template text.
        values: Replacement for each placeholder.

    Returns:
        The rendered text.

    Raises:
        ScaffoldError: The template uses a placeholder that has no value.
    """

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            msg = f"the template uses {{{{{key}}}}}, which new_package.py does not define"
            raise ScaffoldError(msg)
        return values[key]

    return _PLACEHOLDER.sub(replace, text)


def core_requirement(version: str) -> str:
    """The range a new package requires of svc-core: this minor and up, below the next major.

    Args:
        version: svc-core's current version, e.g. ``0.1.0``.

    Returns:
        e.g. ``svc-core>=0.1,<1``.
    """
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0, 0]
    major, minor = parts[0], parts[1]
    return f"svc-core>={major}.{minor},<{major + 1}"


def template_values(names: Names, description: str, core: dict[str, Any]) -> dict[str, str]:
    """The placeholder values for one package.

    Args:
        names: The package's names.
        description: Its one-line description.
        core: svc-core's ``[project]`` table (for requires-python, licence and version).

    Returns:
        The values by placeholder name.
    """
    sentence = description if description.endswith((".", "!", "?")) else f"{description}."
    summary = textwrap.fill(f"{names.dist}: {sentence}", width=_LINE_LENGTH - 8)
    return {
        "name": names.name,
        "NAME": names.name.upper(),
        "Name": names.title,
        "dist": names.dist,
        "module": names.module,
        "description": description,
        "description_toml": toml_string(description),
        "summary_docstring": summary,
        "requires_python": str(core.get("requires-python", ">=3.11")),
        "license": str(core.get("license", "MIT")),
        "core_requirement": core_requirement(str(core.get("version", "0.1.0"))),
    }


def render_template(template: Path, values: dict[str, str]) -> dict[Path, str]:
    """Render every ``*.tmpl`` file of the package template.

    Files at the template's top level whose name starts with ``_`` are not part of the
    package (e.g. the documentation page) and are left out.

    Args:
        template: The template folder.
        values: The placeholder values.

    Returns:
        File contents by path relative to the new package's folder.
    """
    files: dict[Path, str] = {}
    for source in sorted(template.rglob("*.tmpl")):
        relative = source.relative_to(template)
        if len(relative.parts) == 1 and relative.name.startswith("_"):
            continue
        target = Path(*(values["module"] if p == "__module__" else p for p in relative.parts))
        files[target.with_name(target.name.removesuffix(".tmpl"))] = render(
            source.read_text(encoding="utf-8"), values
        )
    return files


# ------------------------------------------------------------------ text edits


def _section(text: str, header: str) -> tuple[int, int]:
    """Start and end offsets of the body of the TOML table ``header``.

    Args:
        text: A TOML document.
        header: The table header line, e.g. ``[tool.uv.sources]``.

    Returns:
        The offset just after the header line and the offset of the next table header
        (or the end of the document).

    Raises:
        ScaffoldError: The table is missing.
    """
    match = re.search(rf"^{re.escape(header)}[ \t]*(#.*)?$", text, flags=re.MULTILINE)
    if match is None:
        msg = f"table {header} not found"
        raise ScaffoldError(msg)
    start = match.end() + 1
    following = re.search(r"^\[", text[start:], flags=re.MULTILINE)
    return start, (start + following.start() if following else len(text))


def _array_end(text: str, start: int) -> tuple[int, int]:
    """Find the ``]`` closing the TOML array that opens at ``text[start]``.

    Strings and comments are skipped, so brackets inside them (``"svc-core[sql]"``)
    do not count.

    Args:
        text: A TOML document.
        start: The offset of the opening ``[``.

    Returns:
        The offset of the closing ``]`` and of the last character before it that is
        neither whitespace nor part of a comment.
    """
    depth = 0
    last = start
    i = start
    while i < len(text):
        char = text[i]
        if char in "\"'":
            end = i + 1
            while text[end] != char:
                end += 2 if char == '"' and text[end] == "\\" else 1
            last = i = end
        elif char == "#":
            i = text.index("\n", i) - 1
        elif char == "[":
            depth += 1
            last = i
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i, last
            last = i
        elif not char.isspace():
            last = i
        i += 1
    msg = "unterminated array"
    raise ScaffoldError(msg)


def add_to_array(text: str, header: str, key: str, item: str) -> str:
    """Add a string to the array ``key`` of table ``header`` unless it is there already.

    A one-line array is re-rendered sorted (over several lines when it would pass the
    line length); a multi-line array gets the item appended as a new last line, so its
    comments survive.

    Args:
        text: A TOML document.
        header: The table header, e.g. ``[tool.importlinter]``.
        key: The array's key.
        item: The string to add.

    Returns:
        The edited document.

    Raises:
        ScaffoldError: The table or the key is missing.
    """
    start, end = _section(text, header)
    match = re.compile(rf"^{re.escape(key)}[ \t]*=[ \t]*\[", re.MULTILINE).search(text, start, end)
    if match is None:
        msg = f"{key} = [...] not found in {header}"
        raise ScaffoldError(msg)
    opening = match.end() - 1
    closing, last = _array_end(text, opening)
    current = tomllib.loads(f"x = {text[opening : closing + 1]}")["x"]
    if item in current:
        return text
    if "\n" not in text[opening:closing]:
        items = sorted([*current, item])
        line = f"{key} = [{', '.join(toml_string(i) for i in items)}]"
        if len(line) <= _LINE_LENGTH:
            return text[: match.start()] + line + text[closing + 1 :]
        body = "".join(f"    {toml_string(i)},\n" for i in items)
        return text[: match.start()] + f"{key} = [\n{body}]" + text[closing + 1 :]
    comma = "" if text[last] in ",[" else ","
    line_start = text.rfind("\n", 0, closing) + 1
    indent_match = re.match(r"[ \t]*", text[opening + 1 :].lstrip("\n"))
    indent = indent_match.group(0) if indent_match and indent_match.group(0) else "    "
    if text[line_start:closing].strip():  # "]" shares its line with the last item
        return text[: last + 1] + comma + f"\n{indent}{toml_string(item)},\n" + text[closing:]
    return (
        text[: last + 1]
        + comma
        + text[last + 1 : line_start]
        + f"{indent}{toml_string(item)},\n"
        + text[line_start:]
    )


def add_key(text: str, header: str, key: str, value: str, *, before: str | None = None) -> str:
    """Add ``key = value`` to table ``header`` unless the key exists.

    Args:
        text: A TOML document.
        header: The table header.
        key: The key to add.
        value: Its value, already in TOML syntax.
        before: Insert just above this key when present (e.g. keep ``all`` last);
            otherwise after the table's last non-blank line.

    Returns:
        The edited document.
    """
    start, end = _section(text, header)
    body = text[start:end]
    if re.search(rf"^{re.escape(key)}[ \t]*=", body, flags=re.MULTILINE):
        return text
    line = f"{key} = {value}\n"
    if before is not None:
        anchor = re.search(rf"^{re.escape(before)}[ \t]*=", body, flags=re.MULTILINE)
        if anchor is not None:
            at = start + anchor.start()
            return text[:at] + line + text[at:]
    at = start
    offset = start
    for body_line in body.splitlines(keepends=True):
        offset += len(body_line)
        if body_line.strip() and not body_line.lstrip().startswith("#"):
            at = offset
    if at > start and text[at - 1 : at] != "\n":  # the last line had no newline
        line = "\n" + line
    return text[:at] + line + text[at:]


def add_mypy_path(text: str, src: str) -> str:
    """Append ``$MYPY_CONFIG_FILE_DIR/<src>`` to ``[tool.mypy] mypy_path`` when it is set.

    Args:
        text: The root ``pyproject.toml``.
        src: The package's source folder, relative to the root.

    Returns:
        The edited document (unchanged when there is no ``mypy_path`` or it has ``src``).
    """
    try:
        start, end = _section(text, "[tool.mypy]")
    except ScaffoldError:
        return text
    pattern = re.compile(r'^(mypy_path[ \t]*=[ \t]*")([^"]*)(")', re.MULTILINE)
    match = pattern.search(text, start, end)
    if match is None or src in match.group(2):
        return text
    entry = f"$MYPY_CONFIG_FILE_DIR/{src}"
    value = f"{match.group(2)}:{entry}" if match.group(2) else entry
    return text[: match.start(2)] + value + text[match.end(2) :]


def add_nav_entry(text: str, dist: str) -> str:
    """Add ``- <dist>: packages/<dist>.md`` under the ``Packages`` section of the nav.

    svc-core stays first and svc-infra last; other packages are kept in name order.

    Args:
        text: ``mkdocs.yml``.
        dist: The distribution name.

    Returns:
        The edited document.

    Raises:
        ScaffoldError: The nav has no ``- Packages:`` section.
    """
    lines = text.splitlines(keepends=True)
    header = next(
        (i for i, line in enumerate(lines) if re.match(r"^\s*- Packages:\s*$", line)), None
    )
    if header is None:
        msg = "mkdocs.yml has no '- Packages:' section in its nav"
        raise ScaffoldError(msg)
    outer = len(lines[header]) - len(lines[header].lstrip())
    children: list[int] = []
    for i in range(header + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and len(lines[i]) - len(lines[i].lstrip()) <= outer:
            break
        if stripped.startswith("- "):
            children.append(i)
    entry_path = f"packages/{dist}.md"
    if any(entry_path in lines[i] for i in children):
        return text
    indent = (
        lines[children[0]][: len(lines[children[0]]) - len(lines[children[0]].lstrip())]
        if children
        else " " * (outer + 4)
    )
    new = f"{indent}- {dist}: {entry_path}\n"

    def rank(line: str) -> tuple[int, str]:
        label = line.strip()[2:].split(":", 1)[0].strip()
        return ({"svc-core": 0, "svc-infra": 2}.get(label, 1), label)

    at = next((i for i in children if rank(lines[i]) > rank(new)), None)
    if at is None:
        at = (children[-1] + 1) if children else header + 1
    lines.insert(at, new)
    return "".join(lines)


def mark_available(text: str, dist: str) -> str:
    """Turn the ``planned`` row of ``dist`` in the docs' package table into a linked one.

    Args:
        text: ``docs/index.md``.
        dist: The distribution name.

    Returns:
        The edited text (unchanged when there is no such row).
    """
    pattern = re.compile(
        rf"^\|\s*{re.escape(dist)}\s*\|(?P<purpose>.*)\|\s*planned\s*\|\s*$", re.MULTILINE
    )
    return pattern.sub(
        lambda m: f"| [{dist}](packages/{dist}.md) |{m.group('purpose')}| available |", text
    )


# ------------------------------------------------------------------ the command


@dataclass
class Plan:
    """Everything the script will write.

    Attributes:
        created: New files and their contents, by absolute path.
        edited: Existing files and their new contents, by absolute path.
        notes: Manual steps left to do.
    """

    created: dict[Path, str]
    edited: dict[Path, str]
    notes: list[str]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{path} is missing; run this script from a complete checkout"
        raise ScaffoldError(msg) from None


def plan(root: Path, names: Names, description: str) -> Plan:
    """Work out every file to create and edit, without writing anything.

    Args:
        root: The repository root.
        names: The new package's names.
        description: Its one-line description.

    Returns:
        The plan.

    Raises:
        ScaffoldError: The package exists already, or a file to edit is not as expected.
    """
    if "\n" in description or '"""' in description or not description.strip():
        msg = "the description must be one non-empty line without triple quotes"
        raise ScaffoldError(msg)
    description = description.strip()
    folder = root / "packages" / names.dist
    if folder.exists():
        msg = f"{folder.relative_to(root)} exists already"
        raise ScaffoldError(msg)

    core = _read_toml(root / "packages" / "svc-core" / "pyproject.toml")["project"]
    infra_path = root / "packages" / "svc-infra" / "pyproject.toml"
    infra = _read_toml(infra_path)["project"]
    if names.name in infra.get("optional-dependencies", {}):
        msg = f"svc-infra already has an extra named {names.name!r}; choose another name"
        raise ScaffoldError(msg)

    values = template_values(names, description, core)
    created = {folder / rel: body for rel, body in render_template(TEMPLATE, values).items()}
    docs_page = root / "docs" / "packages" / f"{names.dist}.md"
    if not docs_page.exists():
        page_template = (TEMPLATE / "_docs_page.md.tmpl").read_text(encoding="utf-8")
        created[docs_page] = render(page_template, values)

    edited: dict[Path, str] = {}
    notes: list[str] = []
    src = f"packages/{names.dist}/src"

    root_path = root / "pyproject.toml"
    text = root_path.read_text(encoding="utf-8")
    text = add_key(text, "[tool.uv.sources]", names.dist, "{ workspace = true }")
    text = add_to_array(text, "[tool.importlinter]", "root_packages", names.module)
    text = add_mypy_path(text, src)
    edited[root_path] = text

    requirement = f"{names.dist}>=0.1,<1"  # the template's version is always 0.1.0
    text = infra_path.read_text(encoding="utf-8")
    text = add_key(
        text,
        "[project.optional-dependencies]",
        names.name,
        f"[{toml_string(requirement)}]",
        before="all",
    )
    text = add_to_array(text, "[project.optional-dependencies]", "all", requirement)
    edited[infra_path] = text

    mkdocs = root / "mkdocs.yml"
    if mkdocs.exists():
        edited[mkdocs] = add_nav_entry(mkdocs.read_text(encoding="utf-8"), names.dist)
    else:
        notes.append(f"mkdocs.yml not found: add docs/packages/{names.dist}.md to the nav")
    index = root / "docs" / "index.md"
    if index.exists():
        edited[index] = mark_available(index.read_text(encoding="utf-8"), names.dist)

    _check(edited, root_path, infra_path, names, requirement)
    edited = {
        path: body for path, body in edited.items() if body != path.read_text(encoding="utf-8")
    }

    notes.extend(_manual_steps(_read_toml(root_path), names))
    return Plan(created=created, edited=edited, notes=notes)


def _manual_steps(root_doc: dict[str, Any], names: Names) -> list[str]:
    """The steps the script leaves to the developer."""
    contracts = root_doc.get("tool", {}).get("importlinter", {}).get("contracts", [])
    in_layer = any(
        re.search(rf"\b{names.module}\b", layer)
        for contract in contracts
        if contract.get("type") == "layers"
        for layer in contract.get("layers", [])
    )
    steps = ["uv sync    # lock and install the new package"]
    if not in_layer:
        steps.append(
            f"add {names.module} to a layer of the import-linter 'layers' contract in "
            "pyproject.toml (ARCHITECTURE.md says which)"
        )
    steps.append(
        f"describe the package in packages/{names.dist}/README.md, in the docstring of "
        f"src/{names.module}/__init__.py and in docs/packages/{names.dist}.md"
    )
    steps.append("uv run pytest tests    # the workspace meta-test")
    steps.append(
        f"uv run --package {names.dist} --exact --all-extras --group test "
        f"pytest packages/{names.dist}/tests"
    )
    return steps


def _check(
    edited: dict[Path, str], root_path: Path, infra_path: Path, names: Names, requirement: str
) -> None:
    """Parse the edited TOML files again and check the new entries are where expected."""
    try:
        root_doc = tomllib.loads(edited[root_path])
        infra_doc = tomllib.loads(edited[infra_path])
    except tomllib.TOMLDecodeError as exc:
        msg = f"editing the pyproject files would break them ({exc}); nothing was written"
        raise ScaffoldError(msg) from exc
    problems = []
    if root_doc["tool"]["uv"]["sources"].get(names.dist) != {"workspace": True}:
        problems.append("root [tool.uv.sources]")
    if names.module not in root_doc["tool"]["importlinter"]["root_packages"]:
        problems.append("import-linter root_packages")
    extras = infra_doc["project"]["optional-dependencies"]
    if extras.get(names.name) != [requirement] or requirement not in extras.get("all", []):
        problems.append("svc-infra extras")
    if problems:
        msg = f"could not edit: {', '.join(problems)}; nothing was written"
        raise ScaffoldError(msg)


def _format(root: Path, folder: Path) -> str | None:
    """Sort imports and format the new package with ruff, when ruff is installed."""
    if find_spec("ruff") is None:
        return "ruff is not installed: run 'uv run ruff check --fix' and 'uv run ruff format'"
    for args in (["check", "--fix", "--select", "I,RUF022", "--quiet"], ["format", "--quiet"]):
        subprocess.run([sys.executable, "-m", "ruff", *args, str(folder)], cwd=root, check=False)
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="short name: 'cache' creates svc-cache / svc_cache")
    parser.add_argument("description", help="one-line description of the package")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    parser.add_argument("--no-format", action="store_true", help="do not run ruff afterwards")
    args = parser.parse_args(argv)

    root: Path = args.root.resolve()
    try:
        names = Names.of(args.name)
        result = plan(root, names, args.description)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    verb = "would " if args.dry_run else ""
    for path in sorted(result.created):
        print(f"{verb}create  {path.relative_to(root)}")
    for path in sorted(result.edited):
        print(f"{verb}edit    {path.relative_to(root)}")
    if args.dry_run:
        return 0

    for path, body in {**result.created, **result.edited}.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    if not args.no_format:
        note = _format(root, root / "packages" / names.dist)
        if note:
            result.notes.insert(0, note)

    print(f"\nCreated {names.dist}. Left to do:")
    for step, note in enumerate(result.notes, start=1):
        print(f"  {step}. {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
