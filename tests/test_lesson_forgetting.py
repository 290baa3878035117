"""The forgetting lesson's charts and player: data behind the charts, the epoch parameter, the replay."""

import re

import numpy as np
import pytest
import vl_convert

import lpntk_lab as lab
from lpntk_lab.forgetting import score_prediction
from lpntk_lab.train import TrainingRecord
from lpntk_lab.viz import forgetting as charts
from lpntk_lab.widgets import forgetting as apps

CORRECT = np.array([  # rows: epochs; columns: samples (classes 0, 0, 1, 1, 1)
    [1, 1, 0, 0, 1],
    [1, 0, 0, 1, 1],
    [1, 1, 0, 1, 0],
    [1, 0, 0, 1, 1],
], dtype=bool)
LABELS = np.array([0, 0, 1, 1, 1])


def toy_record(correct=CORRECT):
    epochs, n = correct.shape
    zeros = np.zeros((epochs, n), dtype=np.float32)
    return TrainingRecord(
        step=np.arange(epochs * n).reshape(epochs, n), loss=zeros, l2_error=zeros, correct=correct,
        train_accuracy=correct.mean(1), test_accuracy=correct.mean(1), dataset="toy", data_fingerprint="0",
        batch_size=1, lr=0.1, momentum=0.0, weight_decay=0.0, seed=0,
    )


# --- correctness over training ----------------------------------------------------------------------


def test_state_at_marks_changes_since_the_previous_epoch():
    assert [charts.state_at("0110", e) for e in range(4)] == ["incorrect", "learned now", "correct", "forgotten now"]
    assert charts.state_at("1", 0) == "learned now"


def test_correctness_frame_lays_out_one_block_per_class():
    frame = charts.correctness_frame(toy_record(), LABELS, width=2)
    assert list(frame["history"]) == ["1111", "1010", "0000", "0111", "1101"]
    assert list(frame["events"]) == [0, 2, 0, 0, 1]
    assert list(frame["first"]) == [0, 0, 4, 1, 0]  # never learned: the number of epochs
    assert not frame.duplicated(["x", "y"]).any()
    assert (frame.loc[LABELS == 0, "x"] < 2).all() and (frame.loc[LABELS == 1, "x"] >= 3).all()
    # class 1 is ordered by first correct epoch, then by events: sample 4, then 3, then 2 (never)
    cls1 = frame[LABELS == 1].sort_values(["y", "x"])
    assert list(cls1["sample"]) == [4, 3, 2]


def test_epoch_counts_agree_with_forgetting_events():
    record = toy_record()
    counts = charts.epoch_counts(record)
    events = lab.forgetting_events(record)
    assert list(counts["forgotten"]) == np.bincount(events.epoch, minlength=record.epochs).tolist()
    assert list(counts["learned"]) == [3, 1, 1, 1]
    np.testing.assert_allclose(counts["correct"], CORRECT.mean(1))


def test_correctness_chart_draws_the_state_of_the_chosen_epoch():
    """Render the chart offline at every epoch and read each square's state back from the SVG: this
    runs the Vega expression behind the chart, which must agree with state_at."""
    record = toy_record()
    spec = charts.correctness_chart(record, LABELS).to_dict()
    assert spec["params"] == [{"name": charts.EPOCH, "value": 0}]
    histories = charts.correctness_frame(record, LABELS)["history"]
    for epoch in range(record.epochs):
        spec["params"][0]["value"] = epoch
        svg = vl_convert.vegalite_to_svg(spec)
        drawn = {int(sample): state for state, sample in re.findall(r"state: ([a-z ]+); sample: (\d+)", svg)}
        assert drawn == {i: charts.state_at(h, epoch) for i, h in enumerate(histories)}, epoch
        highlighted = re.findall(r'aria-label="epoch: (\d+); forgotten[^"]*"[^>]*opacity="1"', svg)
        assert highlighted == [str(epoch)]


def test_correctness_frame_rejects_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match="one per training sample"):
        charts.correctness_frame(toy_record(), LABELS[:3])


