"""Lessons 00 and 01: the one-step charts, the one-step explorer app, and the notebooks' exercises."""

import json
import re
from pathlib import Path

import altair as alt
import ipywidgets as widgets
import numpy as np
import pytest

import lpntk_lab as lab
from lpntk_lab.viz import one_step as charts
from lpntk_lab.widgets import one_step as explorer_app

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LRS = (0.01, 0.1, 1.0)


@pytest.fixture(scope="module")
def trained():
    """A digits MLP trained for 2 epochs, and 8 training samples of every class (80)."""
    ds = lab.load("digits")
    model = lab.models.for_dataset(ds, kind="mlp", seed=0)
    lab.fit(model, ds, epochs=2, lr=0.1, seed=0, progress=False)
    sub = lab.data.per_class(ds, 8, seed=0)
    return model, sub.x_train, sub.y_train, ds.class_names


@pytest.fixture(scope="module")
def sweep(trained):
    model, x, y, _ = trained
    return lab.one_step_sweep(model, x, y, 3, list(LRS))


@pytest.fixture(scope="module")
def explorer(trained):
    model, x, y, names = trained
    return explorer_app.prepare(model, x, y, class_names=names, lrs=LRS)


def find(box, kind, description=None):
    """The one widget of type ``kind`` (and ``description``) inside the container ``box``."""
    found = []

    def walk(widget):
        if isinstance(widget, kind) and description in (None, getattr(widget, "description", None)):
            found.append(widget)
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(box)
    assert len(found) == 1, f"expected one {kind.__name__} {description!r}, found {len(found)}"
    return found[0]


# ---------------------------------------------------------------- charts


def test_step_frame_has_one_row_per_sample_and_flags_u(sweep, trained):
    _, _, y, names = trained
    step = sweep.steps[0]
    frame = charts.step_frame(step, y.numpy(), class_names=names, images=["img"] * len(y))
    assert len(frame) == len(y) and frame.is_u.sum() == 1 and frame["sample"][frame.is_u].item() == 3
    np.testing.assert_array_equal(frame.kappa, step.lpntk)  # default: the raw lpNTK column
    np.testing.assert_array_equal(frame.helped, step.actual > 0)
    assert frame.same_class.sum() == np.sum(y.numpy() == y[3].item())
    assert list(frame["class"].cat.categories) == list(names)


def test_step_frame_rejects_mismatched_lengths(sweep, trained):
    _, _, y, names = trained
    with pytest.raises(ValueError, match="must match"):
        charts.step_frame(sweep.steps[0], y.numpy()[:-1], class_names=names)


def test_step_charts_has_two_panels_sharing_a_legend_selection(sweep, trained):
    _, _, y, names = trained
    frame = charts.step_frame(sweep.steps[0], y.numpy(), class_names=names)
    spec = charts.step_charts(frame, kernel_title="centred lpNTK").to_dict()
    assert len(spec["hconcat"]) == 2
    assert "centred lpNTK" in json.dumps(spec["hconcat"][1])
    assert "class_pick" in json.dumps(spec)


def test_sweep_frame_and_chart(sweep):
    frame = charts.sweep_frame([sweep, sweep])
    assert len(frame) == 2 * len(LRS) * 3 and set(frame.lr) == set(LRS)
    r = frame[frame.metric.str.startswith("r ")].value.to_numpy()
    np.testing.assert_allclose(r[: len(LRS)], sweep.pearson_r)
    spec = charts.sweep_chart(sweep, lr=0.1).to_dict()
    assert len(spec["layer"]) == 3  # band, mean line, the rule at lr
    with pytest.raises(ValueError, match="at least one"):
        charts.sweep_frame([])


def test_picker_lays_out_one_row_per_class(trained):
    _, _, y, names = trained
    labels = y.numpy()
    chart = charts.picker(labels, ["img"] * len(labels), class_names=names)
    data = chart.data
    assert (data.groupby("class", observed=True).column.max() == 7).all()  # 8 per class: columns 0..7
    assert "pick" in json.dumps(chart.to_dict())
    with pytest.raises(ValueError, match="one image per sample"):
        charts.picker(labels, ["img"], class_names=names)


