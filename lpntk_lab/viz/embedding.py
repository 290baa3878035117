"""A map of the samples: UMAP of the lpNTK distances, coloured by class, with the images as tooltips.

The lpNTK is a Gram matrix of the samples' labelled gradients ``g_i``, so
``d²_ij = κ_ii + κ_jj − 2 κ_ij = ‖g_i − g_j‖²`` is a squared Euclidean distance between them.
UMAP lays the samples out in 2-D so that near neighbours under ``d`` stay near.

umap-learn compiles its code with numba on first use in a process: the first map takes about
10–25 s, later ones well under a second for a few hundred samples. Lesson: ``notebooks/02_relations``.

    >>> coords = lab.viz.embedding.umap_coordinates(K, seed=0)       # (N, 2)
    >>> lab.viz.embedding.chart(coords, y, images=x, class_names=ds.class_names)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..relations import _check_kernel
from .base import image_urls

__all__ = ["chart", "names_of_classes", "squared_distances", "umap_coordinates"]


def names_of_classes(labels: np.ndarray, class_names: Sequence[str] | None) -> list[str]:
    """``class_names`` as strings, or the label numbers ``0 … max(labels)`` when there are none."""
    return [str(c) for c in (class_names or range(int(np.max(labels)) + 1))]


def squared_distances(K) -> np.ndarray:
    """``d²_ij = κ_ii + κ_jj − 2 κ_ij``, clamped at 0 (rounding), zero diagonal: ``(N, N)`` float64.

    Args:
        K: ``(N, N)`` symmetric kernel with a non-negative diagonal, e.g. ``lab.lpntk(model, x, y)``.
    """
    K = _check_kernel(K)
    diag = np.diag(K)
    d2 = np.clip(diag[:, None] + diag[None, :] - 2.0 * K, 0.0, None)
    np.fill_diagonal(d2, 0.0)
    return d2


def umap_coordinates(K, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0) -> np.ndarray:
    """2-D UMAP coordinates of the samples from the kernel distances ``sqrt(d²)``: ``(N, 2)`` float32.

    Deterministic for a given ``seed`` on one machine (UMAP then runs single-threaded). Classes
    far apart under the kernel can leave the neighbour graph in pieces; UMAP lays each piece
    out on its own, so distances *between* islands mean little.

    Args:
        K: ``(N, N)`` kernel, as for :func:`squared_distances`; at least 4 samples.
        n_neighbors: size of the neighbourhood UMAP preserves (capped at ``N − 1``).
        min_dist: how tightly UMAP may pack points.
        seed: UMAP's random state.
    """
    distances = np.sqrt(squared_distances(K))
    if len(distances) < 4:
        raise ValueError(f"a map needs at least 4 samples, got {len(distances)}")
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise ValueError(f"n_neighbors must be an integer >= 2, got {n_neighbors!r}")
    import umap  # slow to import (numba): only when a map is asked for

    reducer = umap.UMAP(
        n_neighbors=min(int(n_neighbors), len(distances) - 1), min_dist=min_dist, metric="precomputed",
        random_state=seed, n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="using precomputed metric")  # no inverse_transform: fine
        warnings.filterwarnings("ignore", message="Graph is not fully connected")  # classes far apart: fine
        return reducer.fit_transform(distances).astype(np.float32)


def chart(
    coords,
    labels,
    *,
    images=None,
    class_names: Sequence[str] | None = None,
    values=None,
    value_title: str = "value",
    size: int = 420,
) -> alt.Chart:
    """Scatter of ``(N, 2)`` coordinates; hover shows the image; scroll to zoom, drag to pan.

    Coloured by class (click the legend to pick one), or by ``values`` when given.

    Args:
        coords: ``(N, 2)`` positions, e.g. from :func:`umap_coordinates`.
        labels: ``(N,)`` class labels.
        images: optional ``(N, C, H, W)`` tensor shown in the tooltip.
        class_names: names of the classes; default: the label numbers.
        values: optional ``(N,)`` numbers to colour by instead of the class; ``value_title`` names them.
    """
    coords = np.asarray(coords, dtype=np.float64)
    labels = np.asarray(labels)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(labels):
        raise ValueError(f"coords must be (N, 2) with one row per label; got {coords.shape} and {len(labels)} labels")
    names = names_of_classes(labels, class_names)
    table = pd.DataFrame({"sample": np.arange(len(labels)), "x": coords[:, 0], "y": coords[:, 1],
                          "class": [names[c] for c in labels]})
    tooltip = ["sample:Q", "class:N"]
    if values is not None:
        table["value"] = np.asarray(values, dtype=np.float64)
        tooltip.append(alt.Tooltip("value:Q", title=value_title, format=".3f"))
    if images is not None:
        table["image"] = image_urls(images)
        tooltip.append("image:N")
    points = alt.Chart(table).mark_circle(size=40).encode(
        x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None), tooltip=tooltip
    ).properties(width=size, height=size)
    if values is not None:
        return points.encode(color=alt.Color("value:Q", scale=alt.Scale(scheme="viridis"), title=value_title)).interactive()
    pick = alt.selection_point(fields=["class"], bind="legend")
    return points.encode(
        color=alt.Color("class:N", sort=names, title="class"),
        opacity=alt.condition(pick, alt.value(0.85), alt.value(0.08)),
    ).add_params(pick).interactive()
