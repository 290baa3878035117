"""Every lesson runs in JupyterLab in Chromium: widgets and charts render, no JavaScript errors,
and the apps answer a student's slider, Play button and Retrain button."""

import json
import tempfile

import pytest

from tests.browser import lab_page
from tests.browser.conftest import ARTIFACTS, ROOT

NOTEBOOKS = ["00_start_here", "01_one_step", "02_relations", "03_learning_difficulty", "04_forgetting",
             "05_clusters_and_pruning", "06_scale_up"]


def move_slider(page):
    """Press the right arrow on the one-step explorer's "sample u" slider."""
    page.locator(".widget-slider", has=page.get_by_text("sample u")).locator(".noUi-handle").first.press("ArrowRight")


def press_play(page):
    """Press Play on the forgetting player and let it advance a few epochs."""
    page.locator(".widget-play button").first.click()
    page.wait_for_timeout(3000)


def press_retrain(page):
    """Press the pruning app's Retrain button."""
    page.get_by_role("button", name="Retrain").first.click()


# notebook -> (what a student does, an element inside the output that must change)
INTERACTIONS = {
    "01_one_step": (move_slider, ".widget-slider"),
    "04_forgetting": (press_play, ".widget-play"),
    "05_clusters_and_pruning": (press_retrain, "button:has-text('Retrain')"),
}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_renders(page, lab_url, name):
    errors = lab_page.watch_errors(page)
    seconds = lab_page.open_and_run(page, lab_url, f"notebooks/{name}.ipynb")
    print(f"{name}: ran in {seconds:.0f} s")
    assert lab_page.problems(page, errors, min_charts=1) == []
    if name in INTERACTIONS:
        act, inside = INTERACTIONS[name]
        before = lab_page.rendered_near(page, inside)
        act(page)
        page.wait_for_timeout(1000)
        lab_page.wait_idle(page, 90)
        assert lab_page.rendered_near(page, inside) != before, f"{act.__name__} changed nothing"
        assert lab_page.problems(page, errors, min_charts=1) == []


def _broken_notebook(folder) -> str:
    """A notebook with a widget whose model does not exist and a chart container left empty."""
    cells = [
        'from IPython.display import display\n'
        'display({"application/vnd.jupyter.widget-view+json":'
        ' {"model_id": "no-such-model", "version_major": 2, "version_minor": 0}}, raw=True)',
        'from IPython.display import HTML\nHTML(\'<div class="vega-embed"></div>\')',
    ]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None,
                   "id": f"c{i}"} for i, src in enumerate(cells)]}
    path = folder / "broken.ipynb"
    path.write_text(json.dumps(notebook))
    return path.relative_to(ROOT).as_posix()


def test_checker_reports_a_broken_widget_and_chart(page, lab_url):
    ARTIFACTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ARTIFACTS) as folder:
        errors = lab_page.watch_errors(page)
        lab_page.open_and_run(page, lab_url, _broken_notebook(ROOT / ARTIFACTS.name / folder.rsplit("/", 1)[1]))
        found = lab_page.problems(page, errors, min_charts=1)
    print("\n".join(found))
    assert f"page shows {lab_page.WIDGET_ERROR!r}" in found
    assert "chart 0 has no svg/canvas" in found
