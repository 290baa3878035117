"""Farthest point clustering against a brute-force k-center, its invariants, and bad input."""

import numpy as np
import pytest
import torch

from lpntk_lab.clustering import Clustering, fpc, gini, size_profiles
from lpntk_lab.kernels import WithinClassKernel


def distance_matrix(K, metric):
    """All pairwise distances of the metric, the slow and obvious way."""
    d = np.diag(K)
    if metric == "kernel":
        return np.sqrt(np.maximum(d[:, None] + d[None, :] - 2 * K, 0))
    if metric == "cosine":
        return 1 - K / np.sqrt(np.outer(d, d))
    return -K


def brute_force(K, first, k, metric):
    """Gonzalez k-center from ``first``: next centre = farthest non-centre (lowest index on ties)."""
    D = distance_matrix(K, metric)
    centres, radius = [first], []
    for _ in range(k):
        nearest = D[:, centres].min(axis=1)
        others = [i for i in range(len(K)) if i not in centres]
        far = max(others, key=lambda i: (nearest[i], -i)) if others else None
        radius.append(nearest[far] if others else (-np.inf if metric == "paper" else 0.0))
        if len(centres) == k:
            break
        centres.append(far)
    assignment = np.argmin(D[:, centres], axis=1)  # argmin: the earliest centre on ties
    assignment[centres] = np.arange(k)
    return np.array(centres), assignment, np.array(radius), D


def random_gram(n, p, seed):
    F = np.random.default_rng(seed).standard_normal((n, p))
    return F @ F.T, F


@pytest.mark.parametrize("metric", ["kernel", "cosine", "paper"])
@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_k_center(metric, seed):
    K, _ = random_gram(30, 5, seed)
    k = 9
    got = fpc(K, n_clusters=k, metric=metric, seed=seed, progress=False)
    centres, assignment, radius, D = brute_force(K, int(got.centres[0]), k, metric)
    np.testing.assert_array_equal(got.centres, centres)
    np.testing.assert_array_equal(got.assignment, assignment)
    np.testing.assert_allclose(got.radius, radius, atol=1e-9)
    expected = D[np.arange(len(K)), centres[assignment]]
    expected[centres] = -np.diag(K)[centres] if metric == "paper" else 0.0
    np.testing.assert_allclose(got.distance, expected, atol=1e-7)


@pytest.mark.parametrize("metric", ["kernel", "cosine", "paper"])
def test_ties_go_to_the_lowest_index_and_the_earliest_centre(metric):
    # orthonormal vectors: every pair is equally far apart, so every choice after the first is a tie
    got = fpc(np.eye(8), n_clusters=4, metric=metric, seed=5, progress=False)
    first = int(got.centres[0])
    assert got.centres.tolist() == [first, *[i for i in range(8) if i != first][:3]]
    # the points that are not centres tie between all centres and stay with the first one
    others = np.setdiff1d(np.arange(8), got.centres)
    assert np.all(got.assignment[others] == 0)


@pytest.mark.parametrize("metric", ["kernel", "cosine", "paper"])
def test_covering_radius_never_increases_and_points_sit_with_their_nearest_centre(metric):
    K, _ = random_gram(80, 6, 7)
    labels = np.random.default_rng(1).integers(0, 3, len(K))
    got = fpc(K, labels, ratio=0.5, metric=metric, seed=3, progress=False)
    D = distance_matrix(K, metric)
    for c in np.unique(labels):
        mine = got.centre_labels == c
        assert np.all(np.diff(got.radius[mine]) <= 1e-12)
        members = np.flatnonzero(labels == c)
        centres = got.centres[mine]
        others = np.setdiff1d(members, centres)
        nearest = D[np.ix_(others, centres)].min(axis=1)
        own = D[others, got.centres[got.assignment[others]]]
        np.testing.assert_allclose(own, nearest, atol=1e-9)
        assert set(got.assignment[members]) <= set(np.flatnonzero(mine))
    np.testing.assert_array_equal(got.assignment[got.centres], np.arange(got.n_clusters))


def test_per_class_clusters_stay_inside_their_class_and_counts_follow_ratio():
    K, _ = random_gram(50, 4, 2)
    labels = np.repeat([2, 5, 7], [10, 15, 25])
    got = fpc(K, labels, ratio=0.2, progress=False)
    np.testing.assert_array_equal(np.bincount(got.centre_labels, minlength=8)[[2, 5, 7]], [2, 3, 5])
    np.testing.assert_array_equal(got.labels[got.centres[got.assignment]], labels)
    assert got.sizes.sum() == 50


