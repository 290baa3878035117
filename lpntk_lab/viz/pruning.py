"""Charts for clusters and pruning: the long tail of FPC cluster sizes, galleries of a big and a small
cluster, and test accuracy against the share of the training set removed.

Lesson: ``notebooks/05_clusters_and_pruning``.

    >>> clusters = lab.fpc(W, ratio=0.1, metric="paper")
    >>> lab.viz.pruning.sizes_chart(lab.size_profiles(clusters))
    >>> lab.viz.pruning.cluster_gallery(ds, clusters, label=3)
    >>> lab.viz.pruning.accuracy_chart(lab.compare(ds, ["random", "lpntk-fpc-heads"], [0.1, 0.3]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd
import torch

from ..clustering import Clustering, SizeProfile
from ..comparison import UNPRUNED, Comparison
from ..data import Dataset
from .base import image_urls

__all__ = ["accuracy_chart", "accuracy_frame", "cluster_gallery", "gallery_frame", "sizes_chart", "sizes_frame"]


# --- the long tail ----------------------------------------------------------------------------------


def sizes_frame(profiles: Mapping[int, SizeProfile], class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per cluster: ``label, class_name, rank`` (1 = largest), ``size``, ``share`` of its
    class, and the class's ``gini`` and ``largest_share``. ``profiles`` from ``lab.size_profiles``."""
    rows = []
    for label, p in profiles.items():
        name = str(class_names[label]) if class_names is not None else str(label)
        for rank, size in enumerate(p.sizes, start=1):
            rows.append(dict(label=label, class_name=name, rank=rank, size=int(size), share=size / p.n_points,
                             gini=p.gini, largest_share=p.largest_share))
    return pd.DataFrame(rows)


