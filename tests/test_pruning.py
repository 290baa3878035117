"""Pruners: exact budgets, balance, determinism, each method's score, and bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lpntk_lab as lab
from lpntk_lab.clustering import Clustering, fpc
from lpntk_lab.kernels import WithinClassKernel
from lpntk_lab.pruning import (
    METHODS,
    Recipe,
    Scores,
    Scoring,
    _el2n,
    _grand,
    _removal_order,
    kept_counts,
    proxy_kernel,
    proxy_run,
    prune,
    score,
    select,
)

RECIPE = Recipe(epochs=3)
SCORING = Scoring(runs=2, el2n_epoch=1, ratio=0.2)


@pytest.fixture(scope="module")
def ds():
    return lab.data.per_class(lab.load("digits"), 20, seed=0)


@pytest.fixture(scope="module")
def proxy(ds):
    model, record = proxy_run(ds, recipe=RECIPE, seed=0, progress=False)
    return model, record, proxy_kernel(ds, recipe=RECIPE, model=model, progress=False)


@pytest.fixture(scope="module")
def all_scores(ds, proxy):
    _, record, kernel = proxy
    return {m: score(m, ds, seed=0, recipe=RECIPE, scoring=SCORING, kernel=kernel, record=record, progress=False)
            for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.37, 0.95])
@pytest.mark.parametrize("balance", [True, False])
def test_every_pruner_keeps_exactly_the_budget(ds, all_scores, method, fraction, balance):
    pruned = select(all_scores[method], ds.y_train, fraction=fraction, balance=balance, seed=0)
    counts = kept_counts(ds.y_train.numpy(), fraction=fraction, balance=balance)
    assert len(pruned.keep) == sum(counts.values()) == ds.n_train - round(fraction * ds.n_train)
    assert len(np.unique(pruned.keep)) == len(pruned.keep)
    assert np.all(np.diff(pruned.keep) > 0) and 0 <= pruned.keep.min() and pruned.keep.max() < ds.n_train
    if balance:
        kept = np.bincount(ds.y_train.numpy()[pruned.keep], minlength=10)
        np.testing.assert_array_equal(kept, [counts[c] for c in range(10)])
    assert pruned.method == method and pruned.scores.shape == (ds.n_train,)
    np.testing.assert_array_equal(np.sort(np.r_[pruned.keep, pruned.removed]), np.arange(ds.n_train))


def test_the_kept_samples_are_the_top_of_the_scores(ds, all_scores):
    for method, s in all_scores.items():
        pruned = select(s, ds.y_train, fraction=0.5, balance=False, seed=0)
        key = s.values if s.higher_is_keep else -s.values
        assert key[pruned.keep].min() >= key[pruned.removed].max(), method


def test_balanced_budget_follows_class_sizes():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    counts = kept_counts(labels, fraction=0.35, balance=True)
    assert sum(counts.values()) == 65
    assert all(abs(counts[c] - 65 * n / 100) < 1 for c, n in zip(range(3), [50, 30, 20]))
    assert kept_counts(labels, fraction=0.999, balance=False) == {None: 1}  # never all removed


def test_random_with_the_same_seed_gives_the_same_result(ds):
    a, b = (prune("random", ds, fraction=0.4, seed=3, progress=False) for _ in range(2))
    np.testing.assert_array_equal(a.keep, b.keep)
    c = prune("random", ds, fraction=0.4, seed=4, progress=False)
    assert not np.array_equal(a.keep, c.keep)


def test_proxy_is_trained_when_no_kernel_or_record_is_given(ds, proxy, all_scores):
    for method in ("forgetting", "lpntk-mean"):
        fresh = score(method, ds, seed=0, recipe=RECIPE, scoring=SCORING, progress=False)
        np.testing.assert_allclose(fresh.values, all_scores[method].values, rtol=1e-10)


def test_a_dense_kernel_gives_the_same_scores_as_the_within_class_kernel(ds, proxy, all_scores):
    K = proxy[2].dense(fill=0.0)
    for method in ("lpntk-mean", "lpntk-fpc-largest"):
        dense = score(method, ds, seed=0, scoring=SCORING, kernel=K, progress=False)
        np.testing.assert_allclose(dense.values, all_scores[method].values)


def test_lpntk_mean_is_the_mean_similarity_to_the_rest_of_the_class(ds, proxy, all_scores):
    W = proxy[2]
    i = 7
    c = int(W.labels[i])
    idx = list(W.indices[c])
    others = [j for j in range(len(idx)) if idx[j] != i]
    expected = W[c][idx.index(i), others].mean()
    assert all_scores["lpntk-mean"].values[i] == pytest.approx(expected)
    assert not all_scores["lpntk-mean"].higher_is_keep


def test_heads_keep_the_fpc_centres_of_the_kept_budget(ds, proxy, all_scores):
    pruned = select(all_scores["lpntk-fpc-heads"], ds.y_train, fraction=0.6, balance=True, seed=0)
    counts = kept_counts(ds.y_train.numpy(), fraction=0.6, balance=True)
    clusters = fpc(proxy[2], n_clusters=counts, metric=SCORING.metric, seed=0, progress=False)
    np.testing.assert_array_equal(pruned.keep, np.sort(clusters.centres))


def test_largest_cluster_first_removes_the_closest_members_and_spares_small_clusters():
    # one class: cluster 0 has 5 points (centre 0), cluster 1 has 3 (centre 5), cluster 2 is alone
    clusters = Clustering(
        centres=np.array([0, 5, 8]), assignment=np.array([0, 0, 0, 0, 0, 1, 1, 1, 2]),
        distance=np.array([0, 0.4, 0.1, 0.3, 0.2, 0, 0.5, 0.6, 0]), radius=np.zeros(3),
        labels=np.zeros(9, dtype=np.int64), metric="kernel",
    )
    removed_first = np.argsort(_removal_order(clusters))
    # cluster 0 shrinks to 3 members (closest to its centre first: 2, then 4); then the clusters of
    # size 3 take turns, the one chosen first first (3, then 6); then size 2 (1, 7); the centres and
    # the singleton cluster go last
    assert removed_first.tolist() == [2, 4, 3, 6, 1, 7, 0, 5, 8]


def test_largest_cluster_pruning_removes_from_big_clusters(ds, proxy, all_scores):
    clusters = fpc(proxy[2], ratio=SCORING.ratio, metric=SCORING.metric, seed=0, progress=False)
    pruned = select(all_scores["lpntk-fpc-largest"], ds.y_train, fraction=0.1, balance=True, seed=0)
    touched = np.unique(clusters.assignment[pruned.removed])
    assert np.all(clusters.sizes[touched] >= np.median(clusters.sizes))
    assert np.isin(clusters.centres, pruned.keep).all()


def test_el2n_and_grand_measure_error_norm_and_loss_gradient_norm(ds):
    model = lab.models.for_dataset(ds, "mlp", seed=1)
    x, y = ds.x_train[:5], ds.y_train[:5]
    expected_el2n = (model(x).softmax(1) - F.one_hot(y, 10)).norm(dim=1)
    np.testing.assert_allclose(_el2n(model, x, y), expected_el2n.detach().numpy(), rtol=1e-5)
    grads = []
    for i in range(5):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())
    np.testing.assert_allclose(_grand(model, x, y), torch.stack(grads).numpy(), rtol=1e-4)


def test_scores_never_depend_on_the_fraction(ds, all_scores):
    a = select(all_scores["el2n"], ds.y_train, fraction=0.2, seed=0)
    b = select(all_scores["el2n"], ds.y_train, fraction=0.4, seed=0)
    assert set(b.keep) <= set(a.keep)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda ds, k: prune("random", ds, fraction=1.0), ValueError, r"\[0, 1\)"),
        (lambda ds, k: prune("random", ds, fraction=-0.1), ValueError, r"\[0, 1\)"),
        (lambda ds, k: prune("random", ds, fraction=True), ValueError, r"\[0, 1\)"),
        (lambda ds, k: prune("herding", ds, fraction=0.1), ValueError, "unknown pruning method"),
        (lambda ds, k: prune("random", ds.x_train, fraction=0.1), TypeError, "Dataset"),
        (lambda ds, k: prune("lpntk-mean", ds, fraction=0.1, kernel=np.ones((4, 5))), ValueError, "square"),
        (lambda ds, k: prune("lpntk-mean", ds, fraction=0.1, kernel=np.triu(np.ones((200, 200)))),
         ValueError, "symmetric"),
        (lambda ds, k: prune("lpntk-mean", ds, fraction=0.1, kernel=np.eye(5)), ValueError, "200 training"),
        (lambda ds, k: prune("lpntk-mean", ds, fraction=0.1,
                             kernel=WithinClassKernel(k.labels[::-1].copy(), k.indices, k.blocks)),
         ValueError, "labels differ"),
        (lambda ds, k: prune("lpntk-fpc-largest", ds, fraction=0.1, kernel=k, scoring=Scoring(ratio=0.01)),
         ValueError, "no cluster"),
        (lambda ds, k: select(Scores(np.zeros(200), True, "x"), np.zeros(199, int), fraction=0.1),
         ValueError, r"shape \(200,\)"),
        (lambda ds, k: select(Scores(np.full(200, np.nan), True, "x"), np.zeros(200, int), fraction=0.1),
         ValueError, "NaN"),
        (lambda ds, k: Scoring(ratio=0), ValueError, r"\(0, 1\]"),
        (lambda ds, k: Scoring(metric="l1"), ValueError, "unknown metric"),
        (lambda ds, k: Scoring(runs=0), ValueError, "runs"),
        (lambda ds, k: Recipe(model="vit"), ValueError, "unknown model kind"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(ds, proxy, call, error, match):
    with pytest.raises(error, match=match):
        call(ds, proxy[2])


def test_a_record_of_other_data_is_rejected(ds, proxy):
    other = lab.data.per_class(lab.load("digits"), 20, seed=1)
    with pytest.raises(ValueError, match="other training data"):
        prune("forgetting", other, fraction=0.1, record=proxy[1], progress=False)
