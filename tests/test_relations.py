"""Relations from the cosine of a kernel: known cases, counts, neighbours, examples, bad input."""

import numpy as np
import pytest
import torch
from torch import nn

import lpntk_lab as lab
from lpntk_lab import relations
from lpntk_lab.relations import KINDS, Pair, Relation, classify, cosine, counts, example_pairs, neighbours


def gram(angles_deg):
    """Gram matrix of unit vectors in the plane at the given angles: cos_ij = cos(θ_i − θ_j)."""
    theta = np.deg2rad(np.asarray(angles_deg, dtype=float))
    vectors = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return vectors @ vectors.T


# cosines to sample 0: 1 (same direction), .906, .574, 0, −.574, −1 (none on a default threshold)
ANGLES = [0, 0, 25, 55, 90, 125, 180]
LABELS = np.array([0, 0, 0, 1, 1, 2, 2])


@pytest.fixture(scope="module")
def digits():
    """A digits MLP trained for 2 epochs, 20 samples per class and their lpNTK."""
    ds = lab.load("digits")
    model = lab.models.for_dataset(ds, kind="mlp", seed=0)
    lab.fit(model, ds, epochs=2, lr=0.1, seed=0, progress=False)
    sub = lab.data.per_class(ds, 20, seed=0)
    return model, sub.x_train, sub.y_train, lab.lpntk(model, sub.x_train, sub.y_train, progress=False)


# --- cosine -------------------------------------------------------------------------------------


def test_cosine_of_a_gram_matrix_is_the_angle_between_vectors():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(6, 4)) * rng.uniform(0.1, 10, size=(6, 1))
    unit = F / np.linalg.norm(F, axis=1, keepdims=True)
    np.testing.assert_allclose(cosine(F @ F.T), unit @ unit.T, atol=1e-12)
    np.testing.assert_array_equal(np.diag(cosine(F @ F.T)), 1.0)


def test_a_zero_vector_has_zero_cosine_with_everything_itself_included():
    F = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    cos = cosine(F @ F.T)
    np.testing.assert_array_equal(cos[1], 0.0)
    np.testing.assert_array_equal(cos[:, 1], 0.0)
    assert cos[0, 2] == pytest.approx(2**-0.5)


# --- the known cases ----------------------------------------------------------------------------


def test_a_duplicated_sample_is_interchangeable_with_its_copy(digits):
    model, x, y, _ = digits
    x, y = torch.cat([x[:5], x[2:3]]), torch.cat([y[:5], y[2:3]])
    K = lab.lpntk(model, x, y, progress=False)
    assert cosine(K)[2, 5] == pytest.approx(1.0, abs=1e-6)
    assert classify(K)[2, 5] == Relation.INTERCHANGEABLE
    assert neighbours(K, 2, 1)[0] == 5


@pytest.mark.parametrize("make", [lambda: lab.models.MLP(64, 2, hidden=(32,)), lambda: lab.models.LeNet5(1, 8, 2)])
def test_the_same_input_with_the_other_label_is_contradictory_with_two_classes(make, digits):
    """With C = 2, s(1) = −s(0): the relabelled copy has cos = −1 on any model."""
    _, x, _, _ = digits
    torch.manual_seed(0)
    model = make()
    K = lab.lpntk(model, torch.cat([x[:1], x[:1]]), torch.tensor([0, 1]), progress=False)
    assert cosine(K)[0, 1] == pytest.approx(-1.0, abs=1e-6)
    assert classify(K)[0, 1] == Relation.CONTRADICTORY


def test_with_ten_classes_the_raw_lpntk_of_a_relabelled_copy_stays_positive(digits):
    """A measured limitation (docs/relations_and_one_step.md): s(y)·s(y') = C − 4 > 0 for C = 10."""
    model, x, _, _ = digits
    K = lab.lpntk(model, x[:1].expand(10, -1, -1, -1), torch.arange(10), progress=False)
    off_diagonal = cosine(K)[~np.eye(10, dtype=bool)]
    assert (off_diagonal > 0).all()


