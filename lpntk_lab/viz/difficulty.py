"""Charts of learning difficulty: training curves, easy and hard samples, and the two experiments.

Lesson: ``notebooks/03_learning_difficulty``.

    >>> d = lab.difficulty(record)
    >>> lab.viz.difficulty.gallery(ds.x_train, ds.y_train, d, class_names=ds.class_names)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..learning_difficulty import CONDITIONS, ControlledDifficulty
from ..train import TrainingRecord
from .base import image_urls
from .embedding import names_of_classes

__all__ = ["accuracy", "controlled_curves", "error_curves", "gallery", "size_heatmap", "structure_scatter"]


def accuracy(record: TrainingRecord) -> alt.Chart:
    """Training and test accuracy after each epoch of a :class:`~lpntk_lab.TrainingRecord`."""
    epochs = np.arange(1, len(record.train_accuracy) + 1)
    table = pd.concat([
        pd.DataFrame({"epoch": epochs, "accuracy": record.train_accuracy, "set": "train"}),
        pd.DataFrame({"epoch": epochs, "accuracy": record.test_accuracy, "set": "test"}),
    ])
    return alt.Chart(table).mark_line(point=True).encode(
        x=alt.X("epoch:O", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("accuracy:Q", scale=alt.Scale(zero=False)),
        color=alt.Color("set:N", title=None),
        tooltip=["set", "epoch", alt.Tooltip("accuracy:Q", format=".3f")],
    ).properties(width=300, height=200)


def error_curves(record: TrainingRecord, groups: Mapping[str, Sequence[int]]) -> alt.Chart:
    """The L2 error ``‖p − e_y‖`` of a few samples at each presentation (one per epoch).

    Args:
        record: from ``lab.fit``.
        groups: ``{group name: training-sample indices}``, e.g. ``{"easiest": [...], "hardest": [...]}``;
            one colour per group, one line per sample. Difficulty is the area under a line.
    """
    epochs = np.arange(1, record.l2_error.shape[0] + 1)
    frames = [
        pd.DataFrame({"epoch": epochs, "sample": int(i), "group": name, "l2_error": record.l2_error[:, int(i)]})
        for name, indices in groups.items() for i in indices
    ]
    return alt.Chart(pd.concat(frames, ignore_index=True)).mark_line(opacity=0.7).encode(
        x=alt.X("epoch:O", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("l2_error:Q", title="‖p − e_y‖ at the presentation", scale=alt.Scale(domain=[0, np.sqrt(2)])),
        color=alt.Color("group:N", sort=list(groups), title=None),
        detail="sample:N",
        tooltip=["group", "sample", "epoch", alt.Tooltip("l2_error:Q", format=".3f")],
    ).properties(width=300, height=200)


def _gallery_row(base: alt.Chart, title: str, ascending: bool, n: int) -> alt.Chart:
    """The ``n`` lowest (``ascending``) or highest scores of ``base``'s rows, as images with their score."""
    order = "ascending" if ascending else "descending"
    ranked = base.transform_window(
        rank="row_number()", sort=[alt.SortField("score", order=order)]
    ).transform_filter(f"datum.rank <= {n}")
    x = alt.X("rank:O", axis=None)
    images = ranked.mark_image(width=44, height=44).encode(
        x=x, y=alt.value(24), url="image:N", tooltip=["sample:Q", "class:N", alt.Tooltip("score:Q", format=".2f")]
    )
    labels = ranked.mark_text(fontSize=10).encode(x=x, y=alt.value(56), text=alt.Text("score:Q", format=".2f"))
    return alt.layer(images, labels).properties(width=52 * n, height=64, title=title)