def test_every_kernel_source_gives_the_same_clustering():
    K, F = random_gram(40, 5, 4)
    labels = np.repeat([0, 1], 20)
    ref = fpc(K, labels, n_clusters=6, progress=False)
    idx = {c: np.flatnonzero(labels == c) for c in (0, 1)}
    W = WithinClassKernel(labels, idx, {c: K[np.ix_(i, i)] for c, i in idx.items()})
    others = [
        fpc(torch.from_numpy(K), torch.from_numpy(labels), n_clusters=6, progress=False),
        fpc(W, n_clusters=6, progress=False),
        fpc(features=F, labels=labels, n_clusters=6, progress=False),
        fpc(rows=lambda i: K[i], diagonal=np.diag(K), labels=labels, n_clusters=6, progress=False),
    ]
    for got in others:
        np.testing.assert_array_equal(got.centres, ref.centres)
        np.testing.assert_array_equal(got.assignment, ref.assignment)
        np.testing.assert_allclose(got.distance, ref.distance, atol=1e-7)


def test_same_input_same_result_and_seed_picks_the_first_centre():
    K, _ = random_gram(60, 5, 5)
    a, b = (fpc(K, n_clusters=10, seed=11, progress=False) for _ in range(2))
    np.testing.assert_array_equal(a.centres, b.centres)
    firsts = {int(fpc(K, n_clusters=1, seed=s, progress=False).centres[0]) for s in range(10)}
    assert len(firsts) > 1


def test_all_points_as_centres_and_prefix_property():
    K, _ = random_gram(25, 3, 6)
    full = fpc(K, n_clusters=25, seed=2, progress=False)
    assert full.radius[-1] == 0.0 and np.all(full.sizes == 1)
    assert np.all(full.distance == 0)
    short = fpc(K, n_clusters=7, seed=2, progress=False)
    np.testing.assert_array_equal(short.centres, full.centres[:7])
    ins = full.insertion_radius()
    assert ins[0] == np.inf and np.all(np.diff(ins[1:]) <= 1e-12)
    np.testing.assert_allclose(ins[1:7], short.radius[:6])


def test_size_profiles_and_gini():
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 10]) == pytest.approx(0.75)
    got = Clustering(
        centres=np.array([0, 1, 4, 5]), assignment=np.array([0, 1, 0, 0, 2, 3, 3]),
        distance=np.zeros(7), radius=np.zeros(4), labels=np.array([0, 0, 0, 0, 1, 1, 1]), metric="kernel",
    )
    prof = size_profiles(got)
    np.testing.assert_array_equal(prof[0].sizes, [3, 1])
    np.testing.assert_array_equal(prof[1].sizes, [2, 1])
    assert prof[0].largest_share == 0.75 and prof[0].singleton_share == 0.5
    assert prof[1].n_points == 3 and prof[1].n_clusters == 2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(K=np.ones((3, 4)), n_clusters=1), ValueError, "square"),
        (dict(K=np.array([[1.0, 2.0], [0.0, 1.0]]), n_clusters=1), ValueError, "symmetric"),
        (dict(K=np.array([[1.0, np.nan], [np.nan, 1.0]]), n_clusters=1), ValueError, "NaN"),
        (dict(K=np.eye(4), labels=np.zeros(3, int), n_clusters=1), ValueError, r"shape \(4,\)"),
        (dict(K=np.eye(4), labels=np.zeros(4), n_clusters=1), TypeError, "integer"),
        (dict(K=np.eye(10), ratio=0.01), ValueError, "no cluster"),
        (dict(K=np.eye(10), ratio=1.5), ValueError, r"\(0, 1\]"),
        (dict(K=np.eye(10), n_clusters=11), ValueError, r"\[1, 10\]"),
        (dict(K=np.eye(10)), TypeError, "exactly one of n_clusters"),
        (dict(K=np.eye(10), n_clusters=2, ratio=0.5), TypeError, "exactly one of n_clusters"),
        (dict(K=np.eye(3), n_clusters=1, metric="euclid"), ValueError, "unknown metric"),
        (dict(K=np.eye(3), features=np.eye(3), n_clusters=1), TypeError, "exactly one way"),
        (dict(rows=lambda i: np.zeros(3), n_clusters=1), TypeError, "diagonal"),
        (dict(rows=lambda i: np.zeros(2), diagonal=np.ones(3), n_clusters=2), ValueError, r"shape \(3,\)"),
        (dict(K=np.eye(4), labels=np.array([0, 0, 1, 1]), n_clusters={0: 1}), ValueError, "no count"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(kwargs, error, match):
    with pytest.raises(error, match=match):
        fpc(**kwargs, progress=False)
