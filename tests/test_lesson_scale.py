"""lpntk_lab.viz.scale: memory footprints, projection error, cluster tails (lesson 06_scale_up)."""

import numpy as np
import pandas as pd
import pytest

import lpntk_lab as lab
from lpntk_lab.clustering import fpc
from lpntk_lab.kernels import WithinClassKernel
from lpntk_lab.viz import scale


def within_class(blocks: dict[int, np.ndarray]) -> WithinClassKernel:
    """A WithinClassKernel whose classes are laid out one after the other."""
    sizes = {k: len(b) for k, b in blocks.items()}
    labels = np.repeat(list(sizes), list(sizes.values()))
    indices = {k: np.flatnonzero(labels == k) for k in sizes}
    return WithinClassKernel(labels, indices, blocks)


def gram(n: int, dim: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed).normal(size=(n, dim))
    return g @ g.T


@pytest.fixture(scope="module")
def exact():
    return within_class({0: gram(6, 4, 0), 1: gram(5, 4, 1)})


# --- footprint -------------------------------------------------------------------------------------


def test_footprint_counts_bytes():
    table = scale.footprint([3, 5], n_params=100, proj_dim=16, name="toy")
    assert list(table.index) == ["full Gram", "within-class blocks", "exact features", "projected features"]
    assert table["bytes"].tolist() == [8 * 8 * 8, (9 + 25) * 8, 8 * 100 * 4, 8 * 16 * 4]
    assert set(table["data"]) == {"toy"}


def test_footprint_matches_the_lesson_solution():
    class_counts = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    table = scale.footprint(class_counts, n_params=101_770, proj_dim=1024, name="MNIST")
    assert table.loc["within-class blocks", "bytes"] == int((class_counts**2).sum()) * 8
    assert table.loc["full Gram", "bytes"] == 60_000**2 * 8


@pytest.mark.parametrize("bad", [dict(class_counts=[]), dict(class_counts=[3, -1]), dict(class_counts=[0, 0]),
                                 dict(n_params=0), dict(proj_dim=2.5)])
def test_footprint_rejects_bad_input(bad):
    kwargs = dict(class_counts=[3, 5], n_params=10, proj_dim=4, name="x") | bad
    with pytest.raises(ValueError):
        scale.footprint(kwargs.pop("class_counts"), **kwargs)


def test_footprint_chart_has_every_bar_and_the_budget():
    table = pd.concat([scale.footprint([3, 5], n_params=100, proj_dim=16, name=n) for n in ("a", "b")])
    spec = scale.footprint_chart(table, budget_bytes=1024**3).to_dict()
    bars, rule, _ = spec["layer"]
    datasets = spec["datasets"]
    assert len(datasets[bars["data"]["name"]]) == 8
    assert datasets[rule["data"]["name"]][0]["GB"] == pytest.approx(1.0)
    smallest = min(row["GB"] for row in datasets[bars["data"]["name"]])
    assert 0 < bars["encoding"]["x2"]["datum"] <= smallest, "log-scale bars need a positive start"


# --- projection error ------------------------------------------------------------------------------


def test_identical_kernels_have_no_error(exact):
    errors = scale.projection_error(exact, exact)
    assert errors == {"relative_error": 0.0, "cosine_error": 0.0, "relation_agreement": 1.0}


def test_a_scaled_kernel_keeps_cosines_and_relations(exact):
    scaled = within_class({k: 1.1 * b for k, b in exact.blocks.items()})
    errors = scale.projection_error(exact, scaled)
    assert errors["relative_error"] == pytest.approx(0.1)
    assert errors["cosine_error"] == pytest.approx(0.0, abs=1e-12)
    assert errors["relation_agreement"] == 1.0


def test_relation_agreement_counts_flipped_pairs():
    exact = within_class({0: np.array([[1.0, 0.9], [0.9, 1.0]]), 1: np.array([[1.0, 0.9], [0.9, 1.0]])})
    flipped = within_class({0: np.array([[1.0, -0.9], [-0.9, 1.0]]), 1: exact[1]})
    errors = scale.projection_error(exact, flipped)
    assert errors["relation_agreement"] == 0.5
    assert errors["cosine_error"] == pytest.approx(0.9)


def test_projection_error_rejects_other_samples(exact):
    other = within_class({0: exact[0], 2: exact[1]})
    with pytest.raises(ValueError, match="different samples"):
        scale.projection_error(exact, other)
    with pytest.raises(TypeError, match="WithinClassKernel"):
        scale.projection_error(exact, exact[0])


def test_projected_lpntk_error_shrinks_with_proj_dim():
    ds = lab.data.per_class(lab.load("digits"), 12, seed=0)
    model = lab.models.for_dataset(ds, "mlp", seed=0)
    W = lab.lpntk(model, ds.x_train, ds.y_train, within_class=True, progress=False)
    errors = [
        scale.projection_error(W, lab.lpntk(model, ds.x_train, ds.y_train, within_class=True, method="projected",
                                            proj_dim=d, progress=False))["relative_error"]
        for d in (16, 4096)
    ]
    assert errors[1] < errors[0] / 4


def test_error_chart_has_both_measures_and_the_reference_slope():
    errors = pd.DataFrame({"proj_dim": [64, 256], "relative_error": [0.4, 0.2], "cosine_error": [0.1, 0.05],
                           "seconds": [0.1, 0.2]})
    spec = scale.error_chart(errors).to_dict()
    measured, slope = (spec["datasets"][layer["data"]["name"]] for layer in spec["layer"])
    assert {row["measure"] for row in measured} == {"relative_error", "cosine_error"}
    assert [row["error"] for row in slope] == pytest.approx([0.4, 0.2])
    with pytest.raises(ValueError, match="cosine_error"):
        scale.error_chart(errors.drop(columns="cosine_error"))


# --- cluster tails ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clusterings(exact):
    return {"all": fpc(exact, n_clusters=5, progress=False), "few": fpc(exact, n_clusters=1, progress=False)}


def test_tail_summary(clusterings):
    table = scale.tail_summary(clusterings)
    assert list(table.index) == ["all", "few"]
    assert table.loc["few", "clusters"] == 2 and table.loc["few", "largest_share"] == 1.0
    assert table.loc["all", "points"] == 11 and table.loc["all", "clusters"] == 10


def test_tail_chart_data(clusterings):
    spec = scale.tail_chart(clusterings).to_dict()
    rows = pd.DataFrame(spec["datasets"][spec["data"]["name"]])
    few = rows[rows["clustering"] == "few"]
    assert few["size_share"].tolist() == [1.0, 1.0] and few["rank_share"].tolist() == [0.5, 1.0]
    shares = rows[rows["clustering"] == "all"]["size_share"].to_numpy()
    assert (np.diff(shares) <= 0).all()


def test_tails_reject_bad_input(exact):
    with pytest.raises(ValueError):
        scale.tail_summary({})
    with pytest.raises(TypeError, match="Clustering"):
        scale.tail_chart({"kernel": exact})
