"""The one-step explorer: pick a sample u, take one SGD step on it, see what happened to every other sample.

Lesson ``notebooks/01_one_step``. The kernels are computed once (:func:`prepare`); the step is
taken at every learning rate of a fixed grid when u changes (:func:`sweep_for`, cached), so moving
the learning-rate slider only redraws.

    >>> lab.widgets.one_step.app(model, x, y, class_names=ds.class_names)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import altair as alt
import ipywidgets as widgets
import numpy as np
import pandas as pd
from torch import Tensor, nn

from ..dynamics import OneStepSweep, one_step_sweep
from ..kernels import lpntk
from ..kernels.inputs import as_inputs, as_labels
from ..viz import image_urls
from ..viz import one_step as charts

__all__ = ["DEFAULT_LRS", "Explorer", "View", "app", "picked_sample", "prepare", "sweep_for", "view"]

DEFAULT_LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


@dataclass
class Explorer:
    """What the app computes once, and the sweeps it has computed so far.

    Attributes:
        model: the classifier (never modified: steps are taken on copies).
        x, y: (N, ...) inputs and (N,) labels.
        labels: (N,) the labels as a numpy array.
        class_names: one name per class.
        images: N PNG data URLs, for the picker and the tooltips.
        lrs: the learning-rate grid of every sweep.
        kernels: ``{False: raw lpNTK, True: centred lpNTK}``, each (N, N).
        sweeps: ``{u: OneStepSweep}`` computed so far.
    """

    model: nn.Module
    x: Tensor
    y: Tensor
    labels: np.ndarray
    class_names: tuple[str, ...]
    images: list[str]
    lrs: tuple[float, ...]
    kernels: dict[bool, np.ndarray]
    sweeps: dict[int, OneStepSweep] = field(default_factory=dict)


@dataclass(frozen=True)
class View:
    """What the app shows for one choice of (u, lr, centred).

    Attributes:
        frame: the :func:`lpntk_lab.viz.one_step.step_frame` table, one row per sample.
        scatter: predicted vs actual | κ(o, u) vs actual.
        curve: the sweep of u, with the chosen lr marked.
        summary: an HTML paragraph with the sample's picture and the figures.
    """

    frame: pd.DataFrame
    scatter: alt.HConcatChart
    curve: alt.LayerChart
    summary: str


def prepare(model: nn.Module, x, y, *, class_names: Sequence[str], lrs: Sequence[float] = DEFAULT_LRS) -> Explorer:
    """Compute the raw and centred lpNTK of ``x, y`` (N × N each) and the thumbnails, once.

    Args:
        model: a classifier mapping ``(N, ...)`` inputs to ``(N, C)`` logits.
        x, y: ``(N, 1 or 3, H, W)`` images and ``(N,)`` labels; N ≥ 2, a few hundred is plenty.
        class_names: one name per class.
        lrs: the learning rates of the slider, positive, at least one.
    """
    x = as_inputs(x)
    y = as_labels(y, len(x))
    if len(y) < 2:
        raise ValueError(f"the explorer needs at least 2 samples (one to step on, one to watch), got {len(y)}")
    lrs = tuple(float(lr) for lr in lrs)
    if not lrs or min(lrs) <= 0:
        raise ValueError(f"lrs must be a non-empty sequence of positive learning rates, got {lrs!r}")
    kernels = {centred: lpntk(model, x, y, centred=centred, progress=False) for centred in (False, True)}
    return Explorer(model, x, y, y.numpy(), tuple(class_names), image_urls(x), lrs, kernels)


def sweep_for(explorer: Explorer, u: int) -> OneStepSweep:
    """The step on sample ``u`` at every learning rate of ``explorer.lrs`` (computed once per u)."""
    if u not in explorer.sweeps:
        explorer.sweeps[u] = one_step_sweep(explorer.model, explorer.x, explorer.y, u, list(explorer.lrs))
    return explorer.sweeps[u]


def view(explorer: Explorer, u: int, lr: float, centred: bool) -> View:
    """Charts and summary for a step on sample ``u`` at learning rate ``lr`` (one of ``explorer.lrs``).

    ``centred`` shows the centred lpNTK (signs ``2(e_y − 1/C)``) in the kernel panel instead of the raw one.
    """
    if lr not in explorer.lrs:
        raise ValueError(f"lr={lr} is not on the grid; choose one of {list(explorer.lrs)}")
    sweep = sweep_for(explorer, u)
    step = sweep.steps[explorer.lrs.index(lr)]
    kappa = explorer.kernels[bool(centred)][:, u]
    frame = charts.step_frame(step, explorer.labels, class_names=explorer.class_names, kappa=kappa,
                              images=explorer.images)
    title = "centred lpNTK κ(o, u)" if centred else "raw lpNTK κ(o, u)"
    return View(
        frame=frame,
        scatter=charts.step_charts(frame, kernel_title=title),
        curve=charts.sweep_chart(sweep, lr=lr),
        summary=_summary(explorer, frame, step.pearson_r, title),
    )


def _summary(explorer: Explorer, frame: pd.DataFrame, pearson_r: float, kernel_title: str) -> str:
    """One HTML paragraph: the picture of u, and how well each predictor got the other samples' signs."""
    others = frame[~frame.is_u]
    u = int(frame.index[frame.is_u][0])
    entk_right = np.mean(np.sign(others.predicted) == np.sign(others.actual))
    kernel_right = np.mean(np.sign(others.kappa) == np.sign(others.actual))
    return (
        f'<img src="{explorer.images[u]}" style="height:48px;image-rendering:pixelated;vertical-align:middle"> '
        f"Step on sample <b>{u}</b> (class <b>{html.escape(explorer.class_names[explorer.labels[u]])}</b>). "
        f"Of the other {len(others)} samples, {others.helped.mean():.0%} were helped. "
        f"eNTK prediction: r = {pearson_r:.3f}, sign right for {entk_right:.0%}. "
        f"{html.escape(kernel_title)}: positive for {np.mean(others.kappa > 0):.0%}, "
        f"sign right for {kernel_right:.0%}."
    )


