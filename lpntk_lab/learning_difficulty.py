"""Learning difficulty: the error a sample accumulates over training, and what it depends on.

The difficulty of a training sample is the sum of its L2 error ``||p - e_y||_2`` over all its
presentations during training (Guo et al.'s definition), or the sum of its loss. Easy samples are
fitted early and stop adding error; hard ones keep adding it. This module computes difficulty from a
:class:`~lpntk_lab.train.TrainingRecord`, relates it to the lpNTK structure of the data (how
interchangeable a sample is with the rest of its class), and runs two experiments that show
difficulty is not a property of a sample alone but of the sample *among the others*:

* :func:`size_experiment`: nested subsets of growing size; does a sample's difficulty rank survive?
* :func:`controlled_difficulty`: one target sample trained with interchangeable, median or
  contradictory companions; how hard is it in each company?

Lesson: ``notebooks/03_learning_difficulty``.

    >>> record = lab.fit(model, ds, epochs=10, lr=0.1)
    >>> d = difficulty(record)                         # (n_train,)
    >>> difficulty_vs_structure(record, model, ds)     # Spearman rho with lpNTK structure
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from . import models
from .data import Dataset
from .kernels import WithinClassKernel, lpntk
from .relations import cosine
from .train import TrainingRecord, fit

__all__ = [
    "CONDITIONS",
    "ControlledDifficulty",
    "Correlation",
    "DIFFICULTY_KINDS",
    "SizeExperiment",
    "controlled_difficulty",
    "difficulty",
    "difficulty_curve",
    "difficulty_vs_structure",
    "interchangeable_count",
    "mean_cosine",
    "size_experiment",
    "spearman",
]

DIFFICULTY_KINDS = ("l2", "loss")
CONDITIONS = ("interchangeable", "median", "contradictory")
_SIZES = (1, 4, 16, 64, 256, 1024, 4096)


# --- difficulty from a record ---------------------------------------------------------------------


def check_dataset(ds) -> None:
    """Raise unless ``ds`` is a :class:`~lpntk_lab.data.Dataset`."""
    if not isinstance(ds, Dataset):
        raise TypeError(f"ds must be a lpntk_lab Dataset (from lpntk_lab.load), got {type(ds).__name__}")


def check_record(record, ds: Dataset | None = None) -> None:
    """Raise unless ``record`` is a TrainingRecord (and, given ``ds``, one trained on ``ds``)."""
    if not isinstance(record, TrainingRecord):
        raise TypeError(f"record must be a TrainingRecord (from lab.fit), got {type(record).__name__}")
    if ds is None:
        return
    check_dataset(ds)
    if record.data_fingerprint != ds.fingerprint:
        raise ValueError(
            f"the record was trained on other data (fingerprint {record.data_fingerprint}, "
            f"{record.dataset!r}, n_train={record.n_train}) than the data set given "
            f"(fingerprint {ds.fingerprint}, {ds.name!r}, n_train={ds.n_train}); "
            "pass the Dataset that was given to lab.fit"
        )


def difficulty_curve(record: TrainingRecord, *, kind: str = "l2") -> np.ndarray:
    """Difficulty accumulated up to and including each epoch: ``(epochs, n_train)`` float64.

    Row ``e`` sums a sample's error over its presentations in epochs ``0..e``; the last row is
    :func:`difficulty`.

    Args:
        record: from :func:`lpntk_lab.fit`.
        kind: ``"l2"`` — the L2 error ``||p - e_y||_2`` (Guo et al.); ``"loss"`` — the cross-entropy.
    """
    check_record(record)
    if kind not in DIFFICULTY_KINDS:
        raise ValueError(f"unknown difficulty kind {kind!r}; choose one of {', '.join(DIFFICULTY_KINDS)}")
    errors = record.l2_error if kind == "l2" else record.loss
    return np.cumsum(errors, axis=0, dtype=np.float64)


def difficulty(record: TrainingRecord, *, kind: str = "l2") -> np.ndarray:
    """Learning difficulty of every training sample: its summed error over training, ``(n_train,)``.

    Args:
        record: from :func:`lpntk_lab.fit`; one presentation per sample and epoch.
        kind: ``"l2"`` — cumulative ``||p - e_y||_2`` (the authors' definition, bounded by
            ``sqrt(2)`` per presentation); ``"loss"`` — cumulative cross-entropy (unbounded, so a
            few confidently wrong presentations dominate it).
    """
    return difficulty_curve(record, kind=kind)[-1]


# --- lpNTK structure ------------------------------------------------------------------------------


def _class_blocks(K, labels) -> tuple[int, Iterator[tuple[np.ndarray, np.ndarray]]]:
    """``N`` and an iterator of ``(indices, kernel block)`` per class of a kernel."""
    if isinstance(K, WithinClassKernel):
        return len(K.labels), ((K.indices[c], K.blocks[c]) for c in K.indices)
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square (N, N) kernel or a WithinClassKernel, got shape {K.shape}")
    if labels is None:
        raise ValueError("labels (N,) are needed with a dense kernel K; a WithinClassKernel carries them")
    labels = np.asarray(labels)
    if labels.shape != (len(K),):
        raise ValueError(f"labels must have shape ({len(K)},) to match K, got {labels.shape}")
    classes = (np.flatnonzero(labels == c) for c in np.unique(labels))
    return len(K), ((idx, K[np.ix_(idx, idx)]) for idx in classes)


def _per_sample(K, labels, reduce, fill, dtype) -> np.ndarray:
    """``(N,)``: ``reduce(cos)`` per class, where ``cos`` is the class's cosine block, NaN on the diagonal."""
    n, blocks = _class_blocks(K, labels)
    out = np.full(n, fill, dtype=dtype)
    for idx, block in blocks:
        cos = cosine(block)
        np.fill_diagonal(cos, np.nan)
        out[idx] = reduce(cos)
    return out


