"""Lesson 3 (learning difficulty): the chart data, the controlled-difficulty app and the exercises' solutions."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pytest

import lpntk_lab as lab
from lpntk_lab.learning_difficulty import mean_cosine
from lpntk_lab.viz import difficulty as viz
from lpntk_lab.widgets import difficulty as app
from test_lesson_relations import _spec_renders, run_exercises

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_learning_difficulty.ipynb"
SMALL_RUN = dict(k=2, repeats=2, epochs=2, reference_epochs=1, progress=False)


@pytest.fixture(scope="module")
def small():
    """20 digits per class, a small MLP trained 3 epochs on them, and its record."""
    alt.data_transformers.disable_max_rows()
    ds = lab.data.per_class(lab.load("digits"), 20, seed=0)
    model = lab.models.for_dataset(ds, "mlp", seed=0, hidden=(32,))
    record = lab.fit(model, ds, epochs=3, lr=0.1, seed=0, progress=False)
    return ds, model, record


@pytest.fixture(scope="module")
def controlled(small):
    ds, _, _ = small
    return lab.controlled_difficulty(ds, 0, **SMALL_RUN)


# --- charts -------------------------------------------------------------------------------------


def test_record_charts_show_the_record(small):
    ds, _, record = small
    acc = viz.accuracy(record)
    assert len(acc.data) == 2 * 3
    np.testing.assert_allclose(acc.data[acc.data.set == "test"].accuracy, record.test_accuracy)
    curves = viz.error_curves(record, {"easy": [0, 1], "hard": [5]})
    assert len(curves.data) == 3 * 3
    np.testing.assert_allclose(curves.data[curves.data["sample"] == 5].l2_error, record.l2_error[:, 5])
    _spec_renders(acc)
    _spec_renders(curves)


def test_gallery_ranks_in_the_browser_by_class(small):
    ds, _, record = small
    d = lab.difficulty(record)
    chart = viz.gallery(ds.x_train, ds.y_train, d, n=4, class_names=ds.class_names)
    spec = chart.to_dict()
    (rows,) = spec["datasets"].values()  # one table, shared by both rows of the gallery
    assert len(rows) == ds.n_train and all(row["image"].startswith("data:image/png") for row in rows)
    assert spec["params"][0]["bind"]["options"] == ["all", *ds.class_names]
    text = str(spec)
    assert "datum.rank <= 4" in text and "'descending'" in text and "'ascending'" in text
    _spec_renders(chart)
    with pytest.raises(ValueError, match="one entry per sample"):
        viz.gallery(ds.x_train, ds.y_train, d[:-1])


def test_structure_scatter_drops_undefined_samples(small):
    ds, model, record = small
    structure = mean_cosine(lab.lpntk(model, ds.x_train, ds.y_train, within_class=True, progress=False))
    structure[3] = np.nan
    chart = viz.structure_scatter(lab.difficulty(record), structure, ds.y_train, images=ds.x_train)
    assert len(chart.data) == ds.n_train - 1 and 3 not in set(chart.data["sample"])
    _spec_renders(chart)


def test_size_heatmap(small):
    ds, _, _ = small
    sizes = lab.size_experiment(ds, (2, 4), epochs=2, seeds=(0, 1), n_boot=50, progress=False)
    chart = viz.size_heatmap(sizes.table)
    assert len(chart.data) == 3 and chart.data.interval.str.match(r"\[-?\d\.\d\d, -?\d\.\d\d\]").all()
    _spec_renders(chart)


def test_controlled_curves_band_is_mean_plus_minus_std(controlled):
    chart = viz.controlled_curves(controlled)
    data = chart.data
    assert len(data) == 3 * 2 and data.epoch.min() == 1
    np.testing.assert_allclose(data.high - data.low, 2 * data.difficulty_std)
    _spec_renders(chart)


# --- the controlled-difficulty app ------------------------------------------------------------------


def test_target_index(small):
    ds, _, _ = small
    labels = ds.y_train.numpy()
    assert app.target_index(ds, "3", 2) == np.flatnonzero(labels == 3)[2]
    with pytest.raises(ValueError, match="unknown class"):
        app.target_index(ds, "eleven", 0)
    with pytest.raises(ValueError, match="from 0 to 19"):
        app.target_index(ds, "3", 20)
    no_nines = ds.select(np.flatnonzero(labels != 9))
    with pytest.raises(ValueError, match="no training samples"):
        app.target_index(no_nines, "9", 0)


def test_run_controlled_reports_instead_of_raising(small, controlled):
    ds, _, _ = small
    result, message = app.run_controlled(ds, 0, **{**SMALL_RUN, "k": 7})
    assert result is None and message.startswith("Cannot run") and "k <= 6" in message
    text = app.summary(controlled)
    assert text.startswith("target #0") and all(name in text for name in ("interchangeable", "median", "contradictory"))


def test_controlled_app_runs_and_handles_bad_states(small):
    ds, _, _ = small
    view = app.controlled_app(ds, k=2, repeats=2, epochs=2)
    view.controls["class_name"].value = "4"
    view.controls["run"].click()
    assert view.state["result"] is not None and view.state["result"].label == 4
    assert view.state["chart"] is not None and "interchangeable: difficulty" in view.message.value
    view.controls["k"].value = 10  # 3 k must fit in the 19 other samples of the class
    view.controls["run"].click()
    assert view.state["result"] is None and "too large" in view.message.value
    view.controls["position"].value = 50
    view.controls["run"].click()
    assert "choose a position from 0 to 19" in view.message.value
    view.state["busy"] = True
    view.controls["run"].click()
    assert "already going" in view.message.value


# --- the lesson's exercises ----------------------------------------------------------------------


def test_notebook_solutions_pass_their_checks(small):
    ds, model, record = small
    W = lab.lpntk(model, ds.x_train, ds.y_train, within_class=True, progress=False)
    namespace = {"np": np, "lab": lab, "record": record, "W": W, "structure": mean_cosine(W)}
    assert run_exercises(NOTEBOOK, namespace) == 2