def picked_sample(selection) -> int | None:
    """The sample index a click on the picker grid selected, or None (nothing selected)."""
    value = getattr(selection, "value", None) or []
    return int(value[0]["sample"]) if value and "sample" in value[0] else None


def app(
    model: nn.Module, x, y, *, class_names: Sequence[str], lrs: Sequence[float] = DEFAULT_LRS, u: int = 0
) -> widgets.VBox:
    """The one-step explorer: an image grid and a slider pick u, a slider picks lr, a box centres the signs.

    Arguments as for :func:`prepare`; ``u`` is the sample shown first. Returns the app's container.
    """
    explorer = prepare(model, x, y, class_names=class_names, lrs=lrs)
    n = len(explorer.labels)
    alt.JupyterChart.enable_offline()  # the chart widgets load their JavaScript from the packages, no CDN
    grid = alt.JupyterChart(charts.picker(explorer.labels, explorer.images, class_names=explorer.class_names))
    wide = {"description_width": "initial"}
    sample = widgets.IntSlider(value=min(max(int(u), 0), n - 1), min=0, max=n - 1, description="sample u",
                               continuous_update=False, style=wide)
    rate = widgets.SelectionSlider(options=list(explorer.lrs), value=_default_lr(explorer.lrs),
                                   description="learning rate η", continuous_update=False, style=wide)
    centred = widgets.Checkbox(value=False, description="centred signs 2(e_y − 1/C)", style=wide)
    summary, message = widgets.HTML(), widgets.HTML()
    scatter, curve = alt.JupyterChart(alt.Chart().mark_point()), alt.JupyterChart(alt.Chart().mark_point())

    def refresh(_=None):
        if sample.value not in explorer.sweeps:
            message.value = "<i>taking the step at every learning rate…</i>"
        try:
            shown = view(explorer, sample.value, rate.value, centred.value)
        except Exception as err:  # noqa: BLE001 - the app reports, it never shows a traceback
            message.value = f"<b style='color:#b00'>Could not take the step:</b> {html.escape(str(err))}"
            return
        scatter.chart, curve.chart, summary.value, message.value = shown.scatter, shown.curve, shown.summary, ""

    def on_pick(change):
        chosen = picked_sample(change.new)
        if chosen is not None:
            sample.value = chosen

    for control in (sample, rate, centred):
        control.observe(refresh, names="value")
    grid.selections.observe(on_pick, [charts.PICK])
    refresh()
    return widgets.VBox([grid, widgets.HBox([sample, rate, centred]), summary, message, scatter, curve])


def _default_lr(lrs: tuple[float, ...]) -> float:
    """0.01 when on the grid (the approximation is good there), else the smallest rate."""
    return 0.01 if 0.01 in lrs else min(lrs)
