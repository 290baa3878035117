"""Farthest point clustering (FPC): Gonzalez's greedy k-center on a kernel, class by class.

FPC picks a first centre, then again and again the point farthest from every centre chosen so far;
each point belongs to its nearest centre. After ``k`` centres the covering radius (the largest
distance from a point to its centre) is at most twice the best possible with ``k`` centres.

The state is O(N): each point's distance to its nearest centre and the index of that centre. Each
new centre needs one kernel row, so the kernel can be a full Gram matrix, a
:class:`~lpntk_lab.kernels.WithinClassKernel`, per-sample feature vectors ``F`` (``K = F Fᵀ``,
never formed) or a callback returning one row at a time.

Distances (``metric``) from kernel values ``κ``:

* ``"kernel"``: ``d_ij = sqrt(max(κ_ii + κ_jj − 2 κ_ij, 0))``, the distance between the gradient
  vectors ``g_i`` and ``g_j``;
* ``"cosine"``: ``d_ij = 1 − κ_ij / sqrt(κ_ii κ_jj)`` (a point with ``κ_ii = 0`` has cosine 0 with
  every other point);
* ``"paper"``: the authors' raw-similarity variant, ``d_ij = −κ_ij``: the next centre is the point
  least similar to its own centre, and a point moves to a new centre when it is more similar to it.

Rules (the same input always gives the same result):

* the first centre of each class is drawn uniformly from the class by
  ``np.random.default_rng(seed)``, one draw per class in ascending class order;
* among equally far points the lowest index becomes the next centre;
* a point at equal distance from two centres stays with the one chosen first;
* a centre always belongs to its own cluster (with ``"paper"`` another centre can be more similar
  to it than it is to itself), and its ``distance`` is its distance to itself: 0 for ``"kernel"``
  and ``"cosine"``, ``−κ_cc`` for ``"paper"``;
* the covering radius is the largest distance of a point that is not a centre; once every point
  of a class is a centre it is 0 (``-inf`` for ``"paper"``).

Lesson: ``notebooks/05_clusters_and_pruning``.

    >>> W = lab.lpntk(model, ds.x_train, ds.y_train, within_class=True)
    >>> clusters = fpc(W, ratio=0.1)
    >>> size_profiles(clusters)[0].largest_share
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .kernels import WithinClassKernel

__all__ = ["METRICS", "Clustering", "SizeProfile", "fpc", "gini", "size_profiles"]

METRICS = ("kernel", "cosine", "paper")
_SYMMETRY_RTOL = 1e-6
_CHECK_TILE = 256  # tile side when checking a Gram matrix for symmetry and finite values

RowFn = Callable[[int], np.ndarray]  # local index j -> (n,) kernel row within the class


@dataclass(frozen=True)
class Clustering:
    """The result of :func:`fpc`.

    Attributes:
        centres: (k,) int64 indices of the centres into the N points, class by class (ascending
            class), each class in selection order.
        assignment: (N,) int64 cluster of every point: an index into ``centres``.
        distance: (N,) float64 distance of every point to its centre, in the metric's units.
        radius: (k,) float64 covering radius of the centre's class right after that centre was added.
        labels: (N,) int64 class of every point (all 0 when ``fpc`` got no labels).
        metric: ``"kernel"``, ``"cosine"`` or ``"paper"``.
    """

    centres: np.ndarray
    assignment: np.ndarray
    distance: np.ndarray
    radius: np.ndarray
    labels: np.ndarray
    metric: str

    @property
    def n_clusters(self) -> int:
        return len(self.centres)

    @property
    def sizes(self) -> np.ndarray:
        """(k,) number of points in each cluster, in the order of ``centres``."""
        return np.bincount(self.assignment, minlength=self.n_clusters)

    @property
    def centre_labels(self) -> np.ndarray:
        """(k,) class of each centre."""
        return self.labels[self.centres]

    def members(self, cluster: int) -> np.ndarray:
        """Indices of the points in cluster ``cluster`` (an index into ``centres``), ascending."""
        return np.flatnonzero(self.assignment == cluster)

    def insertion_radius(self) -> np.ndarray:
        """(k,) each centre's distance to the earlier centres of its class when it was chosen.

        ``+inf`` for the first centre of each class. Within a class it never increases; a prefix of
        the selection order is the FPC solution with fewer centres.
        """
        before = np.concatenate([[np.inf], self.radius[:-1]])
        first = np.r_[True, self.centre_labels[1:] != self.centre_labels[:-1]]
        return np.where(first, np.inf, before)

    def __repr__(self) -> str:
        return (f"Clustering(metric={self.metric!r}, n_points={len(self.assignment)}, "
                f"n_clusters={self.n_clusters}, classes={len(np.unique(self.labels))})")


# --- the algorithm ----------------------------------------------------------------------------------


def _distances(metric: str, diag: np.ndarray) -> Callable[[np.ndarray, int], np.ndarray]:
    """``to(row, j)``: the (n,) distances of every point to point ``j`` from its kernel row.

    ``"kernel"`` distances are squared here (same order, no square roots in the loop).
    """
    if metric == "kernel":
        def to(row, j):
            d = row * -2.0
            d += diag
            d += diag[j]
            return np.maximum(d, 0.0, out=d)
    elif metric == "cosine":
        norm = np.sqrt(np.maximum(diag, 0.0))
        inv = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)

        def to(row, j):
            d = row * (-inv[j])
            d *= inv
            d += 1.0
            return np.clip(d, 0.0, 2.0, out=d)
    else:
        def to(row, j):
            return -row
    return to


def _gonzalez(diag: np.ndarray, row: RowFn, k: int, first: int, metric: str):
    """FPC on one class of n points: (k,) centres, (n,) assignment and distance, (k,) radius.

    ``gap[i]`` is point i's distance to its nearest centre, ``-inf`` once i is a centre (so it is
    never picked or moved again); one kernel row per centre.
    """
    n = len(diag)
    to = _distances(metric, diag)
    gap = np.full(n, np.inf)
    assignment = np.zeros(n, dtype=np.int64)
    centres = np.empty(k, dtype=np.int64)
    radius = np.empty(k)
    j = first
    for t in range(k):
        centres[t] = j
        d = to(np.asarray(row(j), dtype=np.float64), j)
        closer = d < gap
        np.copyto(gap, d, where=closer)
        np.copyto(assignment, t, where=closer)
        assignment[j], gap[j] = t, -np.inf
        j = int(np.argmax(gap))
        radius[t] = gap[j]
    return centres, assignment, gap, radius


def _finish(metric: str, gap: np.ndarray, radius: np.ndarray, centres: np.ndarray, diag: np.ndarray):
    """Turn the loop's state into reported distances: centres' self-distance, square roots."""
    distance = gap.copy()
    if metric == "paper":
        distance[centres] = -diag[centres]
        return distance, radius
    distance[centres] = 0.0
    radius = np.where(np.isneginf(radius), 0.0, radius)
    if metric == "kernel":
        return np.sqrt(distance), np.sqrt(radius)
    return distance, radius


def fpc(
    K=None,
    labels=None,
    *,
    features=None,
    rows: Callable[[int], np.ndarray] | None = None,
    diagonal=None,
    n_clusters: int | Mapping[int, int] | None = None,
    ratio: float | None = None,
    metric: str = "kernel",
    seed: int = 0,
    progress: bool = True,
) -> Clustering:
    """Farthest point clustering of N points, separately within each class.

    Give the kernel in exactly one of three ways:

    * ``K``: an (N, N) symmetric Gram matrix (numpy array, memmap or tensor), or a
      :class:`~lpntk_lab.kernels.WithinClassKernel` (its labels are used);
    * ``features``: (N, P) vectors ``g_i`` with ``K = F Fᵀ`` (float32 features give float32 rows);
    * ``rows`` and ``diagonal``: ``rows(i)`` returns kernel row i, shape (N,); ``diagonal`` is
      ``κ_ii``, shape (N,).

    Args:
        labels: (N,) integer classes; points are clustered within their class. Default: one class.
        n_clusters: centres per class (an int for every class, or ``{class: count}``).
        ratio: centres per class as a share of the class size, ``round(ratio * n_class)``, in (0, 1].
        metric: ``"kernel"``, ``"cosine"`` or ``"paper"`` (see the module docstring).
        seed: draws the first centre of each class.
        progress: show a progress bar over classes.

    Returns:
        a :class:`Clustering`; the module docstring lists the tie and centre rules.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    labels, sources = _sources(K, labels, features, rows, diagonal)
    counts = _cluster_counts({c: len(idx) for c, (idx, _, _) in sources.items()}, n_clusters, ratio)
    rng = np.random.default_rng(seed)
    assignment, distance = np.empty(len(labels), np.int64), np.empty(len(labels))
    centres, radius, offset = [], [], 0
    bar = tqdm(sources.items(), desc="fpc", unit="class", disable=not progress or len(sources) < 2, leave=False)
    for c, (idx, diag, row) in bar:
        first = int(rng.integers(len(idx)))
        local, assign, gap, rad = _gonzalez(diag, row, counts[c], first, metric)
        dist, rad = _finish(metric, gap, rad, local, diag)
        assignment[idx] = assign + offset
        distance[idx] = dist
        offset += len(local)
        centres.append(idx[local])
        radius.append(rad)
    return Clustering(np.concatenate(centres), assignment, distance, np.concatenate(radius), labels, metric)


