"""Charts for forgetting: every sample's correctness over training, one-step forgetting events with
the update that caused them, and how well the first-order formula predicts them.

Lesson: ``notebooks/04_forgetting``.

    >>> prediction = lab.predict_forgetting(model, ds, epochs=20, lr=0.1)
    >>> lab.viz.forgetting.correctness_chart(prediction.record, ds.y_train)   # driven by a player
    >>> pairs = lab.viz.forgetting.update_pairs(ds, prediction, lambda: lab.models.for_dataset(ds))
    >>> lab.viz.forgetting.pairs_chart(pairs)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import altair as alt
import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data import Dataset
from ..forgetting import ForgettingPrediction, forgetting_events, score_prediction
from ..kernels import entk, lpntk
from ..relations import cosine
from ..train import TrainingRecord, fit
from .base import image_urls

__all__ = [
    "EPOCH",
    "STATES",
    "correctness_chart",
    "correctness_frame",
    "epoch_counts",
    "event_gallery",
    "margin_baseline",
    "one_step_events",
    "pairs_chart",
    "scores_chart",
    "scores_frame",
    "state_at",
    "update_pairs",
]

EPOCH = "epoch"
"""Name of the chart parameter that selects the epoch shown by :func:`correctness_chart`."""

STATES = ("correct", "learned now", "forgotten now", "incorrect")
_STATE_COLOURS = ("#a1d99b", "#3182bd", "#de2d26", "#636363")


# --- correctness over training --------------------------------------------------------------------


def state_at(history: str, epoch: int) -> str:
    """A sample's state at ``epoch`` from its history (one ``'1'``/``'0'`` per epoch: correct or not).

    ``"learned now"`` and ``"forgotten now"`` mark a change since the previous epoch (before the
    first epoch a sample counts as not yet correct). The chart computes the same in Vega.
    """
    now = history[epoch] == "1"
    before = epoch > 0 and history[epoch - 1] == "1"
    if now:
        return "correct" if before else "learned now"
    return "forgotten now" if before else "incorrect"


_STATE_EXPR = (  # state_at, as a Vega expression on datum.history and the epoch parameter
    f"substring(datum.history, {EPOCH}, {EPOCH} + 1) == '1'"
    f" ? ({EPOCH} > 0 && substring(datum.history, {EPOCH} - 1, {EPOCH}) == '1' ? 'correct' : 'learned now')"
    f" : ({EPOCH} > 0 && substring(datum.history, {EPOCH} - 1, {EPOCH}) == '1' ? 'forgotten now' : 'incorrect')"
)


def correctness_frame(record: TrainingRecord, labels, *, width: int = 12) -> pd.DataFrame:
    """One row per training sample, laid out in one block of ``width`` columns per class.

    Within a block, samples are ordered by the epoch they were first correct (never-learned last),
    then by their number of forgetting events, so a block fills from the top as training goes on.

    Args:
        record: the run, ``correct`` of shape (epochs, n_train).
        labels: (n_train,) integer classes.
        width: columns of each class block.

    Returns:
        columns ``sample, label, history`` (one ``'1'``/``'0'`` character per epoch), ``events``
        (forgetting events), ``first`` (first correct epoch; ``epochs`` if never), ``x, y`` (grid cell).
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)
    correct = record.correct
    if labels.shape != (record.n_train,):
        raise ValueError(f"labels must have shape ({record.n_train},), one per training sample, "
                         f"got {labels.shape}")
    first = np.where(correct.any(axis=0), correct.argmax(axis=0), record.epochs)
    events = np.bincount(forgetting_events(record).sample, minlength=record.n_train)
    order = np.lexsort((np.arange(record.n_train), events, first, labels))
    rank = np.empty(record.n_train, np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    return pd.DataFrame({
        "sample": np.arange(record.n_train),
        "label": labels,
        "history": ["".join("1" if c else "0" for c in column) for column in correct.T],
        "events": events,
        "first": first,
        "x": labels * (width + 1) + rank % width,
        "y": rank // width,
    })


def epoch_counts(record: TrainingRecord) -> pd.DataFrame:
    """Per epoch: ``epoch``, ``correct`` (share correct at presentation), ``learned`` and
    ``forgotten`` (samples that changed state since the previous epoch)."""
    correct = record.correct
    before = np.vstack([np.zeros((1, record.n_train), bool), correct[:-1]])
    return pd.DataFrame({
        "epoch": np.arange(record.epochs),
        "correct": correct.mean(axis=1),
        "learned": (correct & ~before).sum(axis=1),
        "forgotten": (~correct & before).sum(axis=1),
    })


def correctness_chart(record: TrainingRecord, labels, *, images: torch.Tensor | None = None,
                      class_names: Sequence[str] | None = None, width: int = 12,
                      cell: int = 7) -> alt.VConcatChart:
    """Every training sample's correctness at one epoch, chosen by the chart parameter ``EPOCH``.

    Top: a grid of squares, one block per class (:func:`correctness_frame`), coloured by
    :data:`STATES`. Bottom: the share correct per epoch and the forgetting at each epoch, with the
    current epoch marked. Drive ``EPOCH`` from Python with ``alt.JupyterChart(chart).params.epoch``
    (``lab.widgets.forgetting.correctness_player`` does).

    Args:
        record, labels, width: as for :func:`correctness_frame`.
        images: (n_train, C, H, W) images for the tooltips (optional).
        class_names: a name per class for the block titles (default: the class numbers).
        cell: side of a square in pixels.
    """
    frame = correctness_frame(record, labels, width=width)
    if images is not None:
        frame["image"] = image_urls(images)
    classes = np.unique(frame["label"])
    names = [str(class_names[c]) if class_names is not None else str(c) for c in classes]
    epoch = alt.param(name=EPOCH, value=0)
    cols, rows = int(frame["x"].max()) + 1, int(frame["y"].max()) + 1
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-0.5, cols - 0.5]))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[-1.5, rows - 0.5], reverse=True))
    squares = alt.Chart(frame).mark_square(size=cell * cell, opacity=1).transform_calculate(
        state=_STATE_EXPR
    ).encode(
        x=x, y=y,
        color=alt.Color("state:N", scale=alt.Scale(domain=list(STATES), range=list(_STATE_COLOURS)),
                        legend=alt.Legend(title="at this epoch", orient="right")),
        tooltip=["sample:Q", "label:N", "state:N", alt.Tooltip("events:Q", title="forgetting events"),
                 *(["image:N"] if images is not None else [])],
    )
    titles = alt.Chart(pd.DataFrame({
        "x": classes * (width + 1) + (width - 1) / 2, "y": -1.2, "name": names,
    })).mark_text(fontWeight="bold").encode(x=x, y=y, text="name:N")
    grid = (squares + titles).properties(width=cols * (cell + 1), height=(rows + 2) * (cell + 1),
                                         title="Every training sample at this epoch")
    return alt.vconcat(grid, _epoch_panels(record, cols * (cell + 1))).add_params(epoch)


