"""Forgetting events (Toneva et al., 2019): counting them, and predicting them from the dynamics.

A forgetting event is a sample classified correctly at one presentation and incorrectly at the
next. A sample's forgetting score counts its events; a sample never classified correctly at any
presentation has no events but is the opposite of easy, so ``never_learned`` says what it scores.
:func:`forgetting_summary` gives the statistics of a record.

:func:`predict_forgetting` goes one level finer: during a training run it predicts, with the
first-order formula ``Δz(x_o) ≈ J(x_o) Δw``, which samples of the previous mini-batch the next
update will make wrong, scores the prediction against what happened and against trivial
predictors, and asks whether the samples of an event-causing update are contradictory (negative
lpNTK cosine) to the forgotten sample more often than chance. Lesson: ``notebooks/04_forgetting``.

    >>> forgetting_summary(lab.fit(model, ds, epochs=5, lr=0.1))
    >>> prediction = predict_forgetting(model, ds, epochs=5, lr=0.1)
    >>> prediction.summary()          # precision, recall, F1 of first-order vs never vs random
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from .data import Dataset
from .learning_difficulty import check_dataset, check_record
from .relations import cosine
from .kernels import lpntk
from .kernels.inputs import evaluating
from .train import TrainingRecord, fit

__all__ = [
    "EventPairs",
    "ForgettingEvents",
    "ForgettingPrediction",
    "ForgettingSummary",
    "NEVER_LEARNED",
    "PredictionScores",
    "forgetting_events",
    "forgetting_scores",
    "forgetting_summary",
    "predict_forgetting",
    "score_prediction",
]

NEVER_LEARNED = ("max", "inf", "zero")


@dataclass(frozen=True)
class ForgettingEvents:
    """One entry per event, sorted by step.

    Attributes:
        sample: (E,) index of the forgotten training sample.
        epoch: (E,) epoch of the presentation at which it was found wrong.
        step: (E,) optimisation step of that presentation.
        learned_step: (E,) step of the presentation that began the run of correct presentations
            this event ended (when the sample had been learned).
    """

    sample: np.ndarray
    epoch: np.ndarray
    step: np.ndarray
    learned_step: np.ndarray

    def __len__(self) -> int:
        return len(self.sample)


def forgetting_events(record: TrainingRecord) -> ForgettingEvents:
    """Every correct → incorrect transition between consecutive presentations of a sample."""
    check_record(record)
    correct = record.correct  # (epochs, n)
    lost = correct[:-1] & ~correct[1:]  # (epochs - 1, n): event at presentation e + 1
    # start of the current run of correct presentations, carried forward epoch by epoch
    run_start = np.full(correct.shape, -1, dtype=np.int64)
    start = np.full(correct.shape[1], -1, dtype=np.int64)
    for e in range(correct.shape[0]):
        began = correct[e] & (start < 0)
        start = np.where(began, record.step[e], np.where(correct[e], start, -1))
        run_start[e] = start
    epoch_before, sample = np.nonzero(lost)
    order = np.argsort(record.step[epoch_before + 1, sample], kind="stable")
    epoch_before, sample = epoch_before[order], sample[order]
    return ForgettingEvents(
        sample=sample,
        epoch=epoch_before + 1,
        step=record.step[epoch_before + 1, sample],
        learned_step=run_start[epoch_before, sample],
    )


def forgetting_scores(record: TrainingRecord, *, never_learned: str = "max") -> np.ndarray:
    """Number of forgetting events per training sample: ``(n_train,)`` float64.

    Args:
        never_learned: score of samples never classified correctly at any presentation:
            ``"max"`` — one more than the largest count of any sample (they rank as the most
            forgettable, yet stay finite for averaging and plots); ``"inf"`` — infinity (Toneva
            et al.'s convention); ``"zero"`` — 0 (no event happened; they rank with the
            unforgettable).
    """
    check_record(record)
    if never_learned not in NEVER_LEARNED:
        raise ValueError(f"unknown never_learned policy {never_learned!r}; choose one of {', '.join(NEVER_LEARNED)}")
    events = forgetting_events(record)
    scores = np.bincount(events.sample, minlength=record.n_train).astype(np.float64)
    never = ~record.correct.any(axis=0)
    fill = {"max": scores.max(initial=0.0) + 1.0, "inf": np.inf, "zero": 0.0}[never_learned]
    scores[never] = fill
    return scores


# --- statistics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForgettingSummary:
    """How often the samples of a run were forgotten.

    The three fractions split the samples: ``never_forgotten`` (correct at some presentation, no
    event afterwards — Toneva et al.'s *unforgettable* samples, including those first correct at
    the last presentation), ``forgotten`` (at least one event) and ``never_learned`` (never correct).

    Attributes:
        n_samples, n_events: training samples and forgetting events in the record.
        never_forgotten, forgotten, never_learned: fractions of the samples; they sum to 1.
        histogram: ``(max events + 1,)`` number of *learned* samples with 0, 1, 2, ... events.
    """

    n_samples: int
    n_events: int
    never_forgotten: float
    forgotten: float
    never_learned: float
    histogram: np.ndarray

    def __str__(self) -> str:
        return (f"{self.n_events} forgetting events over {self.n_samples} samples: "
                f"{self.never_forgotten:.1%} never forgotten, {self.forgotten:.1%} forgotten at least "
                f"once, {self.never_learned:.1%} never learned")


def forgetting_summary(record: TrainingRecord) -> ForgettingSummary:
    """Counts and fractions of forgetting in a record; see :class:`ForgettingSummary`."""
    counts = forgetting_scores(record, never_learned="zero").astype(np.int64)
    learned = record.correct.any(axis=0)
    return ForgettingSummary(
        n_samples=record.n_train,
        n_events=int(counts.sum()),
        never_forgotten=float(np.mean(learned & (counts == 0))),
        forgotten=float(np.mean(counts > 0)),
        never_learned=float(np.mean(~learned)),
        histogram=np.bincount(counts[learned], minlength=1),
    )


# --- scoring a prediction ------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionScores:
    """A yes/no prediction against what happened.

    Attributes:
        tp, fp, fn, tn: true/false positives/negatives.
        precision: ``tp / (tp + fp)``; NaN when nothing was predicted.
        recall: ``tp / (tp + fn)``; NaN when nothing happened.
        f1: ``2 tp / (2 tp + fp + fn)`` (the harmonic mean of the two); NaN when nothing was
            predicted and nothing happened.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float

    def __str__(self) -> str:
        return (f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f} "
                f"(tp={self.tp}, fp={self.fp}, fn={self.fn})")


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def score_prediction(predicted, actual) -> PredictionScores:
    """Score ``(M,)`` boolean predictions against ``(M,)`` boolean outcomes."""
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    if predicted.dtype != np.bool_ or actual.dtype != np.bool_:
        raise TypeError(f"predicted and actual must be boolean arrays, got {predicted.dtype} and {actual.dtype}")
    if predicted.shape != actual.shape or predicted.ndim != 1:
        raise ValueError(f"predicted and actual must be 1-D of one length, got shapes {predicted.shape} "
                         f"and {actual.shape}")
    tp, fp = int(np.sum(predicted & actual)), int(np.sum(predicted & ~actual))
    fn, tn = int(np.sum(~predicted & actual)), int(np.sum(~predicted & ~actual))
    return PredictionScores(
        tp, fp, fn, tn,
        precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn), f1=_ratio(2 * tp, 2 * tp + fp + fn),
    )