def test_sign_summary_on_a_hand_made_kernel():
    labels = np.array([0, 0, 1])
    K = np.array([[2.0, 1.0, -1.0], [1.0, 2.0, 1.0], [-1.0, 1.0, 2.0]])
    table = charts.sign_summary({"k": K}, labels)
    assert list(table.pairs) == ["same class", "other class"]
    assert list(table.n_pairs) == [1, 2]
    assert list(table.share_positive) == [1.0, 0.5] and list(table.majority_sign) == [1, 1]
    with pytest.raises(ValueError, match="shape"):
        charts.sign_summary({"k": K[:2, :2]}, labels)


def test_sign_summary_raw_is_positive_across_classes_centred_is_not(explorer):
    table = charts.sign_summary({"raw": explorer.kernels[False], "centred": explorer.kernels[True]},
                                explorer.labels)
    signs = dict(zip(zip(table.kernel, table.pairs), table.majority_sign))
    assert signs == {("raw", "same class"): 1, ("raw", "other class"): 1,
                     ("centred", "same class"): 1, ("centred", "other class"): -1}


def test_cosine_heatmap_packs_the_cosines_sorted_by_class():
    labels = np.array([1, 0, 1])
    K = np.array([[4.0, 0.0, 2.0], [0.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    spec = charts.cosine_heatmap(K, labels, class_names=["a", "b"]).to_dict()
    cells = [float(v) for v in spec["data"]["values"][0]["cells"].split(",")]
    # order: sample 1 (class a), then 0 and 2 (class b); cos(0, 2) = 2 / sqrt(4 * 1) = 1
    np.testing.assert_allclose(np.reshape(cells, (3, 3)), [[1, 0, 0], [0, 1, 1], [0, 1, 1]])


# ---------------------------------------------------------------- the explorer


def test_prepare_validates_and_computes_both_kernels(explorer, trained):
    model, x, y, names = trained
    raw, centred = explorer.kernels[False], explorer.kernels[True]
    assert raw.shape == centred.shape == (len(y), len(y))
    np.testing.assert_allclose(raw, raw.T, rtol=1e-9)
    assert len(explorer.images) == len(y)
    with pytest.raises(ValueError, match="at least 2 samples"):
        explorer_app.prepare(model, x[:1], y[:1], class_names=names)
    with pytest.raises(ValueError, match="positive"):
        explorer_app.prepare(model, x, y, class_names=names, lrs=[0.1, -1.0])


def test_view_uses_the_chosen_step_and_kernel(explorer):
    shown = explorer_app.view(explorer, 5, 0.1, centred=True)
    step = explorer_app.sweep_for(explorer, 5).steps[1]
    np.testing.assert_array_equal(shown.frame.actual, step.actual)
    np.testing.assert_array_equal(shown.frame.kappa, explorer.kernels[True][:, 5])
    assert "centred lpNTK" in shown.summary and "sample <b>5</b>" in shown.summary
    assert explorer_app.sweep_for(explorer, 5) is explorer.sweeps[5]  # computed once
    with pytest.raises(ValueError, match="not on the grid"):
        explorer_app.view(explorer, 5, 0.5, centred=False)


def test_picked_sample_reads_a_click():
    assert explorer_app.picked_sample(None) is None
    assert explorer_app.picked_sample(type("S", (), {"value": []})()) is None
    assert explorer_app.picked_sample(type("S", (), {"value": [{"sample": 7}]})()) == 7


@pytest.fixture(scope="module")
def app(trained):
    model, x, y, names = trained
    return explorer_app.app(model, x, y, class_names=names, lrs=LRS, u=2)


def scatter_data(box):
    charts_in_box = [w for w in box.children if isinstance(w, alt.JupyterChart)]
    return charts_in_box[1].chart.hconcat[0].layer[1].layer[1].data  # the predicted panel's points


def test_app_starts_on_u_and_redraws_on_every_control(app, trained):
    _, _, y, _ = trained
    sample = find(app, widgets.IntSlider, "sample u")
    rate = find(app, widgets.SelectionSlider, "learning rate η")
    centred = find(app, widgets.Checkbox)
    summary = app.children[2]
    assert sample.value == 2 and rate.value == 0.01 and "sample <b>2</b>" in summary.value
    before = scatter_data(app).actual.to_numpy()
    rate.value = 1.0
    assert not np.allclose(scatter_data(app).actual, before)
    centred.value = True
    assert "centred lpNTK" in summary.value
    sample.value = 9
    assert "sample <b>9</b>" in summary.value and scatter_data(app).is_u.to_numpy()[9]


def test_app_charts_render_offline(app):
    chart_widgets = [w for w in app.children if isinstance(w, alt.JupyterChart)]
    assert len(chart_widgets) == 3
    assert all("esm.sh" not in w._esm and "https://" not in w._esm[:1000] for w in chart_widgets)


def test_app_clicking_the_grid_moves_the_slider(app):
    grid = app.children[0]
    grid._vl_selections = {"pick": {"value": {"vlPoint": {"or": [{"sample": 11}]}}, "store": []}}
    assert find(app, widgets.IntSlider, "sample u").value == 11


def test_app_reports_a_failing_step_without_raising(trained, monkeypatch):
    model, x, y, names = trained
    box = explorer_app.app(model, x, y, class_names=names, lrs=LRS)

    def broken(*args, **kwargs):
        raise ValueError("the model returned NaN")

    monkeypatch.setattr(explorer_app, "one_step_sweep", broken)
    find(box, widgets.IntSlider, "sample u").value = 20
    message = box.children[3].value
    assert "Could not take the step" in message and "NaN" in message


# ---------------------------------------------------------------- the notebooks


def cells(name):
    return json.loads((NOTEBOOKS / name).read_text())["cells"]


def is_check(cell):
    return cell["cell_type"] == "code" and "lab.course.check(" in source(cell)


def source(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("name", ["00_start_here.ipynb", "01_one_step.ipynb"])
def test_notebook_is_committed_clean(name):
    nb = json.loads((NOTEBOOKS / name).read_text())
    assert nb["metadata"]["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    # every exercise check may raise until solved, and has a solution folded after it
    checks = [i for i, c in enumerate(nb["cells"]) if is_check(c)]
    assert checks
    for i in checks:
        assert "raises-exception" in nb["cells"][i]["metadata"].get("tags", [])
        assert "<details><summary>Solution</summary>" in source(nb["cells"][i + 1])


def solution(name, check_index):
    """The python code block of the solution folded after the check cell."""
    text = source(cells(name)[check_index + 1])
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def check_cells(name):
    return [i for i, c in enumerate(cells(name)) if is_check(c)]


def test_start_here_solution_passes_its_check(explorer, capsys):
    (i,) = check_cells("00_start_here.ipynb")
    scope = {"np": np, "lab": lab, "K": explorer.kernels[False]}
    exec(solution("00_start_here.ipynb", i), scope)
    exec(source(cells("00_start_here.ipynb")[i]), scope)
    assert "✓ cosine" in capsys.readouterr().out


def test_one_step_solutions_pass_their_checks(trained, capsys):
    model, x, y, _ = trained
    scope = {"np": np, "lab": lab, "model": model, "x": x, "y": y, "ds": lab.load("digits")}
    for i in check_cells("01_one_step.ipynb"):
        exec(solution("01_one_step.ipynb", i), scope)
        exec(source(cells("01_one_step.ipynb")[i]), scope)
    out = capsys.readouterr().out
    assert "✓ s(y)" in out and "✓ majority signs" in out
