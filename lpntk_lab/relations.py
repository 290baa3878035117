"""Relations between samples from the angle of their kernel vectors: interchangeable, unrelated, contradictory.

For a kernel ``K`` that is a Gram matrix ``κ_ij = <g_i, g_j>`` (lpNTK: ``g`` is the sample's
labelled gradient), the cosine ``κ_ij / sqrt(κ_ii κ_jj)`` says how an SGD step on one
sample moves the other:

* **interchangeable** (``cos >= interchangeable``): learning one helps the other;
* **contradictory** (``cos < contradictory``): learning one hurts the other;
* **unrelated**: everything in between.

Default thresholds (``interchangeable=0.5``, ``contradictory=0.0``), measured on digits and
mnist-5k (MLP with one hidden layer of 128, 3 epochs of SGD at lr 0.1; 50 samples per class; see
``docs/relations_and_one_step.md``):

* ``0.5``: one SGD step on u (lr 0.01) raised ``log p_{y_o}(x_o)`` for **every** measured pair
  with a raw lpNTK cosine ``>= 0.5`` (digits: 2,435 pairs; mnist-5k: 1,424 pairs), while below it
  the effect is mixed. It also splits the classes: 99.4% of within-class pairs lie above it on
  digits and 58% on mnist-5k; of the cross-class pairs, 2 in 112,500 on digits and none on
  mnist-5k.
* ``0.0``: a negative cosine is what lpNTK's first-order argument calls "hurts". The raw lpNTK of
  these trained MLPs has **no** negative cosine at all (cross-class minimum 0.05 on digits, 0.01
  on mnist-5k): its sign vector ``s(y) = 2 e_y − 1`` shares the all-ones direction between every
  pair of labels, so the cosine of samples of different classes stays positive even when a step
  on one hurts the other (it does for 57–62% of cross-class pairs). No positive threshold would
  find those either: on digits a *higher* cross-class cosine goes with *more* harm.

Lesson: ``notebooks/02_relations``.

    >>> K = lab.lpntk(model, x, y)
    >>> codes = classify(K)                # (N, N) int8: +1, 0, -1
    >>> neighbours(K, i=0, k=5, kind="interchangeable")
"""

from __future__ import annotations

import enum
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .kernels.inputs import as_labels, check_label_range

__all__ = [
    "CONTRADICTORY", "INTERCHANGEABLE", "KINDS", "Pair", "Relation", "RelationCounts",
    "classify", "cosine", "counts", "example_pairs", "neighbours",
]

INTERCHANGEABLE = 0.5
CONTRADICTORY = 0.0
_SYMMETRY_RTOL = 1e-5


class Relation(enum.IntEnum):
    """The code :func:`classify` gives a pair."""

    CONTRADICTORY = -1
    UNRELATED = 0
    INTERCHANGEABLE = 1


KINDS = ("contradictory", "unrelated", "interchangeable")
"""Relation names, in the order of the last axis of :class:`RelationCounts` (code + 1)."""


class Pair(NamedTuple):
    """Two samples ``i < j`` and the cosine of their kernel vectors."""

    i: int
    j: int
    cosine: float


@dataclass(frozen=True)
class RelationCounts:
    """How many pairs of each relation there are between the samples of each pair of classes.

    Pairs are unordered and a sample is never paired with itself: classes ``a`` and ``b``
    (``a != b``) have ``n_a n_b`` pairs, class ``a`` with itself ``n_a (n_a − 1) / 2``.

    Attributes:
        counts: (C, C, 3) int64, symmetric in the two class axes; last axis in ``KINDS`` order
            (contradictory, unrelated, interchangeable).
        fractions: (C, C, 3) float64, ``counts`` over the class pair's number of pairs
            (NaN for a class pair with no pairs, e.g. a class of one sample with itself).
        interchangeable, contradictory: the thresholds used.
    """

    counts: np.ndarray
    fractions: np.ndarray
    interchangeable: float
    contradictory: float

    @property
    def within(self) -> np.ndarray:
        """(3,) pairs of each relation over all same-class pairs."""
        return np.einsum("aak->k", self.counts)

    @property
    def cross(self) -> np.ndarray:
        """(3,) pairs of each relation over all cross-class pairs (each unordered pair once)."""
        return (self.counts.sum(axis=(0, 1)) - self.within) // 2

    def rows(self) -> list[dict]:
        """A tidy table, one record per class pair ``a <= b`` and relation: for charts."""
        num_classes = len(self.counts)
        return [
            {"class_a": a, "class_b": b, "relation": kind,
             "count": int(self.counts[a, b, k]), "fraction": float(self.fractions[a, b, k])}
            for a in range(num_classes) for b in range(a, num_classes) for k, kind in enumerate(KINDS)
        ]