def mean_cosine(K, labels=None) -> np.ndarray:
    """Mean lpNTK cosine of each sample to the *other* samples of its class: ``(N,)`` in [-1, 1].

    High: the sample is interchangeable with much of its class (learning them teaches it).
    NaN for a sample alone in its class.

    Args:
        K: ``(N, N)`` lpNTK (cross-class entries are ignored) or a
            :class:`~lpntk_lab.kernels.WithinClassKernel` (``lab.lpntk(..., within_class=True)``).
        labels: ``(N,)`` class labels; needed with a dense ``K`` only.
    """
    def mean_of_others(cos):
        return np.nansum(cos, axis=1) / (len(cos) - 1) if len(cos) > 1 else np.nan

    return _per_sample(K, labels, mean_of_others, np.nan, np.float64)


def interchangeable_count(K, labels=None, *, threshold: float = 0.5) -> np.ndarray:
    """Number of other same-class samples whose lpNTK cosine with the sample is ``>= threshold``: ``(N,)``.

    Args:
        K, labels: as for :func:`mean_cosine`.
        threshold: cosine from which a pair counts as interchangeable, in [-1, 1]. The default 0.5
            (an angle under 60 degrees between the two gradients) is this module's choice; pass the
            threshold of :mod:`lpntk_lab.relations` to match its pair classes.
    """
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a cosine and must lie in [-1, 1], got {threshold!r}")
    # the NaN diagonal compares False: a sample is not its own neighbour
    return _per_sample(K, labels, lambda cos: (cos >= threshold).sum(axis=1), 0, np.int64)


# --- rank correlation with a bootstrap interval ---------------------------------------------------


@dataclass(frozen=True)
class Correlation:
    """Spearman's rank correlation with a percentile-bootstrap interval.

    Attributes:
        rho: Spearman's ρ of the full sample, in [-1, 1].
        low, high: the ``confidence`` bootstrap interval of ρ (pairs resampled with replacement).
        n: number of pairs.
        p_value: two-sided p-value of ρ = 0 (``scipy.stats.spearmanr``).
        confidence: coverage of the interval.
    """

    rho: float
    low: float
    high: float
    n: int
    p_value: float
    confidence: float = 0.95

    def __str__(self) -> str:
        return f"rho = {self.rho:+.3f} [{self.low:+.3f}, {self.high:+.3f}] (n={self.n})"


def _as_scores(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per sample), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop those samples first")
    return values


def _row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of (B, n) arrays; NaN for a constant row."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    scale = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    return np.divide((x * y).sum(axis=1), scale, out=np.full(len(x), np.nan), where=scale > 0)