# --- predicting forgetting with the first-order formula -----------------------------------------


@dataclass(frozen=True)
class EventPairs:
    """Is the update that caused a one-step forgetting event contradictory to the forgotten sample?

    For a candidate ``o`` and the samples ``u`` of the update ``t`` that follows it, the lpNTK cosine
    ``cos(o, u)`` is measured with the parameters before update ``t``; a pair is contradictory when
    it is below ``threshold``. The chance level is the same figure over every candidate, forgotten
    or not: the same batches, the same kind of sample.

    Attributes:
        threshold: cosine below which a pair counts as contradictory.
        events, candidates: number of one-step forgetting events and of candidates.
        event_share: mean, over events, of the share of the update's samples contradictory to the
            forgotten sample.
        chance_share: the same mean over all candidates.
        event_cosine, chance_cosine: mean cosine of the pairs, over events and over all candidates.
    """

    threshold: float
    events: int
    candidates: int
    event_share: float
    chance_share: float
    event_cosine: float
    chance_cosine: float


@dataclass(frozen=True, eq=False)
class ForgettingPrediction:
    """First-order prediction of one-step forgetting events during a training run, and the outcome.

    A *candidate* is a sample ``o`` of mini-batch ``t - 1`` that is classified correctly right after
    update ``t - 1`` (the update that trained on it). Its *one-step forgetting event* is being
    misclassified right after the next update ``t``. All arrays have one row per candidate,
    ``M`` in all, in the order of the steps; models are evaluated in eval mode.

    Attributes:
        step: ``(M,)`` index of update ``t``.
        sample: ``(M,)`` training-sample index of ``o``; ``label`` ``(M,)`` its class.
        logits: ``(M, C)`` logits of ``o`` before update ``t``.
        delta: ``(M, C)`` predicted change ``J(x_o) Δw``, ``Δw`` the parameter change of update ``t``.
        logits_after: ``(M, C)`` actual logits after update ``t``.
        predicted: ``(M,)`` whether ``logits + delta`` misclassifies ``o``.
        actual: ``(M,)`` whether ``logits_after`` misclassifies ``o`` (a one-step forgetting event).
        batch_cosine: ``(M,)`` mean lpNTK cosine of ``o`` with the samples of update ``t``.
        contradictory_share: ``(M,)`` share of those samples with cosine below ``pairs.threshold``.
        first_order: scores of ``predicted``; ``never``: of predicting no event at all;
            ``random``: of flagging candidates at random (seeded) at the first-order predictor's rate.
        pairs: :class:`EventPairs`, the contradiction of event-causing pairs against chance.
        record: the run's :class:`~lpntk_lab.train.TrainingRecord`, identical to ``lab.fit``'s.
    """

    step: np.ndarray
    sample: np.ndarray
    label: np.ndarray
    logits: np.ndarray
    delta: np.ndarray
    logits_after: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    batch_cosine: np.ndarray
    contradictory_share: np.ndarray
    first_order: PredictionScores
    never: PredictionScores
    random: PredictionScores
    pairs: EventPairs
    record: TrainingRecord

    def summary(self):
        """A pandas DataFrame: one row per predictor with its counts, precision, recall and F1."""
        import pandas as pd

        scores = {"first-order": self.first_order, "never": self.never, "random": self.random}
        return pd.DataFrame([{"predictor": name, **asdict(s)} for name, s in scores.items()])