def cosine(K) -> np.ndarray:
    """Cosines ``κ_ij / sqrt(κ_ii κ_jj)`` of a square Gram kernel: ``(N, N)`` float64 in [−1, 1].

    Args:
        K: ``(N, N)`` symmetric, finite kernel with a non-negative diagonal (e.g. ``lab.lpntk``).

    A sample whose kernel vector is zero (``κ_ii = 0``: a step on it moves nothing) has no
    direction; its row and column of cosines are 0 — it is unrelated to everything, itself
    included. Every other diagonal entry is exactly 1.
    """
    K = _check_kernel(K)
    norms = np.sqrt(np.clip(np.diag(K), 0.0, None))
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    cos = np.clip(K * inverse[:, None] * inverse[None, :], -1.0, 1.0)
    np.fill_diagonal(cos, (norms > 0).astype(np.float64))
    return cos


def classify(K, *, interchangeable: float = INTERCHANGEABLE, contradictory: float = CONTRADICTORY) -> np.ndarray:
    """The relation of every pair, from the cosine: ``(N, N)`` int8 codes of :class:`Relation`.

    ``+1`` (interchangeable) where ``cos >= interchangeable``, ``−1`` (contradictory) where
    ``cos < contradictory``, ``0`` (unrelated) elsewhere. The diagonal is classified like any
    entry (1 for a non-zero sample); :func:`counts` and the other helpers leave it out. The
    defaults and the numbers behind them are in the module docstring.

    Args:
        K: ``(N, N)`` kernel, as for :func:`cosine`.
        interchangeable, contradictory: thresholds in [−1, 1], ``contradictory < interchangeable``.
    """
    _check_thresholds(interchangeable, contradictory)
    return _codes(cosine(K), interchangeable, contradictory)


def counts(
    K, labels, *, interchangeable: float = INTERCHANGEABLE, contradictory: float = CONTRADICTORY
) -> RelationCounts:
    """Pairs of each relation per pair of classes (the diagonal left out).

    Args:
        K: ``(N, N)`` kernel, as for :func:`cosine`.
        labels: ``(N,)`` integer class labels ``>= 0``; ``C = labels.max() + 1``.
        interchangeable, contradictory: thresholds, as for :func:`classify`.
    """
    _check_thresholds(interchangeable, contradictory)
    cos = cosine(K)
    labels = _check_labels(labels, len(cos))
    onehot = np.eye(labels.max() + 1, dtype=np.float32)[labels]  # (N, C)
    codes = _codes(cos, interchangeable, contradictory)
    np.fill_diagonal(codes, 127)  # matches no relation: self-pairs are not counted
    # per sample and class, partners of each relation (float32 sums of at most N ones are exact);
    # then per class pair: ordered pairs (i in a, j in b), so same-class pairs come twice
    members = onehot.astype(np.int64)
    per_class = np.stack(
        [members.T @ ((codes == r.value).astype(np.float32) @ onehot).astype(np.int64) for r in Relation], axis=-1
    )
    diagonal = np.arange(members.shape[1])
    per_class[diagonal, diagonal] //= 2
    totals = per_class.sum(axis=-1, keepdims=True)
    fractions = np.divide(per_class, totals, out=np.full(per_class.shape, np.nan), where=totals > 0)
    return RelationCounts(per_class, fractions, float(interchangeable), float(contradictory))