def test_player_moves_the_chart_and_the_caption():
    record = toy_record()
    player = apps.correctness_player(record, LABELS)
    assert player.chart.params.epoch == 0
    player.slider.value = 3
    assert player.chart.params.epoch == 3
    assert "epoch 3 of 3" in player.caption.value and "1 forgotten" in player.caption.value
    apps.show_epoch(player, 99)  # clamped to the last epoch
    assert player.chart.params.epoch == 3 and player.slider.value == 3
    apps.show_epoch(player, 1)
    assert player.slider.value == 1 and "1 forgotten" in player.caption.value
    assert (player.play.max, player.slider.max) == (3, 3)


# --- one-step events on a small real run ------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return lab.data.per_class(lab.load("digits"), 30)


@pytest.fixture(scope="module")
def prediction(small):
    model = lab.models.for_dataset(small, seed=0)
    return lab.predict_forgetting(model, small, epochs=3, lr=0.5, batch_size=16, seed=2, progress=False)


def test_one_step_events_are_the_prediction_s_events(prediction):
    table = charts.one_step_events(prediction)
    assert len(table) == prediction.actual.sum() > 0
    assert (table["margin_before"] > 0).all() and (table["margin_after"] <= 0).all()
    assert (table["mistaken_for"] != table["label"]).all()
    assert (table["epoch"] == table["step"] // prediction.record.steps_per_epoch).all()
    np.testing.assert_array_equal(table["predicted"], prediction.predicted[table["event"]])


def test_update_pairs_split_the_first_order_change_exactly(small, prediction):
    pairs = charts.update_pairs(small, prediction, lambda: lab.models.for_dataset(small, seed=0), events=5)
    assert pairs["event"].nunique() == min(5, prediction.actual.sum())
    assert (pairs.groupby("event").size() == 16).all()  # one row per sample of the update (batch 16)
    assert (pairs.groupby("event")["culprit"].sum() == 1).all()
    assert ((pairs["label"] == pairs["partner_label"]) == pairs["same_class"]).all()
    assert pairs[["cosine", "centred_cosine"]].abs().max().max() <= 1 + 1e-9
    # the shares of one event add up to the first-order change of log p(own label)
    total = pairs.groupby("event")["contribution"].sum()
    logits, delta = prediction.logits[total.index], prediction.delta[total.index]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    error = np.eye(small.num_classes)[prediction.label[total.index]] - probs
    np.testing.assert_allclose(total.to_numpy(), (error * delta).sum(1), rtol=1e-3, atol=1e-6)
    gallery = charts.event_gallery(pairs, small, n=3).to_dict()
    images = [d for name, d in gallery["datasets"].items() if d and "url" in d[0]]
    assert len(images) == 1 and len(images[0]) == 2 * min(3, total.size)
    assert charts.pairs_chart(pairs).to_dict()["hconcat"]


def test_update_pairs_refuses_another_initial_model(small, prediction):
    with pytest.raises(ValueError, match="same untrained model"):
        charts.update_pairs(small, prediction, lambda: lab.models.for_dataset(small, seed=1), events=1)


def test_margin_baseline_flags_the_smallest_margins(prediction):
    flags = charts.margin_baseline(prediction)
    assert flags.sum() == prediction.predicted.sum()
    logits, label = prediction.logits, prediction.label
    rows = np.arange(len(label))
    others = np.where(np.eye(logits.shape[1], dtype=bool)[label], -np.inf, logits)
    margin = logits[rows, label] - others.max(1)
    assert margin[flags].max() <= margin[~flags].min()


def test_scores_frame_and_chart(prediction):
    frame = charts.scores_frame(prediction)
    assert len(frame) == 12 and set(frame["predictor"]) == {"first-order", "smallest margin", "random", "never"}
    f1 = frame.set_index(["predictor", "metric"])["value"]
    assert f1["first-order", "f1"] == prediction.first_order.f1
    assert f1["smallest margin", "f1"] == score_prediction(charts.margin_baseline(prediction), prediction.actual).f1
    bars = charts.scores_chart(prediction).to_dict()
    assert all(np.isfinite(row["value"]) for rows in bars["datasets"].values() for row in rows)