def sizes_chart(profiles: Mapping[int, SizeProfile], class_names: Sequence[str] | None = None) -> alt.HConcatChart:
    """Left: each class's cluster sizes, largest first (log scale); right: the Gini coefficient of
    each class's sizes. Click a class in the legend to highlight it in both."""
    frame = sizes_frame(profiles, class_names)
    pick = alt.selection_point(fields=["class_name"], bind="legend")
    colour = alt.Color("class_name:N", title="class", sort=list(dict.fromkeys(frame["class_name"])))
    fade = alt.condition(pick, alt.value(1.0), alt.value(0.12))
    sizes = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("rank:Q", title="cluster rank (1 = largest)"),
        y=alt.Y("size:Q", scale=alt.Scale(type="log"), title="samples in the cluster"),
        color=colour, opacity=fade,
        tooltip=["class_name:N", "rank:Q", "size:Q", alt.Tooltip("share:Q", format=".0%", title="share of class")],
    ).add_params(pick).properties(width=380, height=260, title="Sorted cluster sizes per class")
    per_class = frame.drop_duplicates("label")
    gini = alt.Chart(per_class).mark_bar().encode(
        x=alt.X("class_name:N", title="class", sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("gini:Q", scale=alt.Scale(domain=[0, 1]), title="Gini of the sizes"),
        color=colour, opacity=fade,
        tooltip=["class_name:N", alt.Tooltip("gini:Q", format=".2f"),
                 alt.Tooltip("largest_share:Q", format=".0%", title="largest cluster's share")],
    ).properties(width=260, height=260, title="How unequal (0: equal sizes)")
    return alt.hconcat(sizes, gini)


# --- galleries --------------------------------------------------------------------------------------


def gallery_frame(ds: Dataset, clusters: Clustering, label: int, *, n: int = 16) -> pd.DataFrame:
    """The images of :func:`cluster_gallery`: ``n`` members of the class's largest cluster (spread from
    the most to the least similar to its centre) and the centres of its ``n`` smallest other clusters.

    Returns:
        columns ``group`` (``"largest"``/``"smallest"``), ``position``, ``sample``, ``cluster``,
        ``size`` (of the sample's cluster), ``url`` (PNG data URL).
    """
    own = np.flatnonzero(clusters.centre_labels == label)
    if len(own) == 0:
        raise ValueError(f"class {label} has no clusters; classes with clusters: "
                         f"{sorted(set(clusters.centre_labels.tolist()))}")
    sizes = clusters.sizes
    by_size = own[np.argsort(-sizes[own], kind="stable")]
    big = clusters.members(int(by_size[0]))
    big = big[np.argsort(clusters.distance[big], kind="stable")]
    big = big[np.unique(np.linspace(0, len(big) - 1, min(n, len(big))).round().astype(np.int64))]
    small = by_size[1:][::-1][:n]  # smallest first, never the largest
    rows = [("largest", i, s, int(by_size[0])) for i, s in enumerate(big)]
    rows += [("smallest", i, int(clusters.centres[c]), int(c)) for i, c in enumerate(small)]
    frame = pd.DataFrame(rows, columns=["group", "position", "sample", "cluster"])
    frame["size"] = sizes[frame["cluster"].to_numpy()]
    frame["url"] = image_urls(ds.x_train[torch.as_tensor(frame["sample"].to_numpy(np.int64, copy=True))])
    return frame


def cluster_gallery(ds: Dataset, clusters: Clustering, label: int, *, n: int = 16,
                    class_names: Sequence[str] | None = None) -> alt.VConcatChart:
    """Two rows of images of class ``label``: members of its largest cluster, and the centres of its
    smallest clusters (:func:`gallery_frame`). ``clusters`` from ``lab.fpc`` on the training set."""
    frame = gallery_frame(ds, clusters, label, n=n)
    name = str(class_names[label]) if class_names is not None else str(label)
    n_class = int(np.sum(clusters.labels == label))
    big = frame[frame["group"] == "largest"]
    small = frame[frame["group"] == "smallest"]
    titles = {
        "largest": f"class {name}: its largest cluster holds {int(big['size'].iloc[0])} of {n_class} samples "
                   f"({len(big)} shown, most to least similar to the centre)",
        "smallest": f"class {name}: centres of its {len(small)} smallest clusters "
                    f"(sizes {', '.join(str(s) for s in small['size'])})",
    }
    rows = [
        alt.Chart(part).mark_image(width=40, height=40).encode(
            x=alt.X("position:O", axis=None), y=alt.value(22), url="url:N",
            tooltip=["sample:Q", "cluster:Q", "size:Q"],
        ).properties(width=44 * len(part), height=44, title=titles[group], view=alt.ViewConfig(stroke=None))
        for group, part in (("largest", big), ("smallest", small)) if len(part)
    ]
    return alt.vconcat(*rows)


# --- accuracy after pruning -------------------------------------------------------------------------


def accuracy_frame(comparison: Comparison) -> pd.DataFrame:
    """``comparison.summary`` with the unpruned run prepended to every method's line (fraction 0),
    accuracies in percent: columns ``method, fraction, mean, ci_low, ci_high, seeds, train_size``."""
    summary = comparison.summary
    unpruned = summary[summary["method"] == UNPRUNED]
    lines = [summary[summary["method"] == m] for m in summary["method"].unique() if m != UNPRUNED]
    frame = pd.concat([pd.concat([unpruned.assign(method=line["method"].iloc[0]), line]) for line in lines]
                      or [unpruned], ignore_index=True)
    frame = frame.copy()
    for column in ("mean", "ci_low", "ci_high"):
        frame[column] = 100 * frame[column]
    return frame[["method", "fraction", "mean", "ci_low", "ci_high", "seeds", "train_size"]]


def accuracy_chart(comparison: Comparison) -> alt.LayerChart:
    """Test accuracy (mean over seeds, 95 % band when there are two or more) against the share removed,
    one line per method, all starting from the unpruned training set (dashed line). Click a method
    in the legend to highlight it."""
    frame = accuracy_frame(comparison)
    unpruned = frame[frame["fraction"] == 0.0].head(1)
    pick = alt.selection_point(fields=["method"], bind="legend")
    base = alt.Chart(frame).encode(
        x=alt.X("fraction:Q", title="share of the training set removed", axis=alt.Axis(format="%")),
        color=alt.Color("method:N", title="method"),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title="test accuracy (%)", scale=alt.Scale(zero=False)),
        tooltip=["method:N", alt.Tooltip("fraction:Q", format=".0%"), "train_size:Q", "seeds:Q",
                 alt.Tooltip("mean:Q", format=".2f"), alt.Tooltip("ci_low:Q", format=".2f"),
                 alt.Tooltip("ci_high:Q", format=".2f")],
    ).add_params(pick)
    band = base.mark_area().encode(
        y="ci_low:Q", y2="ci_high:Q", opacity=alt.condition(pick, alt.value(0.15), alt.value(0.03)),
    ).transform_filter(
        "isValid(datum.ci_low)")
    rule = alt.Chart(unpruned).mark_rule(strokeDash=[5, 4], color="black").encode(y="mean:Q")
    seeds = int(frame["seeds"].max()) if len(frame) else 0
    return (band + line + rule).properties(
        width=460, height=300, title=f"Accuracy after pruning and retraining ({seeds} seed(s); dashed: unpruned)")
