"""Prune a training set: lpNTK clusters against the standard baselines, one signature for all.

Every method gives each training sample a score and keeps the top of that ranking; ``higher_is_keep``
says which end is the top. ``fraction`` is the share of the training set that is *removed*:
``round(fraction * N)`` samples (at least one sample is always kept). With ``balance=True`` every
class loses the same share: the kept budget is split over the classes in proportion to their sizes
(largest remainders first). Ties between equal scores are broken by a random order drawn from
``seed``. Scores never depend on ``fraction``, so one scoring serves every fraction.

Methods (Lesson: ``notebooks/05_clusters_and_pruning``):

* ``"random"``: a uniform random score from ``seed``.
* ``"el2n"`` (Paul et al., 2021): ``||softmax(z) − e_y||_2`` of a model trained for
  ``Scoring.el2n_epoch`` epochs, averaged over ``Scoring.runs`` runs (fresh initialisation and data
  order each); high = hard = kept.
* ``"grand"`` (Paul et al., 2021): the norm of the per-sample loss gradient ``||∇_w CE||_2`` at
  ``Scoring.grand_epoch`` epochs (0: at initialisation, as in the paper), averaged over the same
  runs; high = kept.
* ``"forgetting"`` (Toneva et al., 2019): forgetting events over the proxy run (below); a sample
  never classified correctly scores one more than the most forgotten one; high = kept.
* ``"lpntk-mean"``: the mean within-class lpNTK ``(1/(n_c − 1)) Σ_{j≠i, y_j = y_i} κ_ij``, the
  authors' average score; a high mean means many interchangeable samples, so *low* = kept.
* ``"lpntk-fpc-largest"``: FPC (:func:`~lpntk_lab.clustering.fpc`) with ``Scoring.ratio`` centres
  per class; samples are removed one at a time from the currently largest cluster (ties: the cluster
  chosen first), each cluster's members closest to its centre first and the centre last, so small
  clusters stay intact. The score is the position in that removal order (higher = removed later).
* ``"lpntk-fpc-heads"``: keep one representative per cluster, as many clusters as the kept budget:
  the score is FPC's insertion radius (a sample's distance to the earlier centres when it became a
  centre), and a prefix of FPC's selection order is the FPC solution with that many clusters.

The proxy run, shared by ``"forgetting"`` and the lpNTK methods: a fresh ``recipe.model`` trained
on the full training set with the :class:`Recipe`; the lpNTK is the within-class kernel of the
trained model (``lab.lpntk(..., within_class=True)``). Pass ``kernel=`` (a
:class:`~lpntk_lab.kernels.WithinClassKernel` or an (N, N) matrix) or ``record=`` to reuse one.
All seeds of the scoring runs are derived from ``seed``.

    >>> pruned = prune("lpntk-fpc-largest", ds, fraction=0.3, seed=0)
    >>> smaller = ds.select(pruned.keep)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import models
from .clustering import METRICS, _as_gram, _as_labels, fpc
from .data import Dataset
from .forgetting import forgetting_scores
from .kernels import WithinClassKernel, lpntk
from .kernels.inputs import evaluating
from .kernels.per_sample import gradients
from .train import TrainingRecord, fit

__all__ = ["METHODS", "Pruning", "Recipe", "Scores", "Scoring", "kept_counts", "prune", "score", "select"]

METHODS = ("random", "el2n", "grand", "forgetting", "lpntk-mean", "lpntk-fpc-largest", "lpntk-fpc-heads")
LPNTK_METHODS = ("lpntk-mean", "lpntk-fpc-largest", "lpntk-fpc-heads")
PROXY_METHODS = ("forgetting", *LPNTK_METHODS)
_BATCH = 256
_PROXY, _EARLY, _TIES = 1, 2, 3  # tags that derive independent seeds from one seed
_SETTINGS_USED = {  # the Scoring fields each method reads
    "el2n": ("runs", "el2n_epoch"),
    "grand": ("runs", "grand_epoch"),
    "lpntk-fpc-largest": ("ratio", "metric"),
    "lpntk-fpc-heads": ("metric",),
}


@dataclass(frozen=True)
class Recipe:
    """How every model of the pruning pipeline is trained: the proxy run and each retraining.

    Attributes:
        model: ``"mlp"``, ``"lenet"`` or ``"resnet"`` (``lab.models.for_dataset``).
        epochs, lr, batch_size, momentum, weight_decay: the arguments of ``lab.fit`` (SGD).
        device: ``"auto"`` (CUDA when present) or a torch device name.
    """

    model: str = "mlp"
    epochs: int = 20
    lr: float = 0.05
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 0.0
    device: str = "auto"

    def __post_init__(self):
        if self.model not in models.KINDS:
            raise ValueError(f"unknown model kind {self.model!r}; known kinds: {', '.join(models.KINDS)}")

    def train(self, ds: Dataset, *, seed: int, epochs: int | None = None,
              progress: bool = False) -> tuple[nn.Module, TrainingRecord]:
        """A fresh model (initialised from ``seed``) trained on ``ds`` for ``epochs`` (default: all)."""
        model = models.for_dataset(ds, self.model, seed=seed)
        record = fit(model, ds, epochs=self.epochs if epochs is None else epochs, lr=self.lr,
                     batch_size=self.batch_size, momentum=self.momentum, weight_decay=self.weight_decay,
                     seed=seed, device=self.device, progress=progress)
        return model, record


@dataclass(frozen=True)
class Scoring:
    """Settings of the scores (the training settings are the :class:`Recipe`'s).

    Attributes:
        runs: training runs EL2N and GraNd are averaged over (Paul et al. use 10).
        el2n_epoch: epochs trained before EL2N is measured (Paul et al.: 20 of 200, i.e. early).
        grand_epoch: epochs trained before GraNd is measured (0: at initialisation, as Paul et al.).
        ratio: FPC centres per class, as a share of the class, for ``"lpntk-fpc-largest"``.
        metric: FPC distance for both FPC methods: ``"kernel"``, ``"cosine"`` or ``"paper"``.
    """

    runs: int = 4
    el2n_epoch: int = 2
    grand_epoch: int = 0
    ratio: float = 0.1
    metric: str = "paper"

    def __post_init__(self):
        _check_int("runs", self.runs, low=1)
        _check_int("el2n_epoch", self.el2n_epoch, low=0)
        _check_int("grand_epoch", self.grand_epoch, low=0)
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, numbers.Real) or not 0 < self.ratio <= 1:
            raise ValueError(f"ratio must be a number in (0, 1], got {self.ratio!r}")
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}")

    def used_by(self, method: str) -> tuple:
        """The settings ``method``'s scores depend on, as ``(name, value)`` pairs (a cache key)."""
        return tuple((name, getattr(self, name)) for name in _SETTINGS_USED.get(method, ()))


@dataclass(frozen=True)
class Scores:
    """One score per training sample.

    Attributes:
        values: (N,) float64 scores (``inf`` allowed, NaN not).
        higher_is_keep: True when high scores are kept, False when low scores are kept.
        method: the method that produced them.
    """

    values: np.ndarray
    higher_is_keep: bool
    method: str


@dataclass(frozen=True)
class Pruning:
    """The samples a pruner keeps.

    Attributes:
        keep: (K,) int64 indices into the training set, ascending.
        scores: (N,) float64 the method's scores.
        higher_is_keep: True when high scores were kept.
        method: the method's name.
        fraction: share of the training set removed.
        balance: whether every class lost the same share.
        seed: the seed of the scores' randomness and of the tie-breaking.
    """

    keep: np.ndarray
    scores: np.ndarray
    higher_is_keep: bool
    method: str
    fraction: float
    balance: bool
    seed: int

    @property
    def n_train(self) -> int:
        return len(self.scores)

    @property
    def removed(self) -> np.ndarray:
        """(N − K,) int64 indices of the removed samples, ascending."""
        return np.setdiff1d(np.arange(self.n_train), self.keep)

    def __repr__(self) -> str:
        return (f"Pruning(method={self.method!r}, fraction={self.fraction}, kept={len(self.keep)} of "
                f"{self.n_train}, balance={self.balance}, seed={self.seed})")


# --- the one entry point ----------------------------------------------------------------------------


def prune(
    method: str,
    ds: Dataset,
    *,
    fraction: float,
    balance: bool = True,
    seed: int = 0,
    recipe: Recipe | None = None,
    scoring: Scoring | None = None,
    kernel: WithinClassKernel | np.ndarray | None = None,
    record: TrainingRecord | None = None,
    progress: bool = True,
) -> Pruning:
    """Remove ``fraction`` of ``ds``'s training set by ``method`` (see the module docstring).

    Args:
        method: one of ``METHODS``.
        ds: the data set whose training set is pruned.
        fraction: share of the training samples removed, in [0, 1).
        balance: remove the same share from every class.
        seed: seeds the scoring runs, the random scores and the tie-breaking.
        recipe, scoring: training and scoring settings (defaults: ``Recipe()``, ``Scoring()``).
        kernel: a precomputed within-class lpNTK of ``ds``'s training set (lpNTK methods).
        record: a precomputed proxy run's record on ``ds`` (``"forgetting"``).
        progress: show progress bars.
    """
    _check_fraction(fraction)
    scores = score(method, ds, seed=seed, recipe=recipe, scoring=scoring, kernel=kernel, record=record,
                   progress=progress)
    return select(scores, ds.y_train, fraction=fraction, balance=balance, seed=seed)


def score(
    method: str,
    ds: Dataset,
    *,
    seed: int = 0,
    recipe: Recipe | None = None,
    scoring: Scoring | None = None,
    kernel: WithinClassKernel | np.ndarray | None = None,
    record: TrainingRecord | None = None,
    progress: bool = True,
) -> Scores:
    """The scores of ``method`` on ``ds``'s training set; arguments as for :func:`prune`."""
    if method not in METHODS:
        raise ValueError(f"unknown pruning method {method!r}; choose one of {', '.join(METHODS)}")
    if not isinstance(ds, Dataset):
        raise TypeError(f"ds must be a lpntk_lab Dataset (from lpntk_lab.load), got {type(ds).__name__}")
    _check_int("seed", seed, low=0)
    recipe, scoring = recipe or Recipe(), scoring or Scoring()
    if method == "random":
        return Scores(np.random.default_rng(seed).random(ds.n_train), True, method)
    if method in ("el2n", "grand"):
        return _early_scores(method, ds, recipe, scoring, seed, progress)
    if method == "forgetting":
        if record is None:
            record = proxy_run(ds, recipe=recipe, seed=seed, progress=progress)[1]
        _check_record(record, ds)
        return Scores(forgetting_scores(record, never_learned="max"), True, method)
    if kernel is None:
        kernel = proxy_kernel(ds, recipe=recipe, seed=seed, progress=progress)
    return _lpntk_scores(method, _within_class(kernel, ds), scoring, seed, progress)


def select(scores: Scores, labels, *, fraction: float, balance: bool = True, seed: int = 0) -> Pruning:
    """Keep the top of ``scores`` after removing ``fraction`` of the samples (per class if ``balance``).

    Args:
        scores: (N,) scores with their direction.
        labels: (N,) integer classes of the training samples.
        fraction, balance, seed: as for :func:`prune` (``seed`` draws the tie-breaking order).
    """
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be a Scores (from score), got {type(scores).__name__}")
    labels = _as_labels(labels, len(scores.values))
    values = np.asarray(scores.values, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"the {scores.method!r} scores contain NaN; they cannot be ranked")
    ties = np.random.default_rng(_derive(seed, _TIES)).permutation(len(values))
    key = -values if scores.higher_is_keep else values
    order = np.lexsort((ties, key))  # best first: by key, then by the random tie order
    counts = kept_counts(labels, fraction=fraction, balance=balance)
    if balance:
        ranked = labels[order]
        keep = np.concatenate([order[ranked == c][:k] for c, k in counts.items()])
    else:
        keep = order[: counts[None]]
    return Pruning(np.sort(keep), values, bool(scores.higher_is_keep), scores.method, float(fraction),
                   bool(balance), int(seed))


def kept_counts(labels, *, fraction: float, balance: bool = True) -> dict:
    """How many samples to keep: ``{class: count}`` if ``balance``, else ``{None: count}``.

    ``round(fraction * N)`` samples are removed, but never all of them; a balanced budget is split
    in proportion to the class sizes, the left-over samples going to the largest remainders (ties:
    the lowest class).
    """
    _check_fraction(fraction)
    labels = np.asarray(labels)
    n = len(labels)
    kept = n - min(int(np.floor(fraction * n + 0.5)), n - 1)
    if not balance:
        return {None: kept}
    classes, sizes = np.unique(labels, return_counts=True)
    share = kept * sizes / n
    counts = np.floor(share).astype(np.int64)
    extra = np.lexsort((classes, -(share - counts)))[: kept - counts.sum()]
    counts[extra] += 1
    return {int(c): int(k) for c, k in zip(classes, counts)}


# --- proxy run and lpNTK ------------------------------------------------------------------------------


def proxy_run(ds: Dataset, *, recipe: Recipe | None = None, seed: int = 0,
              progress: bool = True) -> tuple[nn.Module, TrainingRecord]:
    """The proxy run of ``seed``: a fresh model trained on the full training set with ``recipe``."""
    return (recipe or Recipe()).train(ds, seed=_derive(seed, _PROXY), progress=progress)


def proxy_kernel(ds: Dataset, *, recipe: Recipe | None = None, seed: int = 0, model: nn.Module | None = None,
                 progress: bool = True) -> WithinClassKernel:
    """Within-class lpNTK of ``ds``'s training set under ``model`` (default: the proxy run's model)."""
    recipe = recipe or Recipe()
    model = model if model is not None else proxy_run(ds, recipe=recipe, seed=seed, progress=progress)[0]
    return lpntk(model, ds.x_train, ds.y_train, within_class=True, device=recipe.device, progress=progress)


def _within_class(kernel, ds: Dataset) -> WithinClassKernel:
    """A precomputed kernel as a WithinClassKernel over ``ds``'s training labels."""
    labels = ds.y_train.cpu().numpy()
    if isinstance(kernel, WithinClassKernel):
        if not np.array_equal(np.asarray(kernel.labels), labels):
            raise ValueError("kernel's labels differ from ds.y_train: it was computed on other data")
        return kernel
    K = _as_gram(kernel, "kernel")
    if len(K) != ds.n_train:
        raise ValueError(f"kernel is {len(K)} x {len(K)} but ds has {ds.n_train} training samples")
    indices = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
    return WithinClassKernel(labels, indices, {c: K[np.ix_(i, i)] for c, i in indices.items()})


def _lpntk_scores(method: str, W: WithinClassKernel, scoring: Scoring, seed: int, progress: bool) -> Scores:
    """``"lpntk-mean"``, ``"lpntk-fpc-largest"`` or ``"lpntk-fpc-heads"`` from a within-class lpNTK."""
    if method == "lpntk-mean":
        return Scores(_mean_similarity(W), False, method)
    if method == "lpntk-fpc-largest":
        clusters = fpc(W, ratio=scoring.ratio, metric=scoring.metric, seed=seed, progress=progress)
        return Scores(_removal_order(clusters).astype(np.float64), True, method)
    every_point = {c: len(idx) for c, idx in W.indices.items()}
    clusters = fpc(W, n_clusters=every_point, metric=scoring.metric, seed=seed, progress=progress)
    heads = np.empty(len(W.labels))
    heads[clusters.centres] = clusters.insertion_radius()
    return Scores(heads, True, method)


def _mean_similarity(W: WithinClassKernel) -> np.ndarray:
    """(N,) mean lpNTK of each sample with the other samples of its class (0 for a lone sample)."""
    mean = np.zeros(len(W.labels))
    for c, idx in W.indices.items():
        block = W.blocks[c]
        if len(idx) > 1:
            mean[idx] = (block.sum(axis=1) - np.diagonal(block)) / (len(idx) - 1)
    return mean


def _removal_order(clusters) -> np.ndarray:
    """(N,) position of each point in the largest-cluster-first removal order.

    A member ``r``-th in line inside its cluster (closest to the centre first, the centre last)
    is removed when its cluster has ``size − r`` members; the largest such size goes first, ties
    to the cluster chosen first.
    """
    n = len(clusters.assignment)
    distance = clusters.distance.copy()
    distance[clusters.centres] = np.inf  # the centre goes last
    in_line = np.lexsort((np.arange(n), distance, clusters.assignment))  # by cluster, then distance
    start = np.r_[0, np.cumsum(clusters.sizes)[:-1]]
    rank = np.empty(n, dtype=np.int64)
    rank[in_line] = np.arange(n) - np.repeat(start, clusters.sizes)
    size_then = clusters.sizes[clusters.assignment] - rank
    order = np.lexsort((clusters.assignment, -size_then))
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    return position


# --- EL2N and GraNd -----------------------------------------------------------------------------------


def _early_scores(method: str, ds: Dataset, recipe: Recipe, scoring: Scoring, seed: int, progress: bool) -> Scores:
    """EL2N or GraNd averaged over ``scoring.runs`` short runs."""
    epochs = scoring.el2n_epoch if method == "el2n" else scoring.grand_epoch
    measure = _el2n if method == "el2n" else _grand
    total = np.zeros(ds.n_train)
    for run in range(scoring.runs):
        model = _early_model(ds, recipe, _derive(seed, _EARLY, run), epochs)
        with evaluating(model, recipe.device) as m:
            total += measure(m, ds.x_train, ds.y_train)
    return Scores(total / scoring.runs, True, method)


def _early_model(ds: Dataset, recipe: Recipe, seed: int, epochs: int) -> nn.Module:
    """A model initialised from ``seed`` and trained for ``epochs`` epochs (0: untrained)."""
    if epochs == 0:
        return models.for_dataset(ds, recipe.model, seed=seed)
    return recipe.train(ds, seed=seed, epochs=epochs)[0]


def _batches(m: nn.Module, x: torch.Tensor, y: torch.Tensor):
    dev = next(m.parameters()).device
    for s in range(0, len(x), _BATCH):
        yield x[s : s + _BATCH].to(dev), y[s : s + _BATCH].to(dev)


@torch.no_grad()
def _el2n(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(N,) ``||softmax(z) − e_y||_2`` in eval mode."""
    out = []
    for xb, yb in _batches(m, x, y):
        z = m(xb)
        error = z.softmax(dim=1) - F.one_hot(yb, z.shape[1])
        out.append(error.norm(dim=1).double().cpu())
    return torch.cat(out).numpy()


def _grand(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(N,) per-sample ``||∇_w CE(z(x_i), y_i)||_2``: the gradient of ``cᵀz`` with ``c = p − e_y``."""
    params = {n: p for n, p in m.named_parameters() if p.requires_grad}
    out = []
    for xb, yb in _batches(m, x, y):
        with torch.no_grad():
            z = m(xb)
            c = z.softmax(dim=1) - F.one_hot(yb, z.shape[1])
        out.append(gradients(m, params, xb, c).g.norm(dim=1).double().cpu())
    return torch.cat(out).numpy()


# --- checks and seeds ---------------------------------------------------------------------------------


def _derive(seed: int, *tags: int) -> int:
    """An independent 32-bit seed for one purpose (``tags``) of one user seed."""
    return int(np.random.SeedSequence([seed, *tags]).generate_state(1)[0])


def _check_int(name: str, value, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_fraction(fraction) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
        raise ValueError(f"fraction is the share of samples removed and must lie in [0, 1), got {fraction!r}")


def _check_record(record, ds: Dataset) -> None:
    if not isinstance(record, TrainingRecord):
        raise TypeError(f"record must be a TrainingRecord (from lab.fit), got {type(record).__name__}")
    if record.n_train != ds.n_train or record.data_fingerprint != ds.fingerprint:
        raise ValueError("record was made on other training data (its fingerprint or size differs from ds)")
