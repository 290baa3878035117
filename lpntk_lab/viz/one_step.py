"""Charts for one SGD step on a sample u: predicted against actual change, lpNTK, the learning-rate sweep.

Lessons ``notebooks/01_one_step`` (and the tour in ``00_start_here``: :func:`cosine_heatmap`).

    >>> sweep = lab.one_step_sweep(model, x, y, u, lrs)
    >>> frame = step_frame(sweep.steps[2], labels, class_names=ds.class_names, kappa=K[:, u])
    >>> step_charts(frame)                       # predicted vs actual | κ(o, u) vs actual
    >>> sweep_chart([sweep])                     # where the first-order prediction breaks
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from ..dynamics import OneStep, OneStepSweep
from ..relations import cosine

__all__ = [
    "PICK", "cosine_heatmap", "picker", "sign_summary", "step_charts", "step_frame", "sweep_chart", "sweep_frame",
]

PICK = "pick"  # name of the picker's click selection (``JupyterChart.selections.pick``)
_SIZE = 280  # side of a scatter panel, pixels
_CLASS_PICK = "class_pick"  # legend selection shared by the two scatter panels
_METRICS = {
    "pearson_r": "r (predicted vs actual)",
    "entk_sign_agreement": "sign right: eNTK prediction",
    "sign_agreement": "sign right: raw lpNTK",
}


def step_frame(
    step: OneStep, labels, *, class_names: Sequence[str], kappa=None, images: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per sample o: what a step on ``step.u`` did to it and what was predicted.

    Args:
        step: a :class:`~lpntk_lab.dynamics.OneStep` over N samples.
        labels: (N,) integer class labels of the samples.
        class_names: one name per class.
        kappa: (N,) the kernel column ``κ(o, u)`` to show; default ``step.lpntk`` (raw lpNTK).
        images: N image URLs for tooltips (``lab.viz.image_urls``), or None.

    Returns:
        columns ``sample, class, same_class, predicted, actual, kappa, helped, is_u`` (+ ``image``).
    """
    labels = np.asarray(labels)
    kappa = step.lpntk if kappa is None else np.asarray(kappa, dtype=np.float64)
    if not len(labels) == len(step.actual) == len(kappa):
        raise ValueError(
            f"labels ({len(labels)}), kappa ({len(kappa)}) and the step ({len(step.actual)} samples) must match"
        )
    frame = pd.DataFrame({
        "sample": np.arange(len(labels)),
        "class": pd.Categorical([class_names[c] for c in labels], categories=list(class_names)),
        "same_class": labels == labels[step.u],
        "predicted": step.predicted,
        "actual": step.actual,
        "kappa": kappa,
        "helped": step.actual > 0,
        "is_u": np.arange(len(labels)) == step.u,
    })
    if images is not None:
        frame["image"] = list(images)
    return frame


def _class_colour(class_names: Sequence[str]) -> alt.Color:
    return alt.Color("class:N", sort=list(class_names), scale=alt.Scale(scheme="category10"),
                     legend=alt.Legend(title="class (click)"))


def _tooltip(frame: pd.DataFrame) -> list:
    fields = ["sample:Q", "class:N", alt.Tooltip("predicted:Q", format=".4f"),
              alt.Tooltip("actual:Q", format=".4f"), alt.Tooltip("kappa:Q", format=".1f")]
    return fields + (["image:N"] if "image" in frame else [])


def _panel(frame: pd.DataFrame, x: str, x_title: str, class_names: Sequence[str], pick) -> alt.LayerChart:
    """A scatter of ``actual`` against column ``x``, u drawn as a large black-ringed point."""
    base = alt.Chart(frame).encode(
        x=alt.X(f"{x}:Q", title=x_title),
        y=alt.Y("actual:Q", title="actual change of log p(own label)"),
    )
    points = base.mark_circle(size=30).encode(
        color=_class_colour(class_names),
        opacity=alt.condition(pick, alt.value(0.8), alt.value(0.08)),
        tooltip=_tooltip(frame),
    )
    chosen = base.transform_filter(alt.datum.is_u).mark_point(
        size=160, shape="diamond", filled=False, color="black", strokeWidth=2
    ).encode(tooltip=_tooltip(frame))
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="grey", strokeDash=[3, 3]).encode(y="y:Q")
    return alt.layer(zero, points, chosen).properties(width=_SIZE, height=_SIZE)