def test_disjoint_supports_on_a_linear_model_without_bias_are_exactly_unrelated():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3, bias=False))
    x = torch.zeros(2, 1, 4, 4)
    x[0, 0, :2] = torch.rand(2, 4) + 0.1  # top half only
    x[1, 0, 2:] = torch.rand(2, 4) + 0.1  # bottom half only
    K = lab.lpntk(model, x, torch.tensor([0, 0]), progress=False)
    assert cosine(K)[0, 1] == 0.0
    assert classify(K)[0, 1] == Relation.UNRELATED


# --- classify and counts ------------------------------------------------------------------------


def test_classify_applies_the_thresholds():
    K = gram(ANGLES) * 3.0
    row = classify(K)[0]  # cos: 1, 1, .906, .574, 0, −.574, −1
    np.testing.assert_array_equal(row, [1, 1, 1, 1, 0, -1, -1])
    np.testing.assert_array_equal(classify(K, interchangeable=0.95, contradictory=-0.6)[0], [1, 1, 0, 0, 0, 0, -1])
    assert classify(K).dtype == np.int8


def test_counts_per_class_pair_on_a_known_kernel():
    result = counts(gram(ANGLES), LABELS)
    c = result.counts
    assert c.shape == (3, 3, 3) and (c == c.transpose(1, 0, 2)).all()
    # class 0 = angles {0, 0, 25}: cos 1, .906, .906
    np.testing.assert_array_equal(c[0, 0], [0, 0, 3])
    # class 2 = {125, 180}: cos .574
    np.testing.assert_array_equal(c[2, 2], [0, 0, 1])
    # classes 0 × 1: {0, 0, 25} × {55, 90}: cos .574, 0, .574, 0, .866, .423
    np.testing.assert_array_equal(c[0, 1], [0, 3, 3])
    # classes 0 × 2: {0, 0, 25} × {125, 180}: cos −.574, −1, −.574, −1, −.174, −.906
    np.testing.assert_array_equal(c[0, 2], [6, 0, 0])
    # classes 1 × 2: {55, 90} × {125, 180}: cos .342, −.574, .819, 0
    np.testing.assert_array_equal(c[1, 2], [1, 2, 1])
    n = len(LABELS)
    assert c.sum(axis=-1)[np.triu_indices(3)].sum() == n * (n - 1) // 2
    assert result.within.sum() + result.cross.sum() == n * (n - 1) // 2
    np.testing.assert_allclose(result.fractions[1, 2], [0.25, 0.5, 0.25])
    assert len(result.rows()) == 6 * len(KINDS)


def test_counts_agree_with_a_direct_count_on_digits(digits):
    _, _, y, K = digits
    codes, labels = classify(K), y.numpy()
    result = counts(K, y)
    for a, b in [(0, 0), (3, 8), (8, 3)]:
        block = codes[np.ix_(labels == a, labels == b)]
        if a == b:
            block = block[np.triu_indices(len(block), k=1)]
        expected = [(block == code).sum() for code in (-1, 0, 1)]
        np.testing.assert_array_equal(result.counts[a, b], expected)


def test_a_class_of_one_sample_has_no_pairs_with_itself():
    result = counts(gram([0, 10, 20]), [0, 0, 1])
    assert np.isnan(result.fractions[1, 1]).all() and (result.counts[1, 1] == 0).all()


# --- neighbours and example pairs ---------------------------------------------------------------


def test_neighbours_rank_by_cosine_and_never_return_the_sample_itself():
    K = gram(ANGLES)
    np.testing.assert_array_equal(neighbours(K, 0, 3), [1, 2, 3])
    np.testing.assert_array_equal(neighbours(K, 0, 2, kind="contradictory"), [6, 5])
    assert neighbours(K, 0, 1, kind="unrelated")[0] == 4
    np.testing.assert_array_equal(neighbours(K, 0, 2, same_class=False, labels=LABELS), [3, 4])
    np.testing.assert_array_equal(neighbours(K, 0, 2, kind="contradictory", same_class=True, labels=LABELS), [2, 1])


def test_ties_go_to_the_lower_index():
    K = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    np.testing.assert_array_equal(neighbours(K, 2, 3), [0, 1, 3])