# --- inputs ---------------------------------------------------------------------------------------


def _sources(K, labels, features, rows, diagonal):
    """Validate the inputs; return (N,) labels and ``{class: (indices, diagonal, row function)}``."""
    given = [name for name, v in (("K", K), ("features", features), ("rows", rows)) if v is not None]
    if len(given) != 1:
        raise TypeError(f"give the kernel in exactly one way (K, features, or rows with diagonal); got "
                        f"{', '.join(given) if given else 'none'}")
    if diagonal is not None and rows is None:
        raise TypeError("diagonal goes with rows=; a Gram matrix or features carry their own diagonal")
    if isinstance(K, WithinClassKernel):
        return _within_class_sources(K, labels)
    if K is not None:
        K = _as_gram(K)
        return _split(len(K), labels, np.diagonal(K), lambda i, cols: K[i, cols] if cols is not None else K[i])
    if features is not None:
        F = _as_features(features)
        return _feature_sources(F, labels)
    if not callable(rows):
        raise TypeError(f"rows must be a function i -> kernel row (N,), got {type(rows).__name__}")
    if diagonal is None:
        raise TypeError("rows= needs diagonal= too: the (N,) values κ_ii")
    diag = _as_finite_vector(diagonal, "diagonal")
    return _split(len(diag), labels, diag, _checked_rows(rows, len(diag)))


