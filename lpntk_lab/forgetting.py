"""Forgetting events (Toneva et al., 2019) from a training record.

A forgetting event is a sample classified correctly at one presentation and incorrectly at the
next. A sample's forgetting score counts its events; a sample never classified correctly at any
presentation has no events but is the opposite of easy, so ``never_learned`` says what it scores.
Lesson: ``notebooks/04_forgetting``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .train import TrainingRecord

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


def _check_record(record) -> None:
    if not isinstance(record, TrainingRecord):
        raise TypeError(f"record must be a TrainingRecord (from lab.fit), got {type(record).__name__}")


def forgetting_events(record: TrainingRecord) -> ForgettingEvents:
    """Every correct → incorrect transition between consecutive presentations of a sample."""
    _check_record(record)
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
    _check_record(record)
    if never_learned not in NEVER_LEARNED:
        raise ValueError(f"unknown never_learned policy {never_learned!r}; choose one of {', '.join(NEVER_LEARNED)}")
    events = forgetting_events(record)
    scores = np.bincount(events.sample, minlength=record.n_train).astype(np.float64)
    never = ~record.correct.any(axis=0)
    fill = {"max": scores.max(initial=0.0) + 1.0, "inf": np.inf, "zero": 0.0}[never_learned]
    scores[never] = fill
    return scores
