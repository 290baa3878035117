"""The README's quick start is two commands, and CI runs the second one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quick_start_has_exactly_two_commands():
    install_and_run, install_and_test = quick_start_commands()
    assert "pip install -e ." in install_and_run and "jupyter lab" in install_and_run
    assert "notebooks/00_start_here.ipynb" in install_and_run
    assert (ROOT / "notebooks" / "00_start_here.ipynb").exists()
    assert 'pip install -e ".[test]"' in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci.splitlines()


def test_test_extra_lists_what_the_tests_import():
    pyproject = (ROOT / "pyproject.toml").read_text()
    test_extra = pyproject.split("test = [", 1)[1].split("]", 1)[0]
    for package in ("pytest", "nbval", "hypothesis"):
        assert f'"{package}' in test_extra


def test_api_tour_runs_as_written():
    text = (ROOT / "README.md").read_text()
    tour = text.split("## API tour", 1)[1]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    namespace = {}
    exec(compile(code, "README API tour", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["K"].shape == (500, 500)
    assert len(namespace["pruned"].keep) == round(0.7 * namespace["ds"].n_train)
    assert set(namespace["table"].table["method"]) >= {"random", "el2n", "lpntk-fpc-largest"}