def _split(n: int, labels, diag: np.ndarray, row_of: Callable[[int, np.ndarray | None], np.ndarray]):
    """Per-class sources from a global row function ``row_of(i, columns or None for all)``."""
    labels = _as_labels(labels, n)
    classes = np.unique(labels)
    if len(classes) == 1:
        idx = np.arange(n)
        return labels, {int(classes[0]): (idx, diag, lambda j: row_of(j, None))}
    sources = {}
    for c in classes:
        idx = np.flatnonzero(labels == c)
        sources[int(c)] = (idx, diag[idx], lambda j, idx=idx: row_of(idx[j], idx))
    return labels, sources


def _within_class_sources(W: WithinClassKernel, labels):
    own = np.asarray(W.labels, dtype=np.int64)
    if labels is not None and not np.array_equal(_as_labels(labels, len(own)), own):
        raise ValueError("labels differ from the WithinClassKernel's own labels; leave labels=None")
    sources = {}
    for c in sorted(W.indices):
        block = _as_gram(W.blocks[c], f"block of class {c}")
        sources[int(c)] = (np.asarray(W.indices[c], dtype=np.int64), np.diagonal(block).copy(),
                           lambda j, block=block: block[j])
    return own, sources


def _feature_sources(F: np.ndarray, labels):
    labels = _as_labels(labels, len(F))
    sources = {}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        Fc = F[idx]
        diag = np.einsum("ij,ij->i", Fc, Fc, dtype=np.float64)
        sources[int(c)] = (idx, diag, lambda j, Fc=Fc: Fc @ Fc[j])
    return labels, sources


def _as_array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    return x


def _as_gram(K, name: str = "K") -> np.ndarray:
    """An (n, n) finite, symmetric float64 matrix (checked tile by tile; a float64 K is not copied)."""
    K = _as_array(K, name)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square (N, N) kernel matrix, got shape {K.shape}; "
                         "for (N, P) per-sample vectors pass features= instead")
    if len(K) == 0:
        raise ValueError(f"{name} is empty: pass at least one point")
    K = K.astype(np.float64, copy=False)
    tol = _SYMMETRY_RTOL * max(float(np.abs(np.diagonal(K)).max()), np.finfo(float).tiny)
    b = _CHECK_TILE
    for s in range(0, len(K), b):
        for t in range(s, len(K), b):
            gap = np.abs(K[s : s + b, t : t + b] - K[t : t + b, s : s + b].T).max()
            if gap <= tol:
                continue
            where = f"rows {s}..{min(s + b, len(K)) - 1}, columns {t}..{min(t + b, len(K)) - 1}"
            if not (np.isfinite(K[s : s + b, t : t + b]).all() and np.isfinite(K[t : t + b, s : s + b]).all()):
                raise ValueError(f"{name} contains NaN or inf (near {where}); clean it first")
            raise ValueError(f"{name} is not symmetric (|K - Kᵀ| reaches {gap:.3g} near {where}); "
                             "a kernel matrix must equal its transpose")
    return K