def _first_order(model: nn.Module, before: dict[str, torch.Tensor], x: torch.Tensor):
    """Logits of ``x`` at parameters ``before``, their change ``J Δw`` towards the model's current
    parameters (exact Jacobian-vector product), and the logits at the current parameters."""
    current = dict(model.named_parameters())
    step = {name: current[name].detach() - value for name, value in before.items()}
    with warnings.catch_warnings():  # torch's first forward-mode call warns about its own internals
        warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
        logits, delta = torch.func.jvp(lambda w: functional_call(model, w, (x,)), (before,), (step,))
    with torch.no_grad():
        after = model(x)
    return logits, delta, after


class _Watcher:
    """``on_step`` callback of :func:`predict_forgetting`; collects one row per candidate."""

    def __init__(self, ds: Dataset):
        self.x, self.y = ds.x_train, ds.y_train
        self.previous: torch.Tensor | None = None
        self.rows: dict[str, list] = {name: [] for name in ("step", "sample", "logits", "delta", "after")}
        self.rows["cos"] = []  # one (|b_t|,) array of cosines per candidate

    def __call__(self, step: int, model: nn.Module, batch: torch.Tensor, update) -> None:
        previous, self.previous = self.previous, batch
        if previous is None:
            return
        self.x, self.y = self.x.to(batch.device), self.y.to(batch.device)
        before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
        cos = self._cosine(model, previous, batch)
        update()
        with evaluating(model, batch.device) as m:
            logits, delta, after = _first_order(m, before, self.x[previous])
        keep = (logits.argmax(dim=1) == self.y[previous]).cpu().numpy()
        for name, value in (("sample", previous), ("logits", logits), ("delta", delta), ("after", after)):
            self.rows[name].append(value.detach().cpu().numpy()[keep])
        self.rows["cos"].extend(cos[keep])
        self.rows["step"].append(np.full(int(keep.sum()), step))

    def _cosine(self, model: nn.Module, rows: torch.Tensor, cols: torch.Tensor) -> np.ndarray:
        """``(len(rows), len(cols))`` lpNTK cosine between two sets of training samples."""
        both = torch.cat([rows, cols])
        K = lpntk(model, self.x[both], self.y[both], device=cols.device, progress=False)
        return cosine(K)[: len(rows), len(rows):]