def spearman(a, b, *, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> Correlation:
    """Spearman's ρ between two ``(n,)`` score vectors, with a bootstrap interval.

    The interval resamples the ``n`` pairs with replacement ``n_boot`` times (seeded) and takes the
    percentiles of ρ (resamples with a constant side are skipped). If ``a`` or ``b`` is constant,
    ρ is undefined and every figure but ``n`` is NaN.
    """
    from scipy.stats import rankdata, spearmanr

    a, b = _as_scores(a, "a"), _as_scores(b, "b")
    if a.shape != b.shape or len(a) < 3:
        raise ValueError(f"a and b must have the same length, at least 3; got {len(a)} and {len(b)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return Correlation(np.nan, np.nan, np.nan, len(a), np.nan, confidence)
    result = spearmanr(a, b)
    draws = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))
    boot = _row_pearson(rankdata(a[draws], axis=1), rankdata(b[draws], axis=1))
    tail = 50.0 * (1.0 - confidence)
    low, high = np.nanpercentile(boot, [tail, 100.0 - tail])
    return Correlation(float(result.statistic), float(low), float(high), len(a), float(result.pvalue), confidence)


def difficulty_vs_structure(
    record: TrainingRecord,
    model: torch.nn.Module,
    ds: Dataset,
    *,
    kind: str = "l2",
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
):
    """Spearman ρ between each sample's difficulty and its lpNTK structure in its class.

    The structure is measured with the within-class lpNTK of ``model`` (typically the model the
    record trained): :func:`mean_cosine` and :func:`interchangeable_count`. A negative ρ means
    samples interchangeable with many others are easy.

    Args:
        record: from ``lab.fit(model, ds, ...)``; must come from ``ds``.
        model: the classifier whose lpNTK describes the data.
        ds: the training data of the record.
        kind: difficulty kind, as for :func:`difficulty`.
        threshold: cosine threshold of :func:`interchangeable_count`.
        n_boot, seed: bootstrap of :func:`spearman`.

    Returns:
        a pandas DataFrame with one row per structure measure: ``measure, rho, low, high, n, p_value``.
    """
    import pandas as pd

    check_record(record, ds)
    scores = difficulty(record, kind=kind)
    K = lpntk(model, ds.x_train, ds.y_train, within_class=True, progress=progress)
    measures = {
        "mean_cosine": mean_cosine(K),
        "interchangeable_count": interchangeable_count(K, threshold=threshold),
    }
    rows = []
    for name, values in measures.items():
        keep = np.isfinite(values)
        r = spearman(scores[keep], values[keep], n_boot=n_boot, seed=seed)
        rows.append({"measure": name, "rho": r.rho, "low": r.low, "high": r.high, "n": r.n,
                     "p_value": r.p_value})
    return pd.DataFrame(rows)


# --- experiments ----------------------------------------------------------------------------------


def _check_choice(name: str, value, choices: Sequence) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_seeds(seeds, minimum: int) -> tuple[int, ...]:
    seeds = tuple(seeds)
    for seed in seeds:
        _check_count("every seed", seed, 0)
    if len(seeds) < minimum or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be at least {minimum} distinct integers, got {seeds!r}")
    return seeds


def _train_curve(ds: Dataset, *, kind: str, seed: int, measure: str, **fit_options) -> np.ndarray:
    """Train a fresh ``kind`` model (init and order from ``seed``); ``(epochs, n_train)`` difficulty curve."""
    model = models.for_dataset(ds, kind, seed=seed)
    record = fit(model, ds, seed=seed, progress=False, **fit_options)
    return difficulty_curve(record, kind=measure)


@dataclass(frozen=True, eq=False)
class SizeExperiment:
    """Difficulty of the same samples trained among more and more others.

    Attributes:
        table: pandas DataFrame, one row per pair of sizes ``size_a <= size_b`` (samples per class):
            ``size_a, size_b, n_compared, rho, low, high`` — Spearman ρ (bootstrap interval) between
            difficulty at ``size_a`` averaged over the even-position seeds and difficulty at
            ``size_b`` averaged over the odd-position seeds, on the ``n_compared`` samples of the
            ``size_a`` subset. Rows with ``size_a == size_b`` compare the two seed halves at one
            size: how reproducible difficulty is at all, the ceiling for the other rows.
        subsets: ``{size: (num_classes * size,) sorted training indices}``; nested, so each
            subset holds every smaller one plus a disjoint set of new samples.
        difficulty: ``(len(sizes), len(seeds), n_train)`` float64, NaN for samples not in the subset.
        sizes, seeds: as run.
    """

    table: object
    subsets: dict[int, np.ndarray]
    difficulty: np.ndarray
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]