def _as_features(features) -> np.ndarray:
    F = _as_array(features, "features")
    if F.ndim != 2 or len(F) == 0:
        raise ValueError(f"features must have shape (N, P) with N >= 1, got {F.shape}")
    if F.dtype.kind != "f":
        F = F.astype(np.float64)
    if not np.isfinite(F).all():
        raise ValueError("features contain NaN or inf; clean them first")
    return F


def _as_finite_vector(x, name: str) -> np.ndarray:
    v = _as_array(x, name).astype(np.float64, copy=False)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"{name} must have shape (N,) with N >= 1, got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains NaN or inf; clean it first")
    return v


def _checked_rows(rows: Callable[[int], np.ndarray], n: int):
    """Wrap ``rows`` to check every returned row: shape (n,), finite; then keep ``columns``."""
    def row_of(i: int, columns: np.ndarray | None) -> np.ndarray:
        r = _as_array(rows(int(i)), f"rows({i})")
        if r.shape != (n,):
            raise ValueError(f"rows({i}) must return the kernel row of shape ({n},), got {r.shape}")
        if not np.isfinite(r).all():
            raise ValueError(f"rows({i}) contains NaN or inf")
        return r if columns is None else r[columns]
    return row_of


def _as_labels(labels, n: int) -> np.ndarray:
    if labels is None:
        return np.zeros(n, dtype=np.int64)
    y = _as_array(labels, "labels")
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer classes, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per point, got {y.shape}")
    return y.astype(np.int64)


def _cluster_counts(class_sizes: dict[int, int], n_clusters, ratio) -> dict[int, int]:
    """Centres per class from ``n_clusters`` (int or mapping) or ``ratio``."""
    if (n_clusters is None) == (ratio is None):
        raise TypeError("give exactly one of n_clusters= (centres per class) or ratio= (share of each class)")
    if ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 < ratio <= 1:
            raise ValueError(f"ratio must be a number in (0, 1], got {ratio!r}")
        counts = {c: int(np.floor(ratio * n + 0.5)) for c, n in class_sizes.items()}
        empty = [c for c, k in counts.items() if k == 0]
        if empty:
            smallest = min(class_sizes[c] for c in empty)
            raise ValueError(f"ratio={ratio} gives no cluster for class(es) {empty} (smallest has {smallest} "
                             f"points): use ratio >= {0.5 / smallest:.3g} or n_clusters=")
        return counts
    if isinstance(n_clusters, Mapping):
        missing = sorted(set(class_sizes) - set(n_clusters))
        if missing:
            raise ValueError(f"n_clusters has no count for class(es) {missing}")
        counts = {c: n_clusters[c] for c in class_sizes}
    else:
        counts = dict.fromkeys(class_sizes, n_clusters)
    for c, k in counts.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= class_sizes[c]:
            raise ValueError(f"n_clusters for class {c} must be an integer in [1, {class_sizes[c]}] "
                             f"(the class size), got {k!r}")
    return {c: int(k) for c, k in counts.items()}


# --- the long tail ------------------------------------------------------------------------------------


def gini(sizes) -> float:
    """Gini coefficient of non-negative sizes: 0 when all are equal, near 1 when one holds all."""
    s = np.sort(np.asarray(sizes, dtype=np.float64))
    n, total = len(s), s.sum()
    if n == 0 or total == 0:
        return 0.0
    return float(2 * np.sum(np.arange(1, n + 1) * s) / (n * total) - (n + 1) / n)


@dataclass(frozen=True)
class SizeProfile:
    """Cluster sizes of one class, largest first.

    Attributes:
        label: the class.
        sizes: (k,) int64 cluster sizes sorted in decreasing order.
    """

    label: int
    sizes: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.sizes.sum())

    @property
    def n_clusters(self) -> int:
        return len(self.sizes)

    @property
    def largest_share(self) -> float:
        """Share of the class's points in its largest cluster."""
        return float(self.sizes[0] / self.n_points)

    @property
    def singleton_share(self) -> float:
        """Share of the clusters that hold only their centre."""
        return float(np.mean(self.sizes == 1))

    @property
    def gini(self) -> float:
        """Gini coefficient of the sizes (0: all equal; near 1: one cluster holds almost all)."""
        return gini(self.sizes)


def size_profiles(clustering: Clustering) -> dict[int, SizeProfile]:
    """The sorted cluster sizes of every class: ``{class: SizeProfile}``."""
    if not isinstance(clustering, Clustering):
        raise TypeError(f"clustering must be a Clustering (from fpc), got {type(clustering).__name__}")
    sizes, owner = clustering.sizes, clustering.centre_labels
    return {int(c): SizeProfile(int(c), np.sort(sizes[owner == c])[::-1]) for c in np.unique(owner)}