def neighbours(
    K, i: int, k: int, *, kind: str = "interchangeable", same_class: bool | None = None, labels=None
) -> np.ndarray:
    """The ``k`` samples most strongly in relation ``kind`` to sample ``i`` (never ``i`` itself): ``(k,)``.

    Strongest first: ``"interchangeable"`` — highest cosine; ``"contradictory"`` — lowest cosine;
    ``"unrelated"`` — smallest ``|cos|``. Ties go to the lower index. This ranks; it does not
    apply the thresholds of :func:`classify`, so e.g. the "most contradictory" samples can still
    have a positive cosine.

    Args:
        K: ``(N, N)`` kernel, as for :func:`cosine`.
        i: index of the sample, ``0 <= i < N``.
        k: how many, at most the number of candidates.
        kind: one of ``KINDS``.
        same_class: ``True`` — only samples of ``i``'s class; ``False`` — only other classes;
            ``None`` — all. Needs ``labels``.
        labels: ``(N,)`` integer class labels.
    """
    order = _strongest_first(_check_kind(kind))
    cos = cosine(K)
    i = _check_index(i, len(cos), "i")
    candidates = np.arange(len(cos)) != i
    if same_class is not None:
        if labels is None:
            raise ValueError("same_class needs the class labels: pass labels=y")
        labels = _check_labels(labels, len(cos))
        candidates &= (labels == labels[i]) == bool(same_class)
    pool = np.flatnonzero(candidates)
    k = _check_count(k, "k")
    if k > len(pool):
        raise ValueError(f"k={k} but only {len(pool)} sample(s) qualify as neighbours of sample {i}; "
                         f"ask for at most {len(pool)}")
    return pool[order(cos[i, pool])[:k]]


def example_pairs(
    K,
    labels,
    *,
    kind: str,
    n: int = 5,
    same_class: bool | None = None,
    classes: tuple[int, int] | None = None,
    pick: str = "strongest",
    seed: int = 0,
    interchangeable: float = INTERCHANGEABLE,
    contradictory: float = CONTRADICTORY,
) -> list[Pair]:
    """Up to ``n`` pairs classified as ``kind``, for display: a list of :class:`Pair` ``(i, j, cosine)``.

    Fewer than ``n`` come back when fewer pairs are of that kind (none at all is possible, e.g.
    contradictory pairs under the raw lpNTK of a trained MLP).

    Args:
        K: ``(N, N)`` kernel, as for :func:`cosine`.
        labels: ``(N,)`` integer class labels.
        kind: one of ``KINDS``.
        n: how many pairs at most.
        same_class: ``True`` — only same-class pairs; ``False`` — only cross-class; ``None`` — all.
        classes: ``(a, b)`` — only pairs of one sample of class ``a`` and one of class ``b``.
        pick: ``"strongest"`` — the most extreme of the kind (as in :func:`neighbours`);
            ``"random"`` — drawn uniformly from the pairs of the kind with ``seed``, shown strongest first.
        seed: seed of ``pick="random"``.
        interchangeable, contradictory: thresholds, as for :func:`classify`.
    """
    relation = _check_kind(kind)
    order = _strongest_first(relation)
    if pick not in ("strongest", "random"):
        raise ValueError(f"unknown pick {pick!r}; choose 'strongest' or 'random'")
    n = _check_count(n, "n")
    _check_thresholds(interchangeable, contradictory)
    cos = cosine(K)
    labels = _check_labels(labels, len(cos))
    wanted = np.triu(_codes(cos, interchangeable, contradictory) == relation.value, k=1)
    if same_class is not None:
        wanted &= (labels[:, None] == labels[None, :]) == bool(same_class)
    if classes is not None:
        wanted &= _class_pair_mask(labels, classes)
    rows, cols = np.nonzero(wanted)
    if pick == "random":
        chosen = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
        rows, cols = rows[chosen], cols[chosen]
    best = order(cos[rows, cols])[:n]
    return [Pair(int(a), int(b), float(cos[a, b])) for a, b in zip(rows[best], cols[best])]


