"""Learning difficulty: sums by hand, structure on known kernels, Spearman, the two experiments."""

import numpy as np
import pytest
from scipy.stats import spearmanr

import lpntk_lab as lab
from lpntk_lab.learning_difficulty import (
    check_record,
    controlled_difficulty,
    difficulty,
    difficulty_curve,
    difficulty_vs_structure,
    interchangeable_count,
    mean_cosine,
    size_experiment,
    spearman,
)
from lpntk_lab.kernels import WithinClassKernel
from lpntk_lab.train import TrainingRecord


@pytest.fixture(scope="module")
def digits():
    return lab.load("digits")


@pytest.fixture(scope="module")
def small(digits):
    return lab.data.per_class(digits, 20)


def record_from(l2_error, loss, fingerprint="0"):
    l2_error = np.asarray(l2_error, dtype=np.float32)
    epochs, n = l2_error.shape
    return TrainingRecord(
        step=np.arange(epochs * n).reshape(epochs, n), loss=loss, l2_error=l2_error,
        correct=l2_error < 0.5, train_accuracy=np.zeros(epochs), test_accuracy=np.zeros(epochs),
        dataset="toy", data_fingerprint=fingerprint, batch_size=1, lr=0.1, momentum=0.0,
        weight_decay=0.0, seed=0,
    )


# --- difficulty from a record ---------------------------------------------------------------------

L2 = [[1.0, 0.5, 1.25], [0.5, 0.25, 1.0], [0.25, 0.0, 1.0]]  # rows: epochs; columns: samples
LOSS = [[2.0, 1.0, 3.0], [1.0, 0.5, 4.0], [0.5, 0.0, 5.0]]


def test_difficulty_sums_the_error_over_presentations():
    record = record_from(L2, LOSS)
    np.testing.assert_allclose(difficulty(record), [1.75, 0.75, 3.25])
    np.testing.assert_allclose(difficulty(record, kind="loss"), [3.5, 1.5, 12.0])
    np.testing.assert_allclose(difficulty_curve(record), [[1.0, 0.5, 1.25], [1.5, 0.75, 2.25], [1.75, 0.75, 3.25]])
    assert difficulty(record).dtype == np.float64


def test_difficulty_bad_input(digits):
    with pytest.raises(TypeError, match="TrainingRecord"):
        difficulty(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown difficulty kind 'l1'; choose one of l2, loss"):
        difficulty(record_from(L2, LOSS), kind="l1")
    with pytest.raises(ValueError, match="trained on other data.*pass the Dataset that was given to lab.fit"):
        check_record(record_from(L2, LOSS), digits)
    with pytest.raises(TypeError, match="ds must be a lpntk_lab Dataset"):
        check_record(record_from(L2, LOSS), "digits")


# --- structure on known kernels ---------------------------------------------------------------------

# g-vectors: class 0 holds two identical samples and an orthogonal one, class 1 a single sample
G = np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]])
LABELS = np.array([0, 0, 0, 1])


@pytest.mark.parametrize("as_blocks", [False, True])
def test_structure_within_class_only(as_blocks):
    K = G @ G.T
    if as_blocks:
        K = WithinClassKernel(LABELS, {0: np.arange(3), 1: np.array([3])}, {0: K[:3, :3], 1: K[3:, 3:]})
        labels = None
    else:
        K[:3, 3] = K[3, :3] = -100.0  # cross-class entries must be ignored
        labels = LABELS
    np.testing.assert_allclose(mean_cosine(K, labels), [0.5, 0.5, 0.0, np.nan])
    np.testing.assert_array_equal(interchangeable_count(K, labels), [1, 1, 0, 0])
    np.testing.assert_array_equal(interchangeable_count(K, labels, threshold=-1.0), [2, 2, 2, 0])


def test_structure_bad_input():
    with pytest.raises(ValueError, match="labels \\(N,\\) are needed"):
        mean_cosine(G @ G.T)
    with pytest.raises(ValueError, match="square"):
        mean_cosine(G, LABELS)
    with pytest.raises(ValueError, match="labels must have shape \\(4,\\)"):
        mean_cosine(G @ G.T, LABELS[:3])
    with pytest.raises(ValueError, match="threshold is a cosine"):
        interchangeable_count(G @ G.T, LABELS, threshold=1.5)


# --- Spearman ---------------------------------------------------------------------------------------


