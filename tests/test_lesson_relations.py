"""Lesson 2 (relations): the chart data, the UMAP map, the pair browser and the exercise's solution."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import altair as alt
import numpy as np
import pytest
import torch

import lpntk_lab as lab
from lpntk_lab.viz import embedding
from lpntk_lab.viz import relations as viz
from lpntk_lab.widgets import relations as app

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_relations.ipynb"


# --- helpers shared with the other lesson tests -------------------------------------------------------


def _solution_sections(nb: dict) -> dict[str, str]:
    """``{"Exercise N": code}`` from the notebook's collapsible solution block."""
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "<summary>Solution</summary>" in text:
            block = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
            parts = re.split(r"^# (Exercise \d+)\n", block, flags=re.M)
            return dict(zip(parts[1::2], parts[2::2]))
    raise AssertionError("the notebook has no solution block")


def run_exercises(path: Path, namespace: dict) -> int:
    """Run every ``# Exercise N`` cell of a notebook with its solution pasted in; return how many passed.

    The solution replaces the cell's ``name = None`` line, as the notebook tells the student to do;
    a wrong solution raises (``lab.course.check``), a missing check fails the test.
    """
    nb = json.loads(path.read_text())
    solutions = _solution_sections(nb)
    passed = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        header = re.match(r"# (Exercise \d+)\n", source)
        if cell["cell_type"] != "code" or not header:
            continue
        code = re.sub(r"^\w+ = None\b.*$", solutions[header.group(1)].strip(), source, count=1, flags=re.M)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{path.name}:{header.group(1)}", "exec"), namespace)
        assert "✓" in out.getvalue(), f"{header.group(1)} printed {out.getvalue()!r}"
        passed += 1
    return passed


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """A digits MLP trained one epoch, and 4 samples per class to relate."""
    alt.data_transformers.disable_max_rows()
    ds = lab.load("digits")
    model = lab.models.for_dataset(ds, "mlp", seed=0, hidden=(32,))
    lab.fit(model, ds, epochs=1, lr=0.1, seed=0, progress=False)
    sub = lab.data.per_class(ds, 4, seed=0)
    return ds, model, sub.x_train, sub.y_train


def _spec_renders(chart) -> None:
    import vl_convert

    assert vl_convert.vegalite_to_svg(chart.to_dict()).startswith("<svg")