def step_charts(frame: pd.DataFrame, *, kernel_title: str = "raw lpNTK κ(o, u)") -> alt.HConcatChart:
    """Two scatters of the actual change: against the eNTK prediction (with y = x), against ``kappa``.

    Args:
        frame: a :func:`step_frame` table.
        kernel_title: axis title of the kernel panel (e.g. ``"centred lpNTK"``).

    Clicking a class in the legend highlights it in both panels (client-side); u is the diamond.
    """
    class_names = list(frame["class"].cat.categories)
    pick = alt.selection_point(name=_CLASS_PICK, fields=["class"], bind="legend")
    ends = [float(frame[["predicted", "actual"]].min().min()), float(frame[["predicted", "actual"]].max().max())]
    diagonal = alt.Chart(pd.DataFrame({"x": ends, "y": ends})).mark_line(color="grey").encode(x="x:Q", y="y:Q")
    predicted = alt.layer(diagonal, _panel(frame, "predicted", "predicted (eNTK, first order)", class_names, pick))
    kernel = _panel(frame, "kappa", kernel_title, class_names, pick)
    vertical = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="grey", strokeDash=[3, 3]).encode(x="x:Q")
    return alt.hconcat(
        predicted.add_params(pick).properties(title="predicted vs actual (grey line: y = x)"),
        alt.layer(vertical, kernel).properties(title=f"{kernel_title} vs actual"),
    ).resolve_scale(color="shared")


def sweep_frame(sweeps: OneStepSweep | Sequence[OneStepSweep]) -> pd.DataFrame:
    """Tidy table of one or more sweeps: columns ``u, lr, metric, value`` (metric names readable)."""
    sweeps = [sweeps] if isinstance(sweeps, OneStepSweep) else list(sweeps)
    if not sweeps:
        raise ValueError("give at least one OneStepSweep (lab.one_step_sweep(model, x, y, u, lrs))")
    rows = [
        {"u": step.u, "lr": step.lr, "metric": title, "value": getattr(step, field)}
        for sweep in sweeps for step in sweep.steps for field, title in _METRICS.items()
    ]
    return pd.DataFrame(rows)


def sweep_chart(sweeps: OneStepSweep | Sequence[OneStepSweep], *, lr: float | None = None) -> alt.LayerChart:
    """How the first-order prediction holds up as the step grows: r and sign agreement against lr.

    Lines are means over the samples u of ``sweeps``; the band spans the lowest to the highest u.
    ``lr`` marks the learning rate currently shown elsewhere (a vertical rule).
    """
    frame = sweep_frame(sweeps)
    base = alt.Chart(frame).encode(
        x=alt.X("lr:Q", scale=alt.Scale(type="log", domain=[frame.lr.min(), frame.lr.max()], nice=False),
                title="learning rate η (log scale)"),
        color=alt.Color("metric:N", sort=list(_METRICS.values()), title=None,
                        legend=alt.Legend(orient="bottom", direction="vertical", symbolOpacity=1)),
    )
    layers = [
        base.mark_area(opacity=0.15).encode(y="min(value):Q", y2="max(value):Q"),
        base.mark_line(point=True).encode(
            y=alt.Y("mean(value):Q", title="r  /  share of samples", scale=alt.Scale(domain=[0, 1])),
            tooltip=["metric:N", "lr:Q", alt.Tooltip("mean(value):Q", format=".3f")],
        ),
    ]
    if lr is not None:
        layers.append(alt.Chart(pd.DataFrame({"lr": [float(lr)]})).mark_rule(color="black").encode(x="lr:Q"))
    return alt.layer(*layers).properties(width=2 * _SIZE, height=200, title="first-order prediction vs step size")


