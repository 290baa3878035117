"""A player for the forgetting lesson: press play and watch every sample's correctness over training.

Lesson: ``notebooks/04_forgetting``.

    >>> player = lab.widgets.forgetting.correctness_player(record, ds.y_train, images=ds.x_train)
    >>> player                          # Play ▶, an epoch slider, and the chart it drives
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import ipywidgets as widgets
import torch

from ..train import TrainingRecord
from ..viz import forgetting as charts

__all__ = ["CorrectnessPlayer", "correctness_player", "epoch_caption", "show_epoch"]


def epoch_caption(record: TrainingRecord, epoch: int) -> str:
    """One line about ``epoch``: how many samples are correct, just learned and just forgotten."""
    row = charts.epoch_counts(record).iloc[epoch]
    return (f"epoch {epoch} of {record.epochs - 1}: <b>{row['correct']:.1%}</b> correct at presentation, "
            f"<span style='color:#3182bd'>{int(row['learned'])} learned</span>, "
            f"<span style='color:#de2d26'>{int(row['forgotten'])} forgotten</span> since the previous epoch")


class CorrectnessPlayer(widgets.VBox):
    """Play ▶ and an epoch slider, linked in the browser, above the chart of
    :func:`~lpntk_lab.viz.forgetting.correctness_chart`.

    Attributes:
        play, slider: the controls; moving either moves the other.
        caption: an HTML line about the current epoch (:func:`epoch_caption`).
        chart: the ``alt.JupyterChart``; its ``params.epoch`` follows the slider.
        record: the run shown.
    """

    def __init__(self, record: TrainingRecord, labels, *, images: torch.Tensor | None = None,
                 class_names: Sequence[str] | None = None, interval: int = 600):
        self.record = record
        alt.JupyterChart.enable_offline()  # the chart's JavaScript from the installed packages, no CDN
        self.chart = alt.JupyterChart(charts.correctness_chart(record, labels, images=images,
                                                               class_names=class_names))
        last = record.epochs - 1
        self.play = widgets.Play(value=0, min=0, max=last, step=1, interval=interval, description="play")
        self.slider = widgets.IntSlider(value=0, min=0, max=last, description="epoch", continuous_update=False)
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.caption = widgets.HTML(epoch_caption(record, 0))
        self.slider.observe(lambda change: show_epoch(self, change["new"]), names="value")
        super().__init__([widgets.HBox([self.play, self.slider]), self.caption, self.chart])


def show_epoch(player: CorrectnessPlayer, epoch: int) -> None:
    """Show ``epoch``: the slider's callback (also callable from Python)."""
    epoch = min(max(int(epoch), 0), player.record.epochs - 1)
    player.chart.params.epoch = epoch
    player.caption.value = epoch_caption(player.record, epoch)
    if player.slider.value != epoch:
        player.slider.value = epoch


def correctness_player(record: TrainingRecord, labels, *, images: torch.Tensor | None = None,
                       class_names: Sequence[str] | None = None, interval: int = 600) -> CorrectnessPlayer:
    """An animation of every training sample's correctness, epoch by epoch.

    Args:
        record: a run (``lab.fit`` or ``lab.predict_forgetting(...).record``).
        labels: (n_train,) classes of the training samples.
        images: (n_train, C, H, W) images for the tooltips (optional).
        class_names: a name per class.
        interval: milliseconds between frames when playing.
    """
    return CorrectnessPlayer(record, labels, images=images, class_names=class_names, interval=interval)
