"""Forgetting events, scores and statistics on known records; the first-order prediction on digits."""

import copy

import numpy as np
import pytest
import torch

import lpntk_lab as lab
from lpntk_lab.forgetting import (
    forgetting_events,
    forgetting_scores,
    forgetting_summary,
    predict_forgetting,
    score_prediction,
)
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


# --- statistics ----------------------------------------------------------------------------------


def test_summary_splits_the_samples():
    summary = forgetting_summary(record_from(CORRECT))
    assert (summary.n_samples, summary.n_events) == (5, 3)
    # never forgotten: 0 and 3 (learned late); forgotten: 1 and 4; never learned: 2
    assert (summary.never_forgotten, summary.forgotten, summary.never_learned) == (0.4, 0.4, 0.2)
    np.testing.assert_array_equal(summary.histogram, [2, 1, 1])  # learned samples with 0, 1, 2 events
    assert "3 forgetting events over 5 samples" in str(summary)


# --- scoring ------------------------------------------------------------------------------------


def test_score_prediction_on_hand_made_arrays():
    predicted = np.array([True, True, False, False, True, False])
    actual = np.array([True, False, True, False, True, False])
    s = score_prediction(predicted, actual)
    assert (s.tp, s.fp, s.fn, s.tn) == (2, 1, 1, 2)
    assert (s.precision, s.recall, s.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    never = score_prediction(np.zeros(6, dtype=bool), actual)
    assert np.isnan(never.precision) and never.recall == 0.0 and never.f1 == 0.0
    quiet = score_prediction(np.zeros(3, dtype=bool), np.zeros(3, dtype=bool))
    assert np.isnan(quiet.recall) and np.isnan(quiet.f1) and quiet.tn == 3
    perfect = score_prediction(actual, actual)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)


def test_score_prediction_bad_input():
    with pytest.raises(TypeError, match="boolean arrays"):
        score_prediction(np.array([1, 0]), np.array([True, False]))
    with pytest.raises(ValueError, match="1-D of one length"):
        score_prediction(np.array([True]), np.array([True, False]))


# --- prediction on digits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return lab.data.per_class(lab.load("digits"), 30)


SETTINGS = dict(epochs=3, lr=0.5, batch_size=16, seed=2, progress=False)


@pytest.fixture(scope="module")
def prediction(small):
    return predict_forgetting(lab.models.for_dataset(small, seed=0), small, **SETTINGS)


def test_prediction_run_is_the_same_as_fit(small, prediction):
    model = lab.models.for_dataset(small, seed=0)
    record = lab.fit(model, small, **SETTINGS)
    for name in ("step", "loss", "l2_error", "correct", "train_accuracy", "test_accuracy"):
        assert np.array_equal(getattr(record, name), getattr(prediction.record, name)), name


def test_prediction_rows_are_what_they_claim(small, prediction):
    p = prediction
    m = len(p.step)
    assert m > 100 and p.logits.shape == p.delta.shape == p.logits_after.shape == (m, 10)
    assert (p.logits.argmax(1) == p.label).all()  # candidates: correct before the update
    np.testing.assert_array_equal(p.label, small.y_train.numpy()[p.sample])
    np.testing.assert_array_equal(p.predicted, (p.logits + p.delta).argmax(1) != p.label)
    np.testing.assert_array_equal(p.actual, p.logits_after.argmax(1) != p.label)
    record = p.record
    for t, o in zip(p.step[:50], p.sample[:50]):  # o was presented at step t - 1
        epoch = (t - 1) // record.steps_per_epoch
        assert record.step[epoch, o] == t - 1
    assert p.actual.sum() > 0 and p.predicted.sum() > 0