def test_example_pairs_are_of_the_kind_and_the_strongest_first():
    K = gram(ANGLES)
    strongest = example_pairs(K, LABELS, kind="contradictory", n=2)
    assert [(p.i, p.j) for p in strongest] == [(0, 6), (1, 6)]
    assert strongest[0] == Pair(0, 6, pytest.approx(-1.0))
    within = example_pairs(K, LABELS, kind="interchangeable", n=10, same_class=True)
    assert {(p.i, p.j) for p in within} == {(0, 1), (0, 2), (1, 2), (3, 4), (5, 6)}
    across = example_pairs(K, LABELS, kind="unrelated", classes=(1, 0))
    assert all({LABELS[p.i], LABELS[p.j]} == {0, 1} and abs(p.cosine) < 0.5 for p in across)


def test_random_example_pairs_are_seeded_and_of_the_kind(digits):
    _, _, y, K = digits
    first = example_pairs(K, y, kind="interchangeable", n=4, pick="random", seed=3)
    assert first == example_pairs(K, y, kind="interchangeable", n=4, pick="random", seed=3)
    assert first != example_pairs(K, y, kind="interchangeable", n=4, pick="random", seed=4)
    codes = classify(K)
    assert len(first) == 4 and all(codes[p.i, p.j] == Relation.INTERCHANGEABLE and p.i < p.j for p in first)
    assert example_pairs(K, y, kind="contradictory", pick="random") == []  # none under the raw lpNTK


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "K, error, match",
    [
        (np.ones((2, 3)), ValueError, "square"),
        (np.ones(3), ValueError, "square"),
        (np.ones((0, 0)), ValueError, "square"),
        (np.array([[1.0, 0.5], [0.2, 1.0]]), ValueError, "symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), ValueError, "NaN"),
        (np.array([[np.inf, 0.0], [0.0, 1.0]]), ValueError, "NaN or inf"),
        (np.array([[-1.0, 0.0], [0.0, 1.0]]), ValueError, "Gram"),
        ([["a", "b"], ["c", "d"]], TypeError, "numeric"),
    ],
)
def test_bad_kernels_are_refused(K, error, match):
    with pytest.raises(error, match=match):
        cosine(K)


@pytest.mark.parametrize("kwargs", [{"interchangeable": 0.1, "contradictory": 0.2}, {"interchangeable": 1.5},
                                    {"contradictory": -2}, {"interchangeable": True}, {"contradictory": float("nan")}])
def test_bad_thresholds_are_refused(kwargs):
    with pytest.raises(ValueError, match="interchangeable|contradictory"):
        classify(gram(ANGLES), **kwargs)


def test_bad_options_of_neighbours_and_examples_are_refused():
    K = gram(ANGLES)
    with pytest.raises(ValueError, match="only 6 sample"):
        neighbours(K, 0, 7)
    with pytest.raises(ValueError, match="only 2 sample"):
        neighbours(K, 0, 3, same_class=True, labels=LABELS)
    with pytest.raises(ValueError, match="labels"):
        neighbours(K, 0, 1, same_class=True)
    with pytest.raises(ValueError, match="unknown kind"):
        neighbours(K, 0, 1, kind="similar")
    with pytest.raises(ValueError, match="i=7 is out of range"):
        neighbours(K, 7, 1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        neighbours(K, 0, 0)
    with pytest.raises(ValueError, match="unknown kind"):
        example_pairs(K, LABELS, kind="interchangable")
    with pytest.raises(ValueError, match="unknown pick"):
        example_pairs(K, LABELS, kind="unrelated", pick="best")
    with pytest.raises(ValueError, match="classes"):
        example_pairs(K, LABELS, kind="unrelated", classes=(0, 3))
    with pytest.raises(ValueError, match="labels"):
        counts(K, LABELS[:-1])
    with pytest.raises(ValueError, match="labels"):
        counts(K, LABELS - 1)
    with pytest.raises(TypeError, match="integer"):
        counts(K, LABELS.astype(float))


def test_defaults_are_exported():
    assert (relations.INTERCHANGEABLE, relations.CONTRADICTORY) == (0.5, 0.0)
