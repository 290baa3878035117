"""Charts and small measurements for scaling lpNTK up: memory footprints, projection error, cluster tails.

Lesson: ``notebooks/06_scale_up``.

    >>> sizes = footprint(np.bincount(ds.y_train.numpy()), n_params=101_770, proj_dim=1024, name="mnist-5k")
    >>> footprint_chart(sizes, budget_bytes=2 * 1024**3)
    >>> projection_error(W_exact, W_projected)["relative_error"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..clustering import Clustering, size_profiles
from ..kernels import WithinClassKernel
from ..relations import classify, cosine

__all__ = ["error_chart", "footprint", "footprint_chart", "projection_error", "tail_chart", "tail_summary"]

_FLOAT64, _FLOAT32 = 8, 4
_GB = 1024**3


def footprint(class_counts: Sequence[int], *, n_params: int, proj_dim: int, name: str) -> pd.DataFrame:
    """Bytes each way of holding the lpNTK of a training set takes.

    Args:
        class_counts: (C,) training samples of every class (``np.bincount(ds.y_train.numpy())``).
        n_params: trainable parameters ``P`` of the model (the length of an exact ``g``-vector).
        proj_dim: the length ``d`` of a projected ``g``-vector.
        name: what the counts describe; goes to the ``data`` column.

    Returns:
        one row per representation (the index): ``"full Gram"`` (N × N float64),
        ``"within-class blocks"`` (Σ n_k² float64), ``"exact features"`` (N × P float32) and
        ``"projected features"`` (N × d float32); columns ``data``, ``shape``, ``bytes``.
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() == 0:
        raise ValueError(f"class_counts must be a 1-D sequence of counts >= 0 with at least one sample, "
                         f"got {class_counts!r}")
    for label, value in (("n_params", n_params), ("proj_dim", proj_dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    n = int(counts.sum())
    rows = {
        "full Gram": (f"{n:,} × {n:,}", n * n * _FLOAT64),
        "within-class blocks": (f"{len(counts)} blocks n_k × n_k", int((counts**2).sum()) * _FLOAT64),
        "exact features": (f"{n:,} × {n_params:,}", n * n_params * _FLOAT32),
        "projected features": (f"{n:,} × {proj_dim:,}", n * proj_dim * _FLOAT32),
    }
    table = pd.DataFrame(
        [{"representation": key, "data": name, "shape": shape, "bytes": size} for key, (shape, size) in rows.items()]
    )
    return table.set_index("representation")


def footprint_chart(table: pd.DataFrame, *, budget_bytes: float = 2 * _GB) -> alt.LayerChart:
    """Bars of GB per representation (log scale), one bar per data set, and a line at ``budget_bytes``.

    Args:
        table: one or more :func:`footprint` tables, concatenated.
        budget_bytes: the memory at hand, e.g. Binder's 2 GB.
    """
    data = table.reset_index().assign(GB=lambda t: t["bytes"] / _GB)
    # bars on a log scale need an explicit start: the power of ten below the smallest value
    start = 10.0 ** np.floor(np.log10(min(data["GB"][data["GB"] > 0].min(), budget_bytes / _GB)))
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("GB:Q", scale=alt.Scale(type="log", domainMin=start), title="memory (GB, log scale)"),
        x2=alt.datum(start),
        y=alt.Y("representation:N", sort=list(dict.fromkeys(data["representation"])), title=None),
        yOffset="data:N",
        color=alt.Color("data:N", title="training set"),
        tooltip=["data", "representation", "shape", alt.Tooltip("GB:Q", format=".3g")],
    )
    budget = pd.DataFrame({"GB": [budget_bytes / _GB], "label": [f"budget {budget_bytes / _GB:g} GB"]})
    rule = alt.Chart(budget).mark_rule(color="firebrick", strokeDash=[4, 3]).encode(x="GB:Q")
    text = alt.Chart(budget).mark_text(align="left", dx=4, dy=-6, color="firebrick").encode(
        x="GB:Q", y=alt.value(0), text="label:N"
    )
    return (bars + rule + text).properties(width=480, title="What it takes to hold the lpNTK")


def projection_error(exact: WithinClassKernel, approx: WithinClassKernel) -> dict[str, float]:
    """How far an approximate within-class lpNTK is from the exact one, over all same-class pairs.

    Args:
        exact, approx: within-class kernels of the same samples (same labels and class blocks),
            e.g. ``lab.lpntk(..., within_class=True)`` and the same with ``method="projected"``.

    Returns:
        ``relative_error``: ``sqrt(Σ_k ||K̂_k − K_k||²_F / Σ_k ||K_k||²_F)``;
        ``cosine_error``: mean ``|coŝ_ij − cos_ij|`` over same-class pairs ``i < j``;
        ``relation_agreement``: share of those pairs put in the same relation (interchangeable,
        unrelated or contradictory; the thresholds of ``lab.relations.classify``).
    """
    for label, kernel in (("exact", exact), ("approx", approx)):
        if not isinstance(kernel, WithinClassKernel):
            raise TypeError(f"{label} must be a WithinClassKernel (lab.lpntk(..., within_class=True)), "
                            f"got {type(kernel).__name__}")
    if not np.array_equal(exact.labels, approx.labels) or exact.blocks.keys() != approx.blocks.keys():
        raise ValueError("exact and approx were computed on different samples: use the same x and y for both")
    squared_diff = squared_norm = 0.0
    cos_diffs, agree = [], []
    for k, block in exact.blocks.items():
        other = np.asarray(approx.blocks[k])
        block = np.asarray(block)
        squared_diff += float(np.sum((other - block) ** 2))
        squared_norm += float(np.sum(block**2))
        upper = np.triu_indices(len(block), k=1)
        cos_diffs.append(np.abs(cosine(other) - cosine(block))[upper])
        agree.append((classify(other) == classify(block))[upper])
    cos_diffs, agree = np.concatenate(cos_diffs), np.concatenate(agree)
    return {
        "relative_error": float(np.sqrt(squared_diff / squared_norm)) if squared_norm > 0 else float("nan"),
        "cosine_error": float(cos_diffs.mean()) if len(cos_diffs) else float("nan"),
        "relation_agreement": float(agree.mean()) if len(agree) else float("nan"),
    }


def error_chart(errors: pd.DataFrame) -> alt.LayerChart:
    """Measured error against ``proj_dim`` (log–log), with a dashed ``1/sqrt(proj_dim)`` slope for reference.

    Args:
        errors: one row per projection: ``proj_dim``, ``relative_error``, ``cosine_error`` (and
            optionally ``relation_agreement``, ``seconds``: shown in the tooltip).
    """
    missing = {"proj_dim", "relative_error", "cosine_error"} - set(errors.columns)
    if missing:
        raise ValueError(f"errors lacks the columns {sorted(missing)}; build it from projection_error rows")
    extra = [c for c in ("relation_agreement", "seconds") if c in errors.columns]
    long = errors.melt(id_vars=["proj_dim", *extra], value_vars=["relative_error", "cosine_error"],
                       var_name="measure", value_name="error")
    first = errors.sort_values("proj_dim").iloc[0]
    reference = pd.DataFrame({"proj_dim": errors["proj_dim"].astype(float)}).assign(
        error=lambda t: first["relative_error"] * np.sqrt(first["proj_dim"] / t["proj_dim"]),
        measure="1/sqrt(proj_dim) slope",
    )
    x = alt.X("proj_dim:Q", scale=alt.Scale(type="log", base=2), title="proj_dim (log scale)")
    y = alt.Y("error:Q", scale=alt.Scale(type="log"), title="error (log scale)")
    measured = alt.Chart(long).mark_line(point=True).encode(
        x=x, y=y, color=alt.Color("measure:N", title=None),
        tooltip=["proj_dim", "measure", alt.Tooltip("error:Q", format=".3g"),
                 *[alt.Tooltip(f"{c}:Q", format=".3g") for c in extra]],
    )
    slope = alt.Chart(reference).mark_line(strokeDash=[4, 3], color="gray").encode(x=x, y=y, detail="measure:N")
    return (measured + slope).properties(width=420, title="Projected lpNTK against exact, measured")


def tail_summary(clusterings: Mapping[str, Clustering]) -> pd.DataFrame:
    """Size profiles of several clusterings side by side, averaged over classes.

    Returns one row per name: ``points``, ``clusters``, ``largest_share`` (share of a class in its
    largest cluster), ``singleton_share`` (share of clusters holding only their centre), ``gini``.
    """
    rows = []
    for name, clustering in _checked(clusterings).items():
        profiles = size_profiles(clustering).values()
        rows.append({
            "clustering": name,
            "points": sum(p.n_points for p in profiles),
            "clusters": sum(p.n_clusters for p in profiles),
            "largest_share": float(np.mean([p.largest_share for p in profiles])),
            "singleton_share": float(np.mean([p.singleton_share for p in profiles])),
            "gini": float(np.mean([p.gini for p in profiles])),
        })
    return pd.DataFrame(rows).set_index("clustering")


def tail_chart(clusterings: Mapping[str, Clustering]) -> alt.Chart:
    """Rank–size curves: every cluster's share of its class against its rank share, largest first.

    Clusterings of different sizes become comparable: x is ``rank / clusters`` (pooled over
    classes), y the cluster's size over its class's size (log scale).
    """
    frames = []
    for name, clustering in _checked(clusterings).items():
        shares = np.concatenate([p.sizes / p.n_points for p in size_profiles(clustering).values()])
        shares = np.sort(shares)[::-1]
        frames.append(pd.DataFrame({
            "clustering": name,
            "rank_share": np.arange(1, len(shares) + 1) / len(shares),
            "size_share": shares,
        }))
    return alt.Chart(pd.concat(frames)).mark_line(point=True).encode(
        x=alt.X("rank_share:Q", title="cluster rank / number of clusters (largest first)"),
        y=alt.Y("size_share:Q", scale=alt.Scale(type="log"), title="cluster size / class size (log scale)"),
        color=alt.Color("clustering:N", title=None),
        tooltip=["clustering", alt.Tooltip("size_share:Q", format=".3f"), alt.Tooltip("rank_share:Q", format=".3f")],
    ).properties(width=420, title="The long tail of FPC cluster sizes")


def _checked(clusterings: Mapping[str, Clustering]) -> Mapping[str, Clustering]:
    if not isinstance(clusterings, Mapping) or not clusterings:
        raise ValueError("clusterings must be a non-empty {name: Clustering} mapping")
    for name, clustering in clusterings.items():
        if not isinstance(clustering, Clustering):
            raise TypeError(f"clusterings[{name!r}] must be a Clustering (from lab.fpc), got {type(clustering).__name__}")
    return clusterings
