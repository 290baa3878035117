"""Training: the per-presentation record, its consistency, determinism, saving, errors."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpntk_lab import data, models
from lpntk_lab.train import TrainingRecord, fit


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def small(digits):
    return data.per_class(digits, 20, seed=0)  # 200 training samples


@pytest.fixture(scope="module")
def digits_record(digits):
    """An MLP trained on all of digits for 5 epochs at lr 0.1 (the lessons' default run)."""
    return _fit(digits, epochs=5, lr=0.1)[1]


def _fit(ds, **options):
    model = models.for_dataset(ds, "mlp", seed=0, hidden=(32,))
    settings = dict(epochs=3, lr=0.1, batch_size=64, seed=0, progress=False) | options
    return model, fit(model, ds, **settings)


def test_record_shapes_types_and_settings(small):
    _, record = _fit(small, epochs=3, batch_size=48, momentum=0.5, weight_decay=1e-4, seed=7)
    assert record.step.shape == record.loss.shape == record.l2_error.shape == record.correct.shape == (3, 200)
    assert record.step.dtype == np.int64 and record.correct.dtype == np.bool_
    assert record.loss.dtype == record.l2_error.dtype == np.float32
    assert record.train_accuracy.shape == record.test_accuracy.shape == (3,)
    assert (record.epochs, record.n_train, record.steps_per_epoch) == (3, 200, 5)
    assert (record.dataset, record.data_fingerprint) == ("digits", small.fingerprint)
    settings = (record.batch_size, record.lr, record.momentum, record.weight_decay, record.seed)
    assert settings == (48, 0.1, 0.5, 1e-4, 7)
    assert "epochs=3" in repr(record) and "n_train=200" in repr(record)


def test_each_sample_is_presented_once_per_epoch_in_full_batches(small):
    _, record = _fit(small, epochs=3, batch_size=48)
    for epoch, steps in enumerate(record.step):
        first = epoch * 5
        assert set(steps.tolist()) == set(range(first, first + 5))  # ceil(200 / 48) = 5 steps
        assert np.bincount(steps - first).tolist() == [48, 48, 48, 48, 8]
    assert not np.array_equal(record.step[0], record.step[1] - 5)  # reshuffled each epoch


def test_one_batch_larger_than_the_data_set(small):
    _, record = _fit(small, epochs=2, batch_size=1000)
    assert record.step.tolist() == [[0] * 200, [1] * 200]


def test_first_steps_are_measured_before_their_update(small):
    """Replay steps 0 and 1 by hand from the same initial model."""
    initial = models.for_dataset(small, "mlp", seed=0, hidden=(32,))
    replay = copy.deepcopy(initial)
    _, record = _fit(small, epochs=1, lr=0.1, batch_size=50)
    x, y = small.x_train, small.y_train
    for step in (0, 1):
        batch = torch.from_numpy(np.flatnonzero(record.step[0] == step))
        logits = replay(x[batch])
        losses = F.cross_entropy(logits, y[batch], reduction="none")
        errors = (logits.softmax(1) - F.one_hot(y[batch], 10)).norm(dim=1)
        close = dict(atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(torch.from_numpy(record.loss[0, batch]), losses.detach(), **close)
        torch.testing.assert_close(torch.from_numpy(record.l2_error[0, batch]), errors.detach(), **close)
        assert np.array_equal(record.correct[0, batch], (logits.argmax(1) == y[batch]).numpy())
        replay.zero_grad()
        losses.mean().backward()
        with torch.no_grad():
            for p in replay.parameters():
                p -= 0.1 * p.grad


def test_loss_l2_error_and_correctness_agree(digits_record):
    record = digits_record
    p_label = np.exp(-record.loss.astype(np.float64))
    lower = (1 - p_label) * math.sqrt(10 / 9)  # rest of the mass spread evenly
    upper = (1 - p_label) * math.sqrt(2)  # rest of the mass on one class
    assert np.all(record.l2_error >= lower - 1e-5) and np.all(record.l2_error <= upper + 1e-5)
    assert np.all(record.correct[p_label > 0.5])
    assert np.all(~record.correct[record.l2_error > math.sqrt(2) * 0.9 + 1e-5])  # p_label < 0.1


def test_mlp_learns_digits(digits_record):
    record = digits_record
    assert record.test_accuracy[-1] > 0.85 and record.train_accuracy[-1] > 0.85
    assert record.loss[-1].mean() < record.loss[0].mean()
    assert record.correct[-1].mean() > record.correct[0].mean()


def test_same_seed_same_record(small):
    model_a, a = _fit(small, momentum=0.9, seed=3)
    model_b, b = _fit(small, momentum=0.9, seed=3)
    _, c = _fit(small, momentum=0.9, seed=4)
    for name in ("step", "loss", "l2_error", "correct", "train_accuracy", "test_accuracy"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert all(torch.equal(p, q) for p, q in zip(model_a.parameters(), model_b.parameters()))
    assert not np.array_equal(a.step, c.step)


def test_dropout_is_seeded_and_global_random_state_untouched(small):
    def run():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
        record = fit(model, small, epochs=2, lr=0.1, seed=1, progress=False)
        return record, torch.rand(1)

    (first, after_first), (second, after_second) = run(), run()
    assert np.array_equal(first.loss, second.loss)
    torch.manual_seed(0)
    nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    assert torch.equal(after_first, torch.rand(1))


@pytest.mark.parametrize("training", [True, False])
def test_model_mode_is_restored(small, training):
    model = models.for_dataset(small, "resnet", seed=0, widths=(4,))
    model.train(training)
    record = fit(model, small, epochs=1, lr=0.05, batch_size=100, device="cpu", progress=False)
    assert model.training is training
    assert all(m.training is training for m in model.modules())
    assert record.test_accuracy.shape == (1,)


def test_progress_bar_and_device(small, capsys):
    model, _ = _fit(small, epochs=1, progress=True, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.parameters()).device.type == expected
    assert "epoch" in capsys.readouterr().err


def test_save_and_load_round_trip(small, tmp_path):
    _, record = _fit(small, momentum=0.9, weight_decay=1e-3, seed=5)
    path = tmp_path / "record.npz"
    record.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["record.npz"]  # no temporary file left behind
    loaded = TrainingRecord.load(path)
    for name in ("step", "loss", "l2_error", "correct", "train_accuracy", "test_accuracy"):
        assert np.array_equal(getattr(loaded, name), getattr(record, name)), name
        assert getattr(loaded, name).dtype == getattr(record, name).dtype
    for name in ("dataset", "data_fingerprint", "batch_size", "lr", "momentum", "weight_decay", "seed"):
        assert getattr(loaded, name) == getattr(record, name), name
    with np.load(path, allow_pickle=False) as f:  # plain arrays, no pickle
        assert "meta" in f.files


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, loss=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not a saved TrainingRecord"):
        TrainingRecord.load(path)


def test_record_validates_shapes():
    good = dict(step=np.zeros((2, 3)), loss=np.zeros((2, 3)), l2_error=np.zeros((2, 3)),
                correct=np.zeros((2, 3)), train_accuracy=np.zeros(2), test_accuracy=np.zeros(2),
                dataset="d", data_fingerprint="f", batch_size=1, lr=0.1, momentum=0.0,
                weight_decay=0.0, seed=0)
    assert TrainingRecord(**good).step.dtype == np.int64
    with pytest.raises(ValueError, match="share one"):
        TrainingRecord(**good | {"loss": np.zeros((2, 4))})
    with pytest.raises(ValueError, match="non-empty"):
        TrainingRecord(**good | {name: np.zeros((0, 3)) for name in ("step", "loss", "l2_error", "correct")})
    with pytest.raises(ValueError, match="test_accuracy must have shape \\(2,\\)"):
        TrainingRecord(**good | {"test_accuracy": np.zeros(3)})


def test_nan_loss_names_the_step_and_the_learning_rate(small):
    model = models.for_dataset(small, "mlp", seed=0)
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    model.eval()
    with pytest.raises(FloatingPointError, match="step 0 \\(epoch 0\\).*lr=0.1 may be too high"):
        fit(model, small, epochs=2, lr=0.1, progress=False)
    assert not model.training


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
        ({"epochs": 1.5}, ValueError, "epochs must be an integer >= 1"),
        ({"epochs": True}, ValueError, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"lr": 0.0}, ValueError, "lr must be a positive number"),
        ({"lr": float("nan")}, ValueError, "lr must be a positive number"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay"),
    ],
)
def test_bad_arguments(small, options, error, match):
    model = models.for_dataset(small, "mlp")
    with pytest.raises(error, match=match):
        fit(model, small, **{"epochs": 1, "lr": 0.1, "progress": False} | options)


def test_bad_model_or_data(small):
    with pytest.raises(TypeError, match="nn.Module"):
        fit(lambda x: x, small, epochs=1, lr=0.1)
    with pytest.raises(TypeError, match="Dataset"):
        fit(models.for_dataset(small), (small.x_train, small.y_train), epochs=1, lr=0.1)


def _assert_same_run(a, b, model_a, model_b):
    for name in ("step", "loss", "l2_error", "correct", "train_accuracy", "test_accuracy"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert all(torch.equal(p, q) for p, q in zip(model_a.parameters(), model_b.parameters()))


@pytest.mark.parametrize("calls_update", [True, False])
def test_on_step_callback_leaves_the_record_unchanged(small, calls_update):
    seen = []

    def on_step(step, model, batch, update):
        before = [p.detach().clone() for p in model.parameters()]
        model.eval()
        with torch.no_grad():
            model(small.x_train[batch])  # looking at the model must not change the run
        model.train()
        if calls_update:
            update()
            moved = any(not torch.equal(p, q) for p, q in zip(before, model.parameters()))
            assert moved, "update() must apply the step"
        seen.append((step, batch.cpu().numpy().copy()))

    model_a, plain = _fit(small, epochs=2, batch_size=48, momentum=0.9, seed=3)
    model_b, watched = _fit(small, epochs=2, batch_size=48, momentum=0.9, seed=3, on_step=on_step)
    _assert_same_run(plain, watched, model_a, model_b)
    assert [step for step, _ in seen] == list(range(10))
    for step, batch in seen:  # the callback is told which samples each step presented
        assert (plain.step[step // 5, batch] == step).all()


def test_on_step_update_runs_at_most_once(small):
    def twice(step, model, batch, update):
        update()
        update()

    with pytest.raises(RuntimeError, match="update\\(\\) was called twice at step 0"):
        _fit(small, epochs=1, on_step=twice)
