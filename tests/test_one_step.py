"""One SGD step on sample u: the measured change against the first-order eNTK prediction."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lpntk_lab as lab
from lpntk_lab.dynamics import OneStep, one_step, one_step_sweep


@pytest.fixture(scope="module")
def digits():
    """A digits MLP trained for 2 epochs, and 300 training samples."""
    ds = lab.load("digits")
    model = lab.models.for_dataset(ds, kind="mlp", seed=0)
    lab.fit(model, ds, epochs=2, lr=0.1, seed=0, progress=False)
    return model, ds.x_train[:300], ds.y_train[:300]


@pytest.fixture(scope="module")
def step(digits):
    model, x, y = digits
    return one_step(model, x, y, 4, lr=0.01)


def sgd_step_by_hand(model, x, y, u, lr):
    """log p_{y_o}(x_o) after minus before one torch.optim.SGD step on u, in eval mode: (N,)."""
    stepped = copy.deepcopy(model).eval()
    before = F.log_softmax(stepped(x).double(), dim=1)[torch.arange(len(y)), y]
    optimizer = torch.optim.SGD(stepped.parameters(), lr=lr)
    F.cross_entropy(stepped(x[u : u + 1]), y[u : u + 1]).backward()
    optimizer.step()
    after = F.log_softmax(stepped(x).double(), dim=1)[torch.arange(len(y)), y]
    return (after - before).detach().numpy()


def test_at_a_small_learning_rate_the_prediction_tracks_the_actual_change(step):
    assert isinstance(step, OneStep)
    assert step.pearson_r >= 0.99
    assert step.entk_sign_agreement >= 0.95
    assert step.actual[step.u] > 0, "a step on u raises u's own log-probability"


def test_the_prediction_is_the_entk_formula_recomputed_by_hand(digits, step):
    model, x, y = digits
    o, u, lr = 17, step.u, step.lr
    with torch.no_grad():
        p = model.eval()(x[[o, u]]).double().softmax(dim=1).numpy()
    error = np.eye(10)[y[[o, u]].numpy()] - p  # rows: e_y − p for o and u
    theta = lab.entk(model, x[o : o + 1], x[u : u + 1], progress=False)[0, 0]
    assert step.predicted[o] == pytest.approx(lr * error[0] @ theta @ error[1], rel=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "resnet"])
def test_the_actual_change_is_one_sgd_step_in_eval_mode(kind):
    """The ResNet has BatchNorm: in eval mode its running statistics take no part and do not move."""
    ds = lab.data.per_class(lab.load("digits"), 3)
    model = lab.models.for_dataset(ds, kind=kind, seed=0, **({"widths": (4, 8)} if kind == "resnet" else {}))
    x, y = ds.x_train, ds.y_train
    model.train()
    state = copy.deepcopy(model.state_dict())
    result = one_step(model, x, y, 2, lr=0.05)
    np.testing.assert_allclose(result.actual, sgd_step_by_hand(model, x, y, 2, 0.05), rtol=1e-4, atol=1e-6)
    assert model.training, "the caller's mode is restored"
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), f"{name} changed: the caller's model must stay untouched"


def test_summary_figures_are_what_they_claim(digits, step):
    model, x, y = digits
    others = np.arange(len(y)) != step.u
    assert step.pearson_r == pytest.approx(np.corrcoef(step.predicted, step.actual)[0, 1])
    assert step.sign_agreement == pytest.approx(np.mean(np.sign(step.lpntk[others]) == np.sign(step.actual[others])))
    assert step.entk_sign_agreement == pytest.approx(
        np.mean(np.sign(step.predicted[others]) == np.sign(step.actual[others]))
    )
    column = lab.lpntk(model, x, y, progress=False)[:, step.u]
    np.testing.assert_allclose(step.lpntk, column, rtol=1e-6)
    assert step.actual.shape == step.predicted.shape == step.lpntk.shape == (len(y),)


def test_the_sweep_shares_the_kernels_and_the_prediction_degrades_with_the_learning_rate(digits):
    model, x, y = digits
    lrs = [1e-3, 0.1, 2.0]
    sweep = one_step_sweep(model, x, y, 4, lrs)
    np.testing.assert_array_equal(sweep.lr, lrs)
    single = one_step(model, x, y, 4, lr=0.1)
    np.testing.assert_array_equal(sweep.steps[1].actual, single.actual)
    assert sweep.pearson_r[1] == single.pearson_r
    assert sweep.pearson_r[0] > 0.999 > sweep.pearson_r[1] > sweep.pearson_r[2]
    assert [row["lr"] for row in sweep.rows()] == lrs


def test_a_large_step_still_gives_finite_changes(digits):
    """Log-probabilities come from log_softmax: a probability that underflows to 0 is no -inf."""
    model, x, y = digits
    result = one_step(model, x, y, 4, lr=50.0)
    assert np.isfinite(result.actual).all() and result.actual.min() < -50
    assert np.isfinite(result.pearson_r)


def test_a_single_sample_has_no_correlation():
    model = lab.models.MLP(4, 3)
    result = one_step(model, torch.randn(1, 4), torch.tensor([1]), 0, lr=0.1)
    assert np.isnan(result.pearson_r) and np.isnan(result.sign_agreement)


@pytest.mark.parametrize("u", [-1, 300, 2.0, True, "0"])
def test_u_must_be_an_index_in_range(digits, u):
    model, x, y = digits
    with pytest.raises(ValueError, match="u"):
        one_step(model, x, y, u, lr=0.1)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), True, "0.1"])
def test_lr_must_be_a_positive_finite_number(digits, lr):
    model, x, y = digits
    with pytest.raises(ValueError, match="lr"):
        one_step(model, x, y, 0, lr=lr)
    with pytest.raises(ValueError, match="lr"):
        one_step_sweep(model, x, y, 0, [0.1, lr])


@pytest.mark.parametrize("lrs", [[], 0.1, "0.1"])
def test_lrs_must_be_a_non_empty_sequence(digits, lrs):
    model, x, y = digits
    with pytest.raises(ValueError, match="lrs"):
        one_step_sweep(model, x, y, 0, lrs)


def test_bad_samples_and_labels_are_refused(digits):
    model, x, y = digits
    with pytest.raises(ValueError, match="labels"):
        one_step(model, x, y[:-1], 0, lr=0.1)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        one_step(model, x, y + 1, 0, lr=0.1)
    with pytest.raises(TypeError, match="integer"):
        one_step(model, x, y.float(), 0, lr=0.1)
    with pytest.raises(ValueError, match="NaN"):
        one_step(model, x.clone().fill_(float("nan")), y, 0, lr=0.1)