def gallery(images, labels, scores, *, n: int = 8, class_names: Sequence[str] | None = None) -> alt.Chart:
    """The ``n`` lowest-scoring (easiest) and highest-scoring (hardest) samples, with a class selector.

    Choosing a class in the drop-down re-ranks within that class in the browser (no Python).

    Args:
        images: ``(N, C, H, W)`` tensor.
        labels: ``(N,)`` class labels.
        scores: ``(N,)`` difficulty (or any score; low = easy).
        n: samples per row.
        class_names: names of the classes.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if not len(labels) == len(scores) == len(images):
        raise ValueError(f"images, labels and scores must have one entry per sample; got "
                         f"{len(images)}, {len(labels)} and {len(scores)}")
    names = names_of_classes(labels, class_names)
    table = pd.DataFrame({"sample": np.arange(len(labels)), "class": [names[c] for c in labels],
                          "score": scores, "image": image_urls(images, scale=4)})
    choice = alt.param(name="gallery_class", value="all",
                       bind=alt.binding_select(options=["all", *names], name="class "))
    base = alt.Chart(table).transform_filter("gallery_class == 'all' || datum['class'] == gallery_class")
    return alt.vconcat(
        _gallery_row(base, f"easiest {n}", True, n), _gallery_row(base, f"hardest {n}", False, n)
    ).add_params(choice).configure_view(stroke=None)


def structure_scatter(
    difficulty,
    structure,
    labels,
    *,
    images=None,
    class_names: Sequence[str] | None = None,
    x_title: str = "mean cosine to the rest of the class",
) -> alt.Chart:
    """Difficulty against a per-sample lpNTK statistic, coloured by class (click the legend to pick one).

    Args:
        difficulty, structure: ``(N,)`` values (NaN rows are dropped).
        labels: ``(N,)`` class labels.
        images: optional ``(N, C, H, W)`` tensor for the tooltips.
        class_names: names of the classes.
        x_title: what ``structure`` is.
    """
    labels = np.asarray(labels)
    names = names_of_classes(labels, class_names)
    table = pd.DataFrame({"sample": np.arange(len(labels)), "difficulty": np.asarray(difficulty, dtype=np.float64),
                          "structure": np.asarray(structure, dtype=np.float64), "class": [names[c] for c in labels]})
    tooltip = ["sample:Q", "class:N", alt.Tooltip("difficulty:Q", format=".2f"), alt.Tooltip("structure:Q", format=".3f")]
    if images is not None:
        table["image"] = image_urls(images)
        tooltip.append("image:N")
    table = table[np.isfinite(table.difficulty) & np.isfinite(table.structure)]
    pick = alt.selection_point(fields=["class"], bind="legend")
    return alt.Chart(table).mark_circle(size=25).encode(
        x=alt.X("structure:Q", title=x_title, scale=alt.Scale(zero=False)),
        y=alt.Y("difficulty:Q", title="difficulty (summed L2 error)"),
        color=alt.Color("class:N", sort=names),
        opacity=alt.condition(pick, alt.value(0.7), alt.value(0.05)),
        tooltip=tooltip,
    ).add_params(pick).properties(width=380, height=280)


def size_heatmap(table: pd.DataFrame) -> alt.Chart:
    """Spearman ρ between difficulties at two training-set sizes (``SizeExperiment.table``), with intervals.

    Rows: the smaller size ``a`` (whose samples are compared); columns: the larger size ``b``.
    The diagonal compares two halves of the seeds at one size: the ceiling for its row.
    """
    table = table.assign(interval=[f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(table.low, table.high)])
    base = alt.Chart(table).encode(
        x=alt.X("size_b:O", title="size b (per class)"),
        y=alt.Y("size_a:O", title="size a (per class): its samples are compared"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("rho:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="Spearman ρ"),
        tooltip=["size_a", "size_b", "n_compared", alt.Tooltip("rho:Q", format=".3f"), "interval"],
    )
    rho = base.mark_text(dy=-7, fontSize=13).encode(text=alt.Text("rho:Q", format=".2f"))
    interval = base.mark_text(dy=9, fontSize=9).encode(text="interval:N")
    return alt.layer(cells, rho, interval).properties(width=90 * table.size_b.nunique(),
                                                      height=50 * table.size_a.nunique())


def controlled_curves(result: ControlledDifficulty) -> alt.Chart:
    """The target's accumulated difficulty per epoch, one line per condition, band = mean ± std over repeats."""
    curves = result.curves.assign(
        epoch=result.curves.epoch + 1,
        low=result.curves.difficulty_mean - result.curves.difficulty_std,
        high=result.curves.difficulty_mean + result.curves.difficulty_std,
    )
    colour = alt.Color("condition:N", scale=alt.Scale(domain=[c for c in CONDITIONS if c in set(curves.condition)]),
                       title="companions", legend=alt.Legend(symbolType="stroke", symbolOpacity=1))
    base = alt.Chart(curves).encode(x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)), color=colour)
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("low:Q", title="target's accumulated L2 error"), y2="high:Q")
    line = base.mark_line().encode(
        y="difficulty_mean:Q",
        tooltip=["condition", "epoch", alt.Tooltip("difficulty_mean:Q", format=".2f"),
                 alt.Tooltip("difficulty_std:Q", format=".2f"), "repeats"],
    )
    return alt.layer(band, line).properties(
        width=360, height=240, title=f"target #{result.target} (class {result.label})"
    )
