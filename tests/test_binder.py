"""Binder's configuration (binder/, built by repo2docker) parses, and provides what the notebooks import.

Nothing here builds an image: the files are read and checked the way repo2docker and pip read them.
"""

import ast
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PACKAGE = "lpntk_lab"


def requirement_lines() -> list[str]:
    """The non-empty lines of binder/requirements.txt, comments removed."""
    lines = (line.split("#", 1)[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines())
    return [line for line in lines if line]


def requirements() -> list[Requirement]:
    return [Requirement(line) for line in requirement_lines() if not line.startswith("-") and line != "."]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_dependencies() -> set[str]:
    """Canonical distribution names of the package's runtime dependencies."""
    return {canonicalize_name(Requirement(dep).name) for dep in pyproject()["project"]["dependencies"]}


def without_magics(source: str) -> str:
    """A code cell's source with IPython magics (``%``, ``%%``) and shell lines (``!``) removed."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def imported_packages(source: str) -> set[str]:
    """Top-level names of the absolute imports in Python source: ``import a.b`` and ``from a import b`` give ``a``."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def notebook_imports() -> dict[str, set[str]]:
    """``{top-level package: {notebooks importing it}}`` over every notebook's code cells."""
    found: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for name in imported_packages(without_magics(cell.source)):
                    found.setdefault(name, set()).add(path.name)
    return found


# --- requirements.txt ---------------------------------------------------------------------------------


def test_every_requirement_line_parses():
    lines = requirement_lines()
    assert lines, "binder/requirements.txt is empty"
    for line in lines:
        if line.startswith("-") or line == ".":
            continue
        try:
            Requirement(line)
        except InvalidRequirement as err:
            pytest.fail(f"binder/requirements.txt: {line!r} is not a valid requirement ({err})")


def test_options_are_known_to_pip():
    for line in requirement_lines():
        if line.startswith("-"):
            option = line.split()[0].split("=")[0]
            assert option in ("--extra-index-url", "--index-url", "--find-links", "--pre"), (
                f"binder/requirements.txt: unexpected option {option!r}")


def test_torch_comes_from_the_cpu_wheel_index():
    options = [line.split() for line in requirement_lines() if line.startswith("--extra-index-url")]
    assert [CPU_INDEX] in [rest for _, *rest in options], (
        f"binder/requirements.txt must have the line '--extra-index-url {CPU_INDEX}' (CPU-only torch)")
    assert not any(line.startswith("--index-url") for line in requirement_lines()), (
        "--index-url would replace PyPI; use --extra-index-url for the CPU wheels")


def test_torch_and_torchvision_are_listed_before_the_package():
    lines = requirement_lines()
    names = [canonicalize_name(r.name) for r in requirements()]
    assert {"torch", "torchvision"} <= set(names)
    assert "." in lines, "binder/requirements.txt must install the package itself with a line '.'"
    assert lines.index(".") == len(lines) - 1, "the package itself ('.') comes last"


# --- runtime.txt and postBuild ---------------------------------------------------------------------


def test_runtime_is_a_supported_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert match, f"binder/runtime.txt must read like 'python-3.11', got {runtime!r}"
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert requires.contains(f"{match.group(1)}.{match.group(2)}.0"), (
        f"binder/runtime.txt asks for {runtime}, but pyproject.toml requires Python {requires}")


def test_post_build_is_strict_bash():
    text = (BINDER / "postBuild").read_text()
    first, *rest = text.splitlines()
    assert first in ("#!/usr/bin/env bash", "#!/bin/bash"), f"postBuild must start with a bash shebang, got {first!r}"
    assert "set -euo pipefail" in [line.strip() for line in rest]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_post_build_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(BINDER / "postBuild")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_post_build_python_compiles_and_warms_up_umap_and_torch():
    text = (BINDER / "postBuild").read_text()
    scripts = re.findall(r"<<\s*'(\w+)'\n(.*?)\n\1\n", text, re.S)
    assert scripts, "postBuild runs its Python in a quoted heredoc: python - <<'PY' ... PY"
    source = "\n".join(body for _, body in scripts)
    compile(source, "binder/postBuild", "exec")
    assert {"torch", "umap"} <= imported_packages(source)
    assert "UMAP(" in source, "postBuild fits a tiny UMAP so that numba compiles before the first lesson"


def test_post_build_is_executable_in_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    entry = subprocess.run(["git", "ls-files", "-s", "binder/postBuild"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    assert entry, "binder/postBuild is not committed"
    assert entry.split()[0] == "100755", "run: git update-index --chmod=+x binder/postBuild"


# --- what the notebooks import -----------------------------------------------------------------------


def test_there_are_notebooks_to_check():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


def test_helpers_find_imports():
    assert imported_packages("import a.b as c\nfrom d.e import f\nfrom . import g\nimport h, i") == {"a", "d", "h", "i"}
    assert without_magics("%matplotlib inline\n!pip list\nx = 1") == "x = 1"


def test_every_notebook_import_is_installed_by_binder():
    """The package itself, the standard library, or a runtime dependency that Binder installs with '.'."""
    provides = packages_distributions()
    runtime = runtime_dependencies()
    missing = []
    for name, notebooks in sorted(notebook_imports().items()):
        if name == PACKAGE or name in sys.stdlib_module_names:
            continue
        distributions = {canonicalize_name(d) for d in provides.get(name, [])} or {canonicalize_name(name)}
        if not distributions & runtime:
            missing.append(f"{name} (imported by {', '.join(sorted(notebooks))}; "
                           f"distribution {', '.join(sorted(distributions))})")
    assert not missing, ("notebooks import packages that are not runtime dependencies in pyproject.toml, "
                         "so Binder would not install them: " + "; ".join(missing))
