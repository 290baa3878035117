"""Every lesson in notebooks/ follows the course's conventions; nbval runs them (pytest --nbval-lax).

Checked for each ``notebooks/*.ipynb``: valid nbformat v4 with the python3 kernel, outputs stripped,
an opening markdown cell with learning goals and an estimated time, exactly one setup cell near the
top, an exercise checked by ``lab.course.check`` with a collapsible answer, short code cells; and
``00_start_here.ipynb`` links every other lesson.
"""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
START_HERE = "00_start_here.ipynb"
SETUP_CALL = "lab.course.setup("
SETUP_WITHIN = 3  # the setup cell is one of the first code cells
MAX_CODE_LINES = 25  # non-blank lines in one code cell


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def markdown(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]


def link_targets(text: str) -> set[str]:
    """File names that markdown links ``[text](target)`` and HTML ``href="target"`` point to."""
    targets = re.findall(r"\]\(\s*<?([^)\s>]+)", text) + re.findall(r"href=[\"']([^\"']+)", text)
    return {Path(t.split("#", 1)[0].split("?", 1)[0]).name for t in targets}


each_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@each_notebook
def test_named_as_a_numbered_lesson(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name}: name lessons NN_topic.ipynb"


@each_notebook
def test_valid_nbformat_4_with_the_python3_kernel(path):
    nb = load(path)
    assert nb.nbformat == 4, f"{path.name}: nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"


@each_notebook
def test_outputs_are_stripped(path):
    nb = load(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}, cell {i}: outputs are committed; clear them"
            assert cell.execution_count is None, f"{path.name}, cell {i}: execution count {cell.execution_count}"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata; clear it"


@each_notebook
def test_opens_with_learning_goals_and_an_estimated_time(path):
    first = load(path).cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell must be markdown (title, goals, time)"
    assert re.search(r"\bgoals?\b|\byou will\b|\byou'll learn\b", first.source, re.I), (
        f"{path.name}: the first cell lists no learning goals")
    assert re.search(r"\d+\s*(?:[-–]\s*\d+\s*)?min", first.source, re.I), (
        f"{path.name}: the first cell gives no estimated time in minutes")


@each_notebook
def test_exactly_one_setup_cell_near_the_top(path):
    cells = code_cells(load(path))
    setups = [i for i, cell in enumerate(cells) if SETUP_CALL in cell.source]
    assert len(setups) == 1, f"{path.name}: {len(setups)} code cells call {SETUP_CALL}), expected exactly one"
    assert setups[0] < SETUP_WITHIN, f"{path.name}: the setup cell is code cell {setups[0]}, not near the top"
    assert "import lpntk_lab as lab" in "\n".join(c.source for c in cells[: setups[0] + 1])


@each_notebook
def test_has_a_checked_exercise_and_a_collapsible_answer(path):
    nb = load(path)
    assert any("lab.course.check(" in cell.source for cell in code_cells(nb)), (
        f"{path.name}: no exercise checked with lab.course.check(...)")
    assert any("<details>" in text and "<summary>" in text for text in markdown(nb)), (
        f"{path.name}: no collapsible answer (<details><summary>...</summary>...</details>)")


@each_notebook
def test_code_cells_are_short(path):
    for i, cell in enumerate(code_cells(load(path))):
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert len(lines) <= MAX_CODE_LINES, (
            f"{path.name}, code cell {i}: {len(lines)} lines; keep cells under {MAX_CODE_LINES} lines "
            "and move logic into the package")


def test_start_here_links_every_lesson():
    start = NOTEBOOK_DIR / START_HERE
    if not start.exists():
        pytest.skip(f"{START_HERE} does not exist yet")
    linked = link_targets("\n".join(markdown(load(start))))
    missing = [p.name for p in NOTEBOOKS if p.name != START_HERE and p.name not in linked]
    assert not missing, f"{START_HERE} does not link {', '.join(missing)}"


def test_link_targets():
    text = '[a](01_one.ipynb) [b](./02_two.ipynb#top) <a href="notebooks/03_three.ipynb">c</a>'
    assert link_targets(text) == {"01_one.ipynb", "02_two.ipynb", "03_three.ipynb"}