def _codes(cos: np.ndarray, interchangeable: float, contradictory: float) -> np.ndarray:
    """Relation codes ``(N, N)`` int8 of a cosine matrix."""
    codes = np.zeros(cos.shape, dtype=np.int8)
    codes[cos >= interchangeable] = Relation.INTERCHANGEABLE
    codes[cos < contradictory] = Relation.CONTRADICTORY
    return codes


def _strongest_first(relation: Relation):
    """A function giving the stable order, strongest first, of cosines for ``relation``."""
    key = {
        Relation.INTERCHANGEABLE: np.negative,
        Relation.CONTRADICTORY: np.asarray,
        Relation.UNRELATED: np.abs,
    }[relation]
    return lambda cos: np.argsort(key(cos), kind="stable")


def _class_pair_mask(labels: np.ndarray, classes) -> np.ndarray:
    """``(N, N)`` bool: one sample of class ``a`` and the other of class ``b``, either way round."""
    if not isinstance(classes, (tuple, list)) or len(classes) != 2:
        raise ValueError(f"classes must be a pair of class labels (a, b), got {classes!r}")
    a, b = (_check_index(c, labels.max() + 1, "classes") for c in classes)
    in_a, in_b = labels == a, labels == b
    return (in_a[:, None] & in_b[None, :]) | (in_b[:, None] & in_a[None, :])


def _check_kernel(K) -> np.ndarray:
    """``K`` as a float64 ``(N, N)`` array, checked square, finite, symmetric, with ``κ_ii >= 0``."""
    try:
        K = np.asarray(K, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"K must be a numeric (N, N) array such as lab.lpntk(model, x, y), got {type(K).__name__}") from err
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"K must be a non-empty square (N, N) kernel of x with itself, got shape {K.shape}; "
                         "compute it without x2/y2")
    if not np.isfinite(K).all():
        raise ValueError(f"K contains NaN or inf in {int((~np.isfinite(K)).sum())} entries: recompute it "
                         "(a WithinClassKernel's dense() fills cross-class pairs with NaN: use its blocks)")
    scale = np.abs(K).max()
    if np.abs(K - K.T).max() > _SYMMETRY_RTOL * scale:
        raise ValueError("K is not symmetric: relations need the kernel of one set with itself, "
                         "K[i, j] == K[j, i]")
    if np.diag(K).min() < -_SYMMETRY_RTOL * scale:
        raise ValueError("K has a negative diagonal entry, so it is not a Gram matrix κ_ij = <g_i, g_j>: "
                         "pass a kernel such as lab.lpntk")
    return K


def _check_thresholds(interchangeable, contradictory) -> None:
    for name, value in (("interchangeable", interchangeable), ("contradictory", contradictory)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not -1 <= value <= 1:
            raise ValueError(f"{name} must be a cosine threshold in [-1, 1], got {value!r}")
    if not contradictory < interchangeable:
        raise ValueError(f"contradictory={contradictory} must be below interchangeable={interchangeable}")


def _check_kind(kind) -> Relation:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    return Relation[kind.upper()]


def _check_index(i, n: int, name: str) -> int:
    if isinstance(i, bool) or not isinstance(i, numbers.Integral):
        raise ValueError(f"{name} must be an integer index, got {i!r} ({type(i).__name__})")
    if not 0 <= i < n:
        raise ValueError(f"{name}={i} is out of range: it must satisfy 0 <= {name} < {n}")
    return int(i)


def _check_count(k, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def _check_labels(labels, n: int) -> np.ndarray:
    """``(N,)`` integer labels ``>= 0`` as an int64 numpy array."""
    y = as_labels(labels, n, "labels")
    check_label_range(y, int(y.max()) + 1, "labels")
    return y.numpy()