def _epoch_panels(record: TrainingRecord, width: int) -> alt.HConcatChart:
    """Share correct per epoch and forgetting per epoch, the current epoch highlighted."""
    counts = epoch_counts(record)
    is_now = f"datum.epoch == {EPOCH}"
    base = alt.Chart(counts).encode(x=alt.X("epoch:O", title="epoch"))
    share = base.mark_line(point=True).encode(
        y=alt.Y("correct:Q", title="correct at presentation", scale=alt.Scale(zero=False),
                axis=alt.Axis(format="%")),
        tooltip=["epoch:O", alt.Tooltip("correct:Q", format=".1%")],
    )
    now = base.mark_point(size=160, filled=True, color="black").encode(y="correct:Q").transform_filter(is_now)
    forgotten = base.mark_bar(color=_STATE_COLOURS[2]).encode(
        y=alt.Y("forgotten:Q", title="forgotten at this epoch"),
        opacity=alt.condition(is_now, alt.value(1.0), alt.value(0.35)),
        tooltip=["epoch:O", "forgotten:Q", "learned:Q"],
    )
    half = max(width // 2 - 40, 150)
    return alt.hconcat((share + now).properties(width=half, height=140),
                       forgotten.properties(width=half, height=140))


# --- one-step forgetting events and the update that caused them -------------------------------------


def _margins(logits: np.ndarray, label: np.ndarray) -> np.ndarray:
    """(M,) logit of the label minus the largest other logit."""
    rows = np.arange(len(label))
    others = logits.copy()
    others[rows, label] = -np.inf
    return logits[rows, label] - others.max(axis=1)


def one_step_events(prediction: ForgettingPrediction) -> pd.DataFrame:
    """One row per one-step forgetting event of a :class:`~lpntk_lab.forgetting.ForgettingPrediction`.

    Columns: ``event`` (row of the prediction's arrays), ``step`` (the update that caused it),
    ``epoch``, ``sample``, ``label``, ``mistaken_for`` (the class predicted after the update),
    ``margin_before``, ``margin_after`` (label logit minus the largest other), ``predicted``
    (flagged by the first-order formula), ``cosine`` (mean lpNTK cosine with the update's samples)
    and ``contradictory`` (the share of them below the prediction's threshold).
    """
    p = prediction
    rows = np.flatnonzero(p.actual)
    steps_per_epoch = p.record.steps_per_epoch
    return pd.DataFrame({
        "event": rows,
        "step": p.step[rows],
        "epoch": p.step[rows] // steps_per_epoch,
        "sample": p.sample[rows],
        "label": p.label[rows],
        "mistaken_for": p.logits_after[rows].argmax(axis=1),
        "margin_before": _margins(p.logits[rows], p.label[rows]),
        "margin_after": _margins(p.logits_after[rows], p.label[rows]),
        "predicted": p.predicted[rows],
        "cosine": p.batch_cosine[rows],
        "contradictory": p.contradictory_share[rows],
    })


def _spread(total: int, k: int) -> np.ndarray:
    """Up to ``k`` indices into ``range(total)``, evenly spaced, first and last included."""
    return np.unique(np.linspace(0, total - 1, min(k, total)).round().astype(np.int64))


def update_pairs(ds: Dataset, prediction: ForgettingPrediction, make_model: Callable[[], nn.Module], *,
                 events: int = 24, device: str | torch.device = "auto") -> pd.DataFrame:
    """The samples of each event-causing update, paired with the sample it made wrong.

    Replays the prediction's training run (same initial model, same seed, so the same updates;
    checked against ``prediction.record``) and, right before the update ``t`` of each of ``events``
    one-step events spread evenly over the run, measures for the forgotten sample ``o`` and every sample ``u`` of
    the update: the raw lpNTK cosine, the centred lpNTK cosine (``lab.lpntk(..., centred=True)``)
    and ``u``'s first-order share of the change of ``log p_{y_o}(x_o)``,
    ``(η/|b|) (e_{y_o} − p_o)ᵀ Θ(x_o, x_u) (e_{y_u} − p_u)`` (plain SGD; momentum and weight decay
    are not included). The most negative share marks the event's ``culprit``.

    Args:
        ds: the data set the prediction was trained on.
        prediction: from ``lab.predict_forgetting``.
        make_model: returns the *untrained* model the prediction started from, e.g.
            ``lambda: lab.models.for_dataset(ds, seed=0)``.
        events: how many events to explain, spread evenly over the run.
        device: where to replay.

    Returns:
        one row per (event, update sample): ``event, step, sample, label, partner, partner_label,
        same_class, cosine, centred_cosine, contribution, culprit``.
    """
    table = one_step_events(prediction)
    table = table.iloc[_spread(len(table), events)]
    wanted: dict[int, list[tuple[int, int]]] = {}
    for event, step, sample in zip(table["event"], table["step"], table["sample"]):
        wanted.setdefault(int(step), []).append((int(event), int(sample)))
    rows: list[dict] = []
    record = prediction.record

    def on_step(step, model, batch, update):
        if step in wanted:
            rows.extend(_pairs_at(model, ds, step, wanted[step], batch.cpu(), record.lr))

    replay = fit(make_model(), ds, epochs=record.epochs, lr=record.lr, batch_size=record.batch_size,
                 momentum=record.momentum, weight_decay=record.weight_decay, seed=record.seed,
                 device=device, progress=False, on_step=on_step)
    if not np.array_equal(replay.correct, record.correct):
        raise ValueError("the replayed run differs from the prediction's: make_model must return the same "
                         "untrained model (same kind and seed) that was passed to predict_forgetting")
    pairs = pd.DataFrame(rows, columns=["event", "step", "sample", "label", "partner", "partner_label",
                                        "cosine", "centred_cosine", "contribution"])
    pairs.insert(6, "same_class", pairs["label"] == pairs["partner_label"])
    worst = pairs.groupby("event")["contribution"].idxmin() if len(pairs) else []
    pairs["culprit"] = pairs.index.isin(worst)
    return pairs


def _pairs_at(model: nn.Module, ds: Dataset, step: int, events: list[tuple[int, int]], batch: torch.Tensor,
              lr: float) -> list[dict]:
    """The rows of :func:`update_pairs` for the events of one step, before its update."""
    own = torch.tensor([sample for _, sample in events])
    both = torch.cat([own, batch])
    x, y = ds.x_train[both], ds.y_train[both]
    n = len(own)
    raw = cosine(lpntk(model, x, y, progress=False))[:n, n:]
    centred = cosine(lpntk(model, x, y, centred=True, progress=False))[:n, n:]
    theta = entk(model, x[:n], x[n:], progress=False)  # (n, B, C, C)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        probs = model(x.to(next(model.parameters()).device)).softmax(dim=1).double().cpu().numpy()
    model.train(was_training)
    error = np.eye(probs.shape[1])[y.numpy()] - probs  # e_y − p
    share = lr / len(batch) * np.einsum("ic,ibcd,bd->ib", error[:n], theta, error[n:])
    return [
        dict(event=event, step=step, sample=sample, label=int(y[i]), partner=int(batch[b]),
             partner_label=int(y[n + b]), cosine=raw[i, b], centred_cosine=centred[i, b],
             contribution=share[i, b])
        for i, (event, sample) in enumerate(events) for b in range(len(batch))
    ]


def pairs_chart(pairs: pd.DataFrame) -> alt.HConcatChart:
    """Each update sample's share of the forgotten sample's change against its lpNTK cosine.

    Two panels, raw and centred lpNTK cosine on x, the first-order share of ``Δ log p_{y_o}`` on y
    (below 0: it pushed the forgotten sample towards being wrong); colour: same class or not;
    the culprit of each event (its most harmful update sample) drawn large.
    """
    base = alt.Chart(pairs).encode(
        y=alt.Y("contribution:Q", title="share of Δ log p(own label)"),
        color=alt.Color("same_class:N", title="same class",
                        scale=alt.Scale(domain=[True, False], range=["#31a354", "#756bb1"])),
        size=alt.Size("culprit:N", scale=alt.Scale(domain=[False, True], range=[12, 90]), title="culprit"),
        tooltip=["event:Q", "step:Q", "sample:Q", "label:N", "partner:Q", "partner_label:N",
                 alt.Tooltip("cosine:Q", format=".3f"), alt.Tooltip("centred_cosine:Q", format=".3f"),
                 alt.Tooltip("contribution:Q", format=".4f")],
    )
    zero = alt.Chart(pd.DataFrame({"v": [0.0]}))
    panels = []
    for field, title in (("cosine", "raw lpNTK cosine"), ("centred_cosine", "centred lpNTK cosine")):
        points = base.mark_circle(opacity=0.6).encode(x=alt.X(f"{field}:Q", title=title))
        panels.append((points + zero.mark_rule(strokeDash=[4, 3]).encode(x="v:Q")
                       + zero.mark_rule(strokeDash=[4, 3]).encode(y="v:Q")).properties(width=300, height=260))
    return alt.hconcat(*panels).properties(title="Who pushed the forgotten sample over the edge?")


def event_gallery(pairs: pd.DataFrame, ds: Dataset, *, n: int = 10,
                  class_names: Sequence[str] | None = None) -> alt.LayerChart:
    """For ``n`` events spread over the run: the forgotten sample and the culprit of the update that
    made it wrong.

    Each row shows two images and a caption with the step, the culprit's share of the change and
    its raw and centred lpNTK cosine with the forgotten sample. ``pairs`` from :func:`update_pairs`.
    """
    culprits = pairs[pairs["culprit"]]
    culprits = culprits.iloc[_spread(len(culprits), n)].reset_index(drop=True)
    names = [str(c) for c in (class_names if class_names is not None else range(ds.num_classes))]
    rows = []
    for r, (sample, label, partner, partner_label) in enumerate(
            culprits[["sample", "label", "partner", "partner_label"]].to_numpy(np.int64)):
        rows.append(dict(row=r, col=0, index=sample, who=f"forgotten: a {names[label]}"))
        rows.append(dict(row=r, col=1, index=partner, who=f"culprit: a {names[partner_label]}"))
    frame = pd.DataFrame(rows, columns=["row", "col", "index", "who"])
    chosen = torch.as_tensor(frame["index"].to_numpy(np.int64, copy=True))
    frame["url"] = image_urls(ds.x_train[chosen], scale=4) if len(frame) else []
    captions = culprits.assign(
        row=culprits.index,
        text=[f"step {s}: share {c:+.3f}, lpNTK cos {a:+.2f} (centred {b:+.2f})"
              for s, c, a, b in zip(culprits["step"], culprits["contribution"], culprits["cosine"],
                                    culprits["centred_cosine"])],
    )
    frame["px"], frame["py"] = 20 + 44 * frame["col"], 20 + 44 * frame["row"]
    captions["py"] = 20 + 44 * captions["row"]
    y = alt.Y("py:Q", scale=None, axis=None)
    images = alt.Chart(frame).mark_image(width=40, height=40).encode(
        x=alt.X("px:Q", scale=None, axis=None), y=y, url="url:N", tooltip=["who:N", "index:Q"])
    text = alt.Chart(captions).mark_text(align="left").encode(x=alt.value(100), y=y, text="text:N")
    return (images + text).properties(width=480, height=44 * max(len(culprits), 1),
                                      view=alt.ViewConfig(stroke=None),
                                      title="Forgotten sample (left) and the update's culprit (right)")


# --- how well is forgetting predicted? -----------------------------------------------------------


def margin_baseline(prediction: ForgettingPrediction) -> np.ndarray:
    """(M,) bool: flag the candidates with the smallest logit margin before the update, as many as
    the first-order predictor flags — a yardstick that knows who is close to the boundary."""
    margin = _margins(prediction.logits, prediction.label)
    flags = np.zeros(len(margin), dtype=bool)
    flags[np.argsort(margin, kind="stable")[: int(prediction.predicted.sum())]] = True
    return flags


def scores_frame(prediction: ForgettingPrediction) -> pd.DataFrame:
    """Precision, recall and F1 of the first-order predictor and three yardsticks: smallest margin,
    random (at the same rate) and never. Columns ``predictor, metric, value`` (NaN: undefined)."""
    scores = {
        "first-order": prediction.first_order,
        "smallest margin": score_prediction(margin_baseline(prediction), prediction.actual),
        "random": prediction.random,
        "never": prediction.never,
    }
    return pd.DataFrame([dict(predictor=name, metric=metric, value=getattr(s, metric))
                         for name, s in scores.items() for metric in ("precision", "recall", "f1")])


def scores_chart(prediction: ForgettingPrediction) -> alt.Chart:
    """Grouped bars of :func:`scores_frame` (an undefined precision is left out)."""
    frame = scores_frame(prediction).dropna()
    order = ["first-order", "smallest margin", "random", "never"]
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("metric:N", title=None, sort=["precision", "recall", "f1"], axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("predictor:N", sort=order),
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title="score"),
        color=alt.Color("predictor:N", sort=order),
        tooltip=["predictor:N", "metric:N", alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=360, height=220, title="Predicting one-step forgetting events")