def picker(labels, images: Sequence[str], *, class_names: Sequence[str], size: int = 16) -> alt.Chart:
    """A grid of the samples, one row per class; clicking one selects it (selection :data:`PICK` on ``sample``).

    Args:
        labels: (N,) integer class labels.
        images: N image URLs (``lab.viz.image_urls``).
        class_names: one name per class.
        size: side of a thumbnail, pixels.
    """
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"need one image per sample: {len(images)} images for {len(labels)} labels")
    column = np.zeros(len(labels), dtype=int)
    for c in np.unique(labels):
        members = labels == c
        column[members] = np.arange(members.sum())
    frame = pd.DataFrame({
        "sample": np.arange(len(labels)), "class": [class_names[c] for c in labels],
        "column": column, "image": list(images),
    })
    pick = alt.selection_point(name=PICK, fields=["sample"], on="click", empty=False, toggle=False)
    rows = [class_names[c] for c in np.unique(labels)]
    base = alt.Chart(frame).encode(
        x=alt.X("column:O", axis=None),
        y=alt.Y("class:O", sort=rows, title="class"),
    )
    thumbs = base.mark_image(width=size, height=size).encode(url="image:N", tooltip=["sample:Q", "class:N"])
    ring = base.mark_square(size=size * size * 1.4, filled=False, strokeWidth=2).encode(
        color=alt.condition(pick, alt.value("red"), alt.value("transparent"))
    )
    return alt.layer(thumbs.add_params(pick), ring).properties(
        width=(column.max() + 1) * (size + 2), height=len(rows) * (size + 2),
        title="click a sample to take the step on it",
    )


def sign_summary(kernels: dict[str, np.ndarray], labels) -> pd.DataFrame:
    """Signs of κ over same-class and cross-class pairs, for each named ``(N, N)`` kernel.

    Returns:
        one row per (kernel, pairs): ``kernel, pairs, n_pairs, share_positive, median_cosine,
        majority_sign`` (+1 or −1), over unordered pairs ``i < j``.
    """
    labels = np.asarray(labels)
    upper = np.triu(np.ones((len(labels), len(labels)), dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    rows = []
    for name, K in kernels.items():
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (len(labels), len(labels)):
            raise ValueError(f"kernel {name!r} has shape {K.shape}; expected ({len(labels)}, {len(labels)})")
        cos = cosine(K)
        for pairs, mask in (("same class", upper & same), ("other class", upper & ~same)):
            share = float(np.mean(K[mask] > 0)) if mask.any() else np.nan
            rows.append({
                "kernel": name, "pairs": pairs, "n_pairs": int(mask.sum()), "share_positive": share,
                "median_cosine": float(np.median(cos[mask])) if mask.any() else np.nan,
                "majority_sign": 1 if share >= 0.5 else -1,
            })
    return pd.DataFrame(rows)


def cosine_heatmap(K, labels, *, class_names: Sequence[str]) -> alt.Chart:
    """The lpNTK cosine of every pair, samples sorted by class: same-class blocks on the diagonal.

    Args:
        K: (N, N) kernel (e.g. ``lab.lpntk``); keep N to a few hundred (N² cells are drawn).
        labels: (N,) integer class labels.
        class_names: one name per class.
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    cos = cosine(K)[np.ix_(order, order)]
    n = len(order)
    samples = pd.DataFrame({"k": np.arange(n), "class": np.asarray(class_names)[labels[order]]})
    present = np.unique(labels)
    starts = [int(np.searchsorted(labels[order], c)) for c in present]
    axis = alt.Axis(values=starts, labelAngle=0, labelExpr=_label_expr(starts, [class_names[c] for c in present]))
    # all N² cosines in one string, unpacked in the browser: N² rows of inline data would take
    # altair seconds to tens of seconds to validate and convert
    cells = alt.Data(values=[{"cells": ",".join(f"{c:.3f}" for c in cos.ravel())}])
    return alt.Chart(cells).mark_rect().transform_calculate(
        text="split(datum.cells, ',')"
    ).transform_flatten(["text"]).transform_window(
        cell="row_number()"
    ).transform_calculate(
        cos="toNumber(datum.text)", i=f"floor((datum.cell - 1) / {n})", j=f"(datum.cell - 1) % {n}"
    ).transform_lookup(
        lookup="i", from_=alt.LookupData(samples, "k", ["class"]), as_=["class_i"]
    ).transform_lookup(
        lookup="j", from_=alt.LookupData(samples, "k", ["class"]), as_=["class_j"]
    ).encode(
        x=alt.X("j:O", axis=axis, title="sample (sorted by class)"),
        y=alt.Y("i:O", axis=axis, title="sample (sorted by class)"),
        color=alt.Color("cos:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
                        title="cosine"),
        tooltip=["class_i:N", "class_j:N", alt.Tooltip("cos:Q", format=".3f")],
    ).properties(width=360, height=360, title="lpNTK cosine, samples sorted by class")


def _label_expr(values: list[int], names: list[str]) -> str:
    """A Vega expression labelling the tick at each position of ``values`` with its class name."""
    cases = " : ".join(f"datum.value == {v} ? {json.dumps(name)}" for v, name in zip(values, names))
    return f"{cases} : ''"
