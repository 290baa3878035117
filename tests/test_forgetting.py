"""Forgetting events and scores on records whose answers are known."""

import numpy as np
import pytest

import lpntk_lab as lab
from lpntk_lab.forgetting import forgetting_events, forgetting_scores
from lpntk_lab.train import TrainingRecord


def record_from(correct):
    """A record with the given (epochs, n) correctness; batch size 1 in index order each epoch."""
    correct = np.asarray(correct, dtype=bool)
    epochs, n = correct.shape
    step = np.arange(epochs * n).reshape(epochs, n)
    zeros = np.zeros((epochs, n), dtype=np.float32)
    return TrainingRecord(
        step=step, loss=zeros, l2_error=zeros, correct=correct,
        train_accuracy=correct.mean(1), test_accuracy=correct.mean(1),
        dataset="toy", data_fingerprint="0", batch_size=1, lr=0.1, momentum=0.0, weight_decay=0.0, seed=0,
    )


CORRECT = [  # rows: epochs; columns: samples
    # 0 never forgotten, 1 forgotten twice, 2 never learned, 3 learned late, 4 forgotten once
    [1, 1, 0, 0, 1],
    [1, 0, 0, 0, 1],
    [1, 1, 0, 1, 0],
    [1, 0, 0, 1, 1],
]


def test_events_are_correct_to_incorrect_transitions():
    ev = forgetting_events(record_from(CORRECT))
    assert len(ev) == 3
    # sample 1 lost at epoch 1 (step 6), learned at step 1; lost at epoch 3 (step 16), relearned at step 11
    # sample 4 lost at epoch 2 (step 14), learned at step 4
    np.testing.assert_array_equal(ev.sample, [1, 4, 1])
    np.testing.assert_array_equal(ev.epoch, [1, 2, 3])
    np.testing.assert_array_equal(ev.step, [6, 14, 16])
    np.testing.assert_array_equal(ev.learned_step, [1, 4, 11])


@pytest.mark.parametrize("policy, never", [("max", 3.0), ("inf", np.inf), ("zero", 0.0)])
def test_scores_count_events_with_a_policy_for_never_learned(policy, never):
    scores = forgetting_scores(record_from(CORRECT), never_learned=policy)
    np.testing.assert_array_equal(scores, [0, 2, never, 0, 1])


def test_events_on_a_real_run_agree_with_a_direct_count():
    ds = lab.data.per_class(lab.load("digits"), 20)
    model = lab.models.for_dataset(ds)
    record = lab.fit(model, ds, epochs=6, lr=0.5, batch_size=16, progress=False)
    c = record.correct
    expected = (c[:-1] & ~c[1:]).sum(0)
    scores = forgetting_scores(record, never_learned="zero")
    np.testing.assert_array_equal(scores, expected)
    ev = forgetting_events(record)
    assert (np.diff(ev.step) >= 0).all() and (ev.learned_step < ev.step).all()


def test_bad_input():
    with pytest.raises(TypeError, match="TrainingRecord"):
        forgetting_events(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown never_learned policy 'never'"):
        forgetting_scores(record_from(CORRECT), never_learned="never")