def test_prediction_scores_and_baselines(prediction):
    p = prediction
    assert p.first_order == score_prediction(p.predicted, p.actual)
    assert p.never.tp == 0 and p.never.fn == p.actual.sum()
    assert p.random.tp + p.random.fp == pytest.approx(p.predicted.sum(), abs=4 * np.sqrt(p.predicted.sum()))
    assert p.first_order.f1 > 0.8 > p.random.f1  # first order is far better than chance
    table = p.summary()
    assert list(table.predictor) == ["first-order", "never", "random"]
    assert table.f1[0] == p.first_order.f1


def test_first_order_change_is_the_entk_formula(small, prediction):
    """Recompute Δz_o = (η/|b_t|) Σ_u Θ(x_o, x_u)(e_{y_u} − p_u) for one candidate by hand."""
    p = prediction
    row = int(np.flatnonzero(p.actual)[0])
    t, o = int(p.step[row]), int(p.sample[row])
    captured = {}

    def capture(step, model, batch, update):
        if step == t:
            captured["model"], captured["batch"] = copy.deepcopy(model), batch.clone()
        update()
        if step == t:
            captured["after"] = copy.deepcopy(model)

    lab.fit(lab.models.for_dataset(small, seed=0), small, **SETTINGS, on_step=capture)
    model, batch = captured["model"].eval(), captured["batch"]
    x, y = small.x_train, small.y_train
    theta = lab.entk(model, x[o:o + 1], x[batch], progress=False)[0]  # (B, C, C)
    with torch.no_grad():
        error = (torch.nn.functional.one_hot(y[batch], 10) - model(x[batch]).softmax(1)).double().numpy()
        z_o = model(x[o:o + 1])[0].numpy()
        z_after = captured["after"](x[o:o + 1])[0].numpy()
    delta = SETTINGS["lr"] / len(batch) * np.einsum("bij,bj->i", theta, error)
    np.testing.assert_allclose(p.logits[row], z_o, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p.delta[row], delta, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(p.logits_after[row], z_after, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("momentum, tolerance", [(0.0, 1e-3), (0.9, 2e-2)])
def test_first_order_tracks_the_actual_change_at_small_steps(small, momentum, tolerance):
    """Δw is the actual parameter change, momentum included, so J Δw tracks the logits' change."""
    p = predict_forgetting(lab.models.for_dataset(small, seed=0), small, epochs=1, lr=1e-3, batch_size=16,
                           momentum=momentum, progress=False)
    change = p.logits_after - p.logits
    assert np.linalg.norm(p.delta - change) < tolerance * np.linalg.norm(change)


def test_event_pairs_against_chance(prediction, small):
    p = prediction
    pairs = p.pairs
    assert pairs.events == p.actual.sum() and pairs.candidates == len(p.actual)
    assert pairs.event_share == pytest.approx(p.contradictory_share[p.actual].mean())
    assert pairs.chance_share == pytest.approx(p.contradictory_share.mean())
    assert pairs.event_cosine == pytest.approx(p.batch_cosine[p.actual].mean())
    assert ((-1 <= p.batch_cosine) & (p.batch_cosine <= 1)).all()
    everything = predict_forgetting(lab.models.for_dataset(small, seed=0), small, **SETTINGS, contradictory=1.0)
    assert everything.pairs.chance_share > 0.99  # every pair but a duplicate lies below cosine 1


def test_prediction_bad_input(small):
    model = lab.models.for_dataset(small)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        predict_forgetting(model, small, epochs=1, lr=0.0, progress=False)
    with pytest.raises(TypeError, match="ds must be a lpntk_lab Dataset"):
        predict_forgetting(model, np.zeros(3), epochs=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="contradictory is a cosine threshold"):
        predict_forgetting(model, small, epochs=1, lr=0.1, contradictory=-2.0, progress=False)


def test_a_single_step_run_has_no_candidates(small):
    p = predict_forgetting(lab.models.for_dataset(small), small, epochs=1, lr=0.1, batch_size=1000, progress=False)
    assert p.logits.shape == (0, 10) and p.step.shape == (0,)
    assert np.isnan(p.first_order.precision) and np.isnan(p.pairs.event_share)