def _gram(n: int = 6, dim: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random Gram kernel ``G Gᵀ`` and its vectors ``G``."""
    g = np.random.default_rng(seed).normal(size=(n, dim))
    return g @ g.T, g


# --- kernels as contractions ----------------------------------------------------------------------


def test_contractions_are_the_package_kernels(trained):
    _, model, x, y = trained
    kernels = viz.contractions(model, x, y)
    assert list(kernels) == list(viz.KERNELS)
    scale = np.abs(kernels["lpNTK"]).max()
    np.testing.assert_allclose(kernels["lpNTK"], lab.lpntk(model, x, y, progress=False), rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(kernels["lpNTK, centred"], lab.lpntk(model, x, y, centred=True, progress=False),
                               rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(kernels["pNTK"], lab.pntk(model, x, progress=False), rtol=1e-4, atol=1e-6 * scale)


def test_error_kernel_uses_the_true_errors(trained):
    _, model, x, y = trained
    theta = lab.entk(model, x, progress=False)
    with torch.no_grad():
        errors = np.eye(10)[y.numpy()] - torch.softmax(model.eval()(x), 1).double().numpy()
    expected = np.einsum("ia,ijab,jb->ij", errors, theta, errors)
    got = viz.contractions(model, x, y)["eNTK · errors"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())  # float32 model


def test_off_identity_share_is_zero_for_identity_blocks_only():
    k = _gram(5)[0]
    identity_blocks = k[:, :, None, None] * np.eye(3)
    assert viz._off_identity(identity_blocks) == pytest.approx(0.0, abs=1e-12)
    mixed = identity_blocks + 0.5 * k[:, :, None, None]  # an all-ones part in every block
    assert 0 < viz._off_identity(mixed) < 1


def test_gap_and_width_sweep(trained):
    ds, model, x, y = trained
    gap = viz.gap(model, x, y)
    assert list(gap) == list(viz.GAP_METRICS)
    assert all(-1 <= v <= 1 for v in gap.values())
    table = viz.width_sweep(ds, (4, 8), n_per_class=2, epochs=1, seeds=(0,), progress=False)
    assert len(table) == 2 * 2 * len(viz.GAP_METRICS)
    assert set(table.stage) == {"initialisation", "trained"} and set(table.width) == {4, 8}
    _spec_renders(viz.gap_chart(table))


# --- cosine histogram and heatmaps ---------------------------------------------------------------


def test_cosine_bins_count_every_pair_once():
    K, _ = _gram(8)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    table = viz.cosine_bins({"a": K, "b": 2 * K}, labels, bins=10)
    same = table[(table.kernel == "a") & (table.pairs == "same class")]
    cross = table[(table.kernel == "a") & (table.pairs == "different classes")]
    assert same["count"].sum() == 3 + 1 + 3 and cross["count"].sum() == 28 - 7
    for _, group in table.groupby(["kernel", "pairs"]):
        assert group.share.sum() == pytest.approx(1.0)
    # a scaled kernel has the same cosines
    np.testing.assert_array_equal(table[table.kernel == "a"]["count"].values, table[table.kernel == "b"]["count"].values)


def test_histogram_and_heatmaps_render():
    K, _ = _gram(8)
    labels = np.array([0, 1, 0, 1, 2, 2, 0, 1])
    _spec_renders(viz.histogram({"lpNTK": K, "centred": K}, labels))
    chart = viz.heatmaps({"one": K, "two": -K + 2 * np.diag(np.diag(K))}, labels)
    table = viz._heatmap_table({"one": K}, labels)
    assert len(table) == 64 and (np.diff(table.class_row.values[::8]) >= 0).all()  # rows sorted by class
    _spec_renders(chart)


# --- UMAP map ------------------------------------------------------------------------------------


def test_squared_distances_are_gradient_distances():
    K, g = _gram(7)
    expected = ((g[:, None] - g[None]) ** 2).sum(-1)
    np.testing.assert_allclose(embedding.squared_distances(K), expected, atol=1e-10)
    # rounding can make d² slightly negative for identical samples: clamped at 0
    twin = np.array([[1.0, 1.0 + 1e-12], [1.0 + 1e-12, 1.0]])
    assert (embedding.squared_distances(twin) >= 0).all()
    with pytest.raises(ValueError, match="symmetric"):
        embedding.squared_distances(np.triu(K))


def test_umap_coordinates_are_seeded_and_checked():
    K, _ = _gram(30, dim=5)
    first = embedding.umap_coordinates(K, n_neighbors=5, seed=3)
    again = embedding.umap_coordinates(K, n_neighbors=5, seed=3)
    assert first.shape == (30, 2) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="at least 4"):
        embedding.umap_coordinates(np.eye(3))
    with pytest.raises(ValueError, match="n_neighbors"):
        embedding.umap_coordinates(K, n_neighbors=1)


def test_map_chart_data():
    coords = np.random.default_rng(0).normal(size=(5, 2))
    labels = np.array([0, 1, 1, 2, 0])
    images = torch.rand(5, 1, 4, 4)
    by_class = embedding.chart(coords, labels, images=images, class_names=["a", "b", "c"])
    assert list(by_class.data["class"]) == ["a", "b", "b", "c", "a"]
    assert by_class.data["image"].str.startswith("data:image/png;base64,").all()
    by_value = embedding.chart(coords, labels, values=np.arange(5.0), value_title="mean cosine")
    assert list(by_value.data["value"]) == [0, 1, 2, 3, 4]
    _spec_renders(by_value)
    with pytest.raises(ValueError, match="coords"):
        embedding.chart(coords[:3], labels)


# --- pair browser --------------------------------------------------------------------------------


def _two_class_duplicates():
    """Two classes; sample 2 is sample 0 with the other label (raw cosine -1 on any model)."""
    g = np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [0.0, 1.0]])
    return g @ g.T, np.array([0, 0, 1, 1])


def test_pair_gallery_shows_pairs_or_says_why_not():
    K, labels = _two_class_duplicates()
    urls = [f"data:image/png;base64,{i}" for i in range(4)]
    html = app.pair_gallery(K, labels, urls, kind="contradictory", n=2, class_names=["zero", "one"])
    assert "contradictory pair(s)" in html and "-1.000" in html and "class one" in html
    positive = np.abs(K) + np.eye(4)  # no negative cosine at all
    assert "No contradictory pairs" in app.pair_gallery(positive, labels, urls, kind="contradictory")
    assert "centred" in app.pair_gallery(positive, labels, urls, kind="contradictory")
    assert "one image per sample" in app.pair_gallery(K, labels, urls[:3], kind="unrelated")
    assert "unknown scope" in app.pair_gallery(K, labels, urls, kind="unrelated", scope="nearby")
    assert "n must be" in app.pair_gallery(K, labels, urls, kind="unrelated", n=0)


def test_pair_browser_recomputes_on_every_control(trained):
    ds, model, x, y = trained
    K = lab.lpntk(model, x, y, progress=False)
    Kc = lab.lpntk(model, x, y, centred=True, progress=False)
    browser = app.pair_browser({"lpNTK": K, "lpNTK, centred": Kc}, y, x, class_names=ds.class_names)
    assert "interchangeable pair(s)" in browser.gallery.value
    browser.controls["kind"].value = "contradictory"
    assert "No contradictory pairs" in browser.gallery.value
    browser.controls["kernel"].value = "lpNTK, centred"
    assert "contradictory pair(s)" in browser.gallery.value
    browser.controls["n"].value = 2
    assert browser.gallery.value.count("cosine <b>") == 2
    browser.controls["scope"].value = "same class"
    assert "No contradictory pairs among same class" in browser.gallery.value


# --- the lesson's exercises ----------------------------------------------------------------------


def test_notebook_solutions_pass_their_checks(trained):
    ds, model, x, y = trained
    assert run_exercises(NOTEBOOK, {"np": np, "lab": lab, "ds": ds, "model": model, "x": x, "y": y}) == 2