def test_spearman_on_known_data():
    x = np.arange(20.0)
    perfect = spearman(x, x**3)  # monotone: rho = 1 in every resample
    assert (perfect.rho, perfect.low, perfect.high, perfect.n) == (1.0, 1.0, 1.0, 20)
    assert spearman(x, -np.exp(x)).rho == pytest.approx(-1.0)
    # no ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 * 4 / 120
    known = spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert known.rho == pytest.approx(0.8)
    assert known.low <= known.rho <= known.high
    assert "rho = +0.800" in str(known)


def test_spearman_interval_is_seeded_and_covers_the_estimate():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    b = a + rng.normal(size=200)
    r = spearman(a, b, n_boot=500, seed=3)
    assert r == spearman(a, b, n_boot=500, seed=3)
    assert r.rho == pytest.approx(spearmanr(a, b).statistic)
    assert r.low < r.rho < r.high and r.high - r.low < 0.3
    assert r.p_value < 1e-6
    wider = spearman(a, b, n_boot=500, seed=3, confidence=0.99)
    assert wider.low <= r.low and wider.high >= r.high


def test_spearman_constant_and_bad_input():
    flat = spearman([1, 2, 3, 4], [5, 5, 5, 5])
    assert np.isnan(flat.rho) and np.isnan(flat.low) and flat.n == 4
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="NaN or infinite"):
        spearman([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="1-D"):
        spearman(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_boot must be an integer >= 1"):
        spearman([1, 2, 3], [1, 2, 3], n_boot=0)


# --- difficulty and structure on digits -------------------------------------------------------------


def test_difficulty_vs_structure_on_digits(small, digits):
    model = lab.models.for_dataset(small)
    record = lab.fit(model, small, epochs=5, lr=0.1, progress=False)
    table = difficulty_vs_structure(record, model, small, n_boot=200, progress=False)
    assert list(table.measure) == ["mean_cosine", "interchangeable_count"]
    assert (table.n == small.n_train).all()
    assert ((table.low <= table.rho) & (table.rho <= table.high)).all()
    K = lab.lpntk(model, small.x_train, small.y_train, progress=False)
    expected = spearmanr(difficulty(record), mean_cosine(K, small.y_train.numpy())).statistic
    assert table.rho[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="trained on other data"):
        difficulty_vs_structure(record, model, digits, progress=False)


# --- size experiment --------------------------------------------------------------------------------


def test_size_experiment_nests_subsets_and_correlates_difficulty(small):
    ex = size_experiment(small, (1, 4, 16), epochs=4, seeds=(0, 1), n_boot=100, progress=False)
    assert ex.sizes == (1, 4, 16) and ex.seeds == (0, 1)
    labels = small.y_train.numpy()
    for a, b in zip(ex.sizes, ex.sizes[1:]):
        assert set(ex.subsets[a]) < set(ex.subsets[b])  # nested
    for n, members in ex.subsets.items():
        assert (np.bincount(labels[members]) == n).all()
    assert ex.difficulty.shape == (3, 2, small.n_train)
    assert np.array_equal(np.isfinite(ex.difficulty[2, 0]), np.isin(np.arange(small.n_train), ex.subsets[16]))
    # one run by hand: size 4, seed 1
    sub = small.select(ex.subsets[4])
    record = lab.fit(lab.models.for_dataset(sub, seed=1), sub, epochs=4, lr=0.1, seed=1, progress=False)
    np.testing.assert_allclose(ex.difficulty[1, 1, ex.subsets[4]], difficulty(record))
    table = ex.table
    assert list(zip(table.size_a, table.size_b)) == [(1, 1), (1, 4), (1, 16), (4, 4), (4, 16), (16, 16)]
    assert list(table.n_compared) == [10, 10, 10, 40, 40, 160]
    row = table[(table.size_a == 4) & (table.size_b == 16)].iloc[0]
    shared = ex.subsets[4]
    assert row.rho == pytest.approx(spearmanr(ex.difficulty[1, 0, shared], ex.difficulty[2, 1, shared]).statistic)


def test_size_experiment_default_sizes_stop_at_the_smallest_class(small):
    ex = size_experiment(small, epochs=1, seeds=(0, 1), n_boot=10, progress=False)
    assert ex.sizes == (1, 4, 16)  # 20 per class


@pytest.mark.parametrize(
    "options, match",
    [
        ({"sizes": (4, 32)}, "smallest class has \\(20\\); use sizes <= 20"),
        ({"sizes": (4, 4)}, "strictly increasing"),
        ({"sizes": (0, 4)}, "every size must be an integer >= 1"),
        ({"seeds": (0,)}, "at least 2 distinct"),
        ({"kind": "cnn"}, "unknown model kind 'cnn'"),
        ({"measure": "l1"}, "unknown difficulty measure"),
        ({"lr": 0.0}, "lr must be a positive number"),
    ],
)
def test_size_experiment_bad_input(small, options, match):
    with pytest.raises(ValueError, match=match):
        size_experiment(small, **{"epochs": 1, "progress": False} | options)


# --- controlled difficulty --------------------------------------------------------------------------


def test_controlled_difficulty_chooses_companions_and_averages_curves(small):
    target, k = 5, 3
    ex = controlled_difficulty(small, target, k=k, repeats=2, epochs=3, reference_epochs=1, progress=False)
    labels = small.y_train.numpy()
    assert ex.target == target and ex.label == labels[target]
    chosen = [ex.chosen[name] for name in ("interchangeable", "median", "contradictory")]
    everyone = np.concatenate(chosen)
    assert len(set(everyone)) == 3 * k and target not in everyone and (labels[everyone] == ex.label).all()
    cos = [ex.cosine[name] for name in ("interchangeable", "median", "contradictory")]
    assert cos[0].min() >= cos[1].max() and cos[1].min() >= cos[2].max()
    assert (labels[ex.base] != ex.label).all() and (np.bincount(labels[ex.base], minlength=10) == k).sum() == 9
    curves = ex.curves
    assert len(curves) == 3 * 3 and set(curves.condition) == {"interchangeable", "median", "contradictory"}
    for _, rows in curves.groupby("condition"):
        assert (np.diff(rows.difficulty_mean) >= 0).all()  # accumulated error only grows
    # the curve of one condition by hand: repeats use seeds 0 and 1
    train = np.sort(np.concatenate([[target], ex.chosen["median"], ex.base]))
    sub = small.select(train)
    runs = []
    for seed in (0, 1):
        record = lab.fit(lab.models.for_dataset(sub, seed=seed), sub, epochs=3, lr=0.1, batch_size=16,
                         seed=seed, progress=False)
        runs.append(difficulty_curve(record)[:, np.searchsorted(train, target)])
    median = curves[curves.condition == "median"]
    np.testing.assert_allclose(median.difficulty_mean, np.mean(runs, axis=0))
    np.testing.assert_allclose(median.difficulty_std, np.std(runs, axis=0, ddof=1))
    assert list(ex.final.epoch) == [2, 2, 2]


def test_controlled_difficulty_reference_cosines_are_the_lpntk_cosines(small):
    ex = controlled_difficulty(small, 0, k=2, conditions=("interchangeable",), repeats=2, epochs=1,
                               reference_epochs=2, progress=False)
    reference = lab.models.for_dataset(small, seed=0)
    lab.fit(reference, small, epochs=2, lr=0.1, batch_size=16, seed=0, progress=False)
    members = np.flatnonzero(small.y_train.numpy() == ex.label)
    cos = lab.relations.cosine(lab.lpntk(reference, small.x_train[members], small.y_train[members], progress=False))[0]
    best = members[1:][np.argsort(-cos[1:])[:2]]  # target 0 is the first member of its class
    np.testing.assert_array_equal(ex.chosen["interchangeable"], best)
    assert list(ex.chosen) == ["interchangeable"]


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"k": 7}, ValueError, "k=7 is too large: .* 19 other samples.*use k <= 6"),
        ({"target": 200}, ValueError, "target must be a training-sample index in \\[0, 200\\)"),
        ({"conditions": ("similar",)}, ValueError, "unknown condition 'similar'"),
        ({"conditions": ()}, ValueError, "conditions must be distinct"),
        ({"repeats": 1}, ValueError, "repeats must be an integer >= 2"),
        ({"base_per_class": 21}, ValueError, "base_per_class=21 is more than class"),
        ({"kind": "cnn"}, ValueError, "unknown model kind"),
        ({"lr": -0.1}, ValueError, "lr must be a positive number"),
    ],
)
def test_controlled_difficulty_bad_input(small, options, error, match):
    arguments = dict(target=0, k=2, repeats=2, epochs=1, reference_epochs=1, progress=False) | options
    with pytest.raises(error, match=match):
        controlled_difficulty(small, **arguments)


def test_experiments_reject_a_non_dataset():
    with pytest.raises(TypeError, match="ds must be a lpntk_lab Dataset"):
        controlled_difficulty(np.zeros(3), 0)
    with pytest.raises(TypeError, match="ds must be a lpntk_lab Dataset"):
        size_experiment(np.zeros(3))