def predict_forgetting(
    model: nn.Module,
    ds: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    seed: int = 0,
    contradictory: float = 0.0,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> ForgettingPrediction:
    """Train ``model`` as :func:`lpntk_lab.fit` does and predict, at every update, which samples of
    the previous mini-batch it will make wrong; see :class:`ForgettingPrediction`.

    At update ``t``, ``Δw`` is the actual parameter change (for plain SGD
    ``-η ∇_w L_{b_t}``, so ``J(x_o) Δw = (η / |b_t|) Σ_u Θ(x_o, x_u)(e_{y_u} - p_u)``, the eNTK
    formula; with momentum or weight decay it includes them). ``J(x_o) Δw`` is computed exactly with
    ``torch.func.jvp``; only the linearisation in ``Δw`` is approximate. The training itself is
    ``lab.fit``'s (through its ``on_step`` callback): same seed, same data order, same record.
    A run of a single step has no candidates: the arrays are empty and the scores NaN.

    Args:
        model: trained in place, as by :func:`lpntk_lab.fit`.
        ds, epochs, lr, batch_size, momentum, weight_decay, seed, device, progress: as for
            :func:`lpntk_lab.fit`. ``seed`` also seeds the random predictor.
        contradictory: cosine below which a pair counts as contradictory (default 0: a negative
            lpNTK, learning one sample lowers the other's label probability).
    """
    check_dataset(ds)
    if not -1.0 <= contradictory <= 1.0:
        raise ValueError(f"contradictory is a cosine threshold and must lie in [-1, 1], got {contradictory!r}")
    watcher = _Watcher(ds)
    record = fit(model, ds, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                 weight_decay=weight_decay, seed=seed, device=device, progress=progress, on_step=watcher)
    return _assemble(watcher.rows, ds, record, contradictory, seed)


def _assemble(rows: dict[str, list], ds: Dataset, record: TrainingRecord, threshold: float,
              seed: int) -> ForgettingPrediction:
    """Stack the watcher's rows into a :class:`ForgettingPrediction` and score it."""
    sample = _stack(rows["sample"], ()).astype(np.int64)
    label = ds.y_train.numpy()[sample]
    logits, delta, after = (_stack(rows[name], (ds.num_classes,)) for name in ("logits", "delta", "after"))
    predicted = (logits + delta).argmax(axis=1) != label
    actual = after.argmax(axis=1) != label
    share = np.array([np.mean(c < threshold) for c in rows["cos"]])
    batch_cosine = np.array([np.mean(c) for c in rows["cos"]])
    pairs = EventPairs(
        threshold=threshold, events=int(actual.sum()), candidates=len(actual),
        event_share=_mean(share[actual]), chance_share=_mean(share),
        event_cosine=_mean(batch_cosine[actual]), chance_cosine=_mean(batch_cosine),
    )
    flags = np.random.default_rng(seed).random(len(actual)) < _mean(predicted)
    return ForgettingPrediction(
        step=_stack(rows["step"], ()).astype(np.int64), sample=sample, label=label,
        logits=logits, delta=delta, logits_after=after, predicted=predicted, actual=actual,
        batch_cosine=batch_cosine, contradictory_share=share,
        first_order=score_prediction(predicted, actual), random=score_prediction(flags, actual),
        never=score_prediction(np.zeros_like(actual), actual), pairs=pairs, record=record,
    )


def _stack(parts: list[np.ndarray], tail: tuple[int, ...]) -> np.ndarray:
    """Concatenate per-step arrays of rows; ``(0, *tail)`` when the run had no candidates."""
    return np.concatenate(parts) if parts else np.empty((0, *tail))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")