def _resolve_sizes(sizes, smallest: int) -> tuple[int, ...]:
    """The sizes (samples per class) to run: powers of 4 up to the smallest class by default."""
    if sizes is None:
        return tuple(n for n in _SIZES if n <= smallest)
    sizes = tuple(_check_count("every size", n) for n in sizes)
    if not sizes or any(a >= b for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"sizes must be a non-empty, strictly increasing sequence, got {sizes!r}")
    if sizes[-1] > smallest:
        raise ValueError(f"size {sizes[-1]} per class is more than the smallest class has ({smallest}); "
                         f"use sizes <= {smallest}")
    return sizes


def _nested_subsets(labels: np.ndarray, sizes: Sequence[int], seed: int) -> dict[int, np.ndarray]:
    """One seeded permutation per class; subset ``n`` takes the first ``n`` of every class."""
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    return {n: np.sort(np.concatenate([order[:n] for order in orders])) for n in sizes}


def size_experiment(
    ds: Dataset,
    sizes: Sequence[int] | None = None,
    *,
    epochs: int = 30,
    lr: float = 0.1,
    seeds: Sequence[int] = (0, 1, 2, 3),
    kind: str = "mlp",
    measure: str = "l2",
    batch_size: int = 64,
    subset_seed: int = 0,
    n_boot: int = 1000,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> SizeExperiment:
    """Is a sample's difficulty its own, or does it depend on how many others are trained with it?

    Nested subsets with ``n`` samples per class are drawn once (``subset_seed``): the subset of
    size ``n`` holds the one of the previous size plus new samples of every class. A fresh model is
    trained on each subset for every seed (the seed draws the initialisation and the data order)
    for ``epochs`` epochs — the same number of presentations per sample at every size, hence fewer
    optimisation steps on smaller subsets. Difficulties are then rank-correlated between sizes on
    the samples the two subsets share (the smaller one); see :class:`SizeExperiment`.

    Args:
        ds: the data set; its training set is subsampled.
        sizes: samples per class, strictly increasing; default ``1, 4, 16, 64, ...`` up to the
            smallest class (digits: up to 64; mnist-5k: up to 256).
        epochs, lr, batch_size, device: passed to :func:`lpntk_lab.fit`.
        seeds: at least two; even and odd positions form the two halves compared.
        kind: the model, as for :func:`lpntk_lab.models.for_dataset`.
        measure: difficulty kind, ``"l2"`` or ``"loss"``.
        subset_seed: seed of the subsets and of the bootstrap.
        n_boot: bootstrap resamples of each correlation.
        progress: show a progress bar over training runs.
    """
    import pandas as pd

    check_dataset(ds)
    _check_choice("model kind", kind, models.KINDS)
    _check_choice("difficulty measure", measure, DIFFICULTY_KINDS)
    seeds = _check_seeds(seeds, 2)
    labels = ds.y_train.cpu().numpy()
    sizes = _resolve_sizes(sizes, int(np.bincount(labels, minlength=ds.num_classes).min()))
    subsets = _nested_subsets(labels, sizes, subset_seed)
    scores = np.full((len(sizes), len(seeds), ds.n_train), np.nan)
    runs = [(i, j) for i in range(len(sizes)) for j in range(len(seeds))]
    for i, j in tqdm(runs, desc="size experiment", unit="run", disable=not progress):
        members = subsets[sizes[i]]
        curve = _train_curve(ds.select(members), kind=kind, seed=seeds[j], measure=measure, epochs=epochs,
                             lr=lr, batch_size=batch_size, device=device)
        scores[i, j, members] = curve[-1]
    halves = scores[:, 0::2].mean(axis=1), scores[:, 1::2].mean(axis=1)  # each (len(sizes), n_train)
    rows = []
    for i, a in enumerate(sizes):
        shared = subsets[a]
        for j in range(i, len(sizes)):
            r = spearman(halves[0][i, shared], halves[1][j, shared], n_boot=n_boot, seed=subset_seed)
            rows.append({"size_a": a, "size_b": sizes[j], "n_compared": len(shared),
                         "rho": r.rho, "low": r.low, "high": r.high})
    return SizeExperiment(pd.DataFrame(rows), subsets, scores, sizes, seeds)


@dataclass(frozen=True, eq=False)
class ControlledDifficulty:
    """One target sample's difficulty when trained with companions chosen by their lpNTK relation.

    Attributes:
        target: training-sample index of the target; ``label`` its class.
        chosen: ``{condition: (k,) training-sample indices}`` of the same-class companions added.
        cosine: ``{condition: (k,)}`` their lpNTK cosine with the target (reference model).
        base: ``(m,)`` training-sample indices of the other-class samples in every training set.
        curves: pandas DataFrame, one row per condition and epoch: ``condition, epoch,
            difficulty_mean, difficulty_std, repeats`` — the target's difficulty accumulated up to
            the end of ``epoch`` (0-based), mean and standard deviation (ddof 1) over the repeats.
    """

    target: int
    label: int
    chosen: dict[str, np.ndarray]
    cosine: dict[str, np.ndarray]
    base: np.ndarray
    curves: object

    @property
    def final(self):
        """The rows of ``curves`` at the last epoch: the target's final difficulty per condition."""
        return self.curves[self.curves.epoch == self.curves.epoch.max()].reset_index(drop=True)


def _companions(cos: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Positions of the top, middle and bottom ``k`` of same-class candidates ranked by ``(n,)`` cosine."""
    ranked = np.argsort(-cos, kind="stable")
    middle = (len(ranked) - k) // 2
    return {"interchangeable": ranked[:k], "median": ranked[middle:middle + k], "contradictory": ranked[-k:]}


def _curve_table(curves: dict[str, list[np.ndarray]]):
    """``{condition: [(epochs,) curve per repeat]}`` -> the tidy ``curves`` DataFrame."""
    import pandas as pd

    rows = []
    for name, runs in curves.items():
        runs = np.stack(runs)  # (repeats, epochs)
        for epoch, (mean, std) in enumerate(zip(runs.mean(axis=0), runs.std(axis=0, ddof=1))):
            rows.append({"condition": name, "epoch": epoch, "difficulty_mean": mean,
                         "difficulty_std": std, "repeats": len(runs)})
    return pd.DataFrame(rows)


def _target_cosines(model, ds: Dataset, target: int, members: np.ndarray, progress: bool) -> np.ndarray:
    """lpNTK cosine of ``target`` with every sample of ``members`` (its class, target included)."""
    K = lpntk(model, ds.x_train[members], ds.y_train[members], progress=progress)
    return cosine(K)[np.flatnonzero(members == target)[0]]


def controlled_difficulty(
    ds: Dataset,
    target: int,
    *,
    k: int = 10,
    conditions: Sequence[str] = CONDITIONS,
    repeats: int = 5,
    epochs: int = 30,
    lr: float = 0.1,
    base_per_class: int | None = None,
    reference_epochs: int = 3,
    kind: str = "mlp",
    measure: str = "l2",
    batch_size: int = 16,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> ControlledDifficulty:
    """Train one target sample with k interchangeable, median or contradictory companions.

    1. A reference model (``kind``, seed ``seed``) is trained on all of ``ds`` for
       ``reference_epochs`` epochs; the lpNTK cosine of the target with every other sample of its
       class ranks them. The top ``k`` are its *interchangeable* companions, the ``k`` around the
       median rank the *median* ones, the bottom ``k`` the *contradictory* ones (the least related:
       negative cosines when the class has any). The three sets are disjoint.
    2. Every training set is the target, the ``k`` companions of one condition, and a fixed *base*:
       ``base_per_class`` seeded samples of every other class (the same for every condition, so the
       model has something to tell the target's class from).
    3. For each condition, ``repeats`` fresh models (seeds ``seed, seed + 1, ...``: the same seeds in
       every condition) are trained for ``epochs`` epochs; the target's difficulty curve is
       averaged over them.

    Args:
        ds: the data set; ``target`` indexes its training set.
        target: index of the target sample.
        k: companions per condition; at most a third of the target's class besides itself.
        conditions: any of ``"interchangeable"``, ``"median"``, ``"contradictory"``.
        repeats: training runs per condition (at least 2, for a standard deviation).
        epochs, lr, batch_size, device: passed to :func:`lpntk_lab.fit` (also for the reference).
        base_per_class: other-class samples per class in the base; default ``k``.
        reference_epochs: training of the reference model that ranks the companions.
        kind: the model, as for :func:`lpntk_lab.models.for_dataset`.
        measure: difficulty kind, ``"l2"`` or ``"loss"``.
        seed: seed of the reference model, the base and the first repeat.
        progress: show a progress bar over training runs.
    """
    target, k, repeats, members, base = _controlled_setup(ds, target, k, repeats, base_per_class, seed)
    conditions = _check_conditions(conditions)
    _check_choice("model kind", kind, models.KINDS)
    _check_choice("difficulty measure", measure, DIFFICULTY_KINDS)
    fit_options = dict(lr=lr, batch_size=batch_size, device=device)

    reference = models.for_dataset(ds, kind, seed=seed)
    fit(reference, ds, epochs=reference_epochs, seed=seed, progress=progress, **fit_options)
    others = members[members != target]
    cos = _target_cosines(reference, ds, target, members, progress)[members != target]
    ranked = _companions(cos, k)
    picks = {name: ranked[name] for name in conditions}

    curves = {name: [] for name in conditions}
    runs = [(name, r) for name in conditions for r in range(repeats)]
    for name, r in tqdm(runs, desc="controlled difficulty", unit="run", disable=not progress):
        train = np.sort(np.concatenate([[target], others[picks[name]], base]))
        curve = _train_curve(ds.select(train), kind=kind, seed=seed + r, measure=measure, epochs=epochs,
                             **fit_options)
        curves[name].append(curve[:, np.searchsorted(train, target)])
    return ControlledDifficulty(
        target=target, label=int(ds.y_train[target]),
        chosen={name: others[rows] for name, rows in picks.items()},
        cosine={name: cos[rows] for name, rows in picks.items()},
        base=base, curves=_curve_table(curves),
    )


def _check_conditions(conditions) -> tuple[str, ...]:
    conditions = tuple(conditions)
    if not conditions or len(set(conditions)) != len(conditions):
        raise ValueError(f"conditions must be distinct names from {CONDITIONS}, got {conditions!r}")
    for name in conditions:
        _check_choice("condition", name, CONDITIONS)
    return conditions


def _controlled_setup(ds: Dataset, target, k, repeats, base_per_class, seed):
    """Validate the arguments of :func:`controlled_difficulty`; draw the base.

    Returns ``target, k, repeats, members`` (the target's class, sorted) ``, base`` (sorted).
    """
    check_dataset(ds)
    if isinstance(target, bool) or not isinstance(target, numbers.Integral) or not 0 <= target < ds.n_train:
        raise ValueError(f"target must be a training-sample index in [0, {ds.n_train}), got {target!r}")
    k = _check_count("k", k)
    repeats = _check_count("repeats", repeats, 2)
    labels = ds.y_train.cpu().numpy()
    members = np.flatnonzero(labels == labels[target])
    if 3 * k > len(members) - 1:
        raise ValueError(
            f"k={k} is too large: the target's class {ds.class_names[labels[target]]!r} has "
            f"{len(members) - 1} other samples, and the interchangeable, median and contradictory "
            f"sets of k each must be disjoint; use k <= {(len(members) - 1) // 3}"
        )
    per_class = k if base_per_class is None else _check_count("base_per_class", base_per_class)
    rng = np.random.default_rng(seed)
    base = []
    for c in np.unique(labels[labels != labels[target]]):
        others = np.flatnonzero(labels == c)
        if per_class > len(others):
            raise ValueError(f"base_per_class={per_class} is more than class {ds.class_names[c]!r} has "
                             f"({len(others)}); use a smaller base_per_class or k")
        base.append(rng.choice(others, size=per_class, replace=False))
    return int(target), k, repeats, members, np.sort(np.concatenate(base))
