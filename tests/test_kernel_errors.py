"""Bad input to the kernels gets an error that says what was wrong and what to do."""

import numpy as np
import pytest
import torch
from torch import nn

import lpntk_lab as lab


@pytest.fixture
def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


@pytest.fixture
def x():
    return torch.randn(5, 4)


@pytest.fixture
def y():
    return torch.tensor([0, 1, 2, 1, 0])


def test_lengths_must_match(model, x, y):
    with pytest.raises(ValueError, match="4 labels but there are 5 inputs"):
        lab.lpntk(model, x, y[:4])


@pytest.mark.parametrize("bad", [torch.tensor([0, 1, 3, 1, 0]), torch.tensor([0, -1, 2, 1, 0])])
def test_labels_must_lie_in_range(model, x, bad):
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        lab.lpntk(model, x, bad)


@pytest.mark.parametrize("bad", [torch.tensor([0.0, 1, 2, 1, 0]), np.array([0.5, 1, 2, 1, 0]), torch.ones(5, dtype=torch.bool)])
def test_labels_must_be_integers(model, x, bad):
    with pytest.raises(TypeError, match="integer class labels"):
        lab.lpntk(model, x, bad)


def test_labels_must_be_one_dimensional(model, x):
    with pytest.raises(ValueError, match="must be 1-D"):
        lab.lpntk(model, x, torch.zeros(5, 1, dtype=torch.long))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_inputs_must_be_finite(model, x, y, value):
    x[2, 1] = value
    with pytest.raises(ValueError, match="NaN or inf in 1 sample"):
        lab.lpntk(model, x, y)


def test_inputs_must_not_be_empty(model):
    with pytest.raises(ValueError, match="empty"):
        lab.lpntk(model, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))


def test_inputs_must_be_arrays(model, y):
    with pytest.raises(TypeError, match="torch.Tensor or numpy array"):
        lab.lpntk(model, [[0.0] * 4] * 5, y)


@pytest.mark.parametrize(
    "head, message",
    [(nn.Flatten(0), r"shape \(N, C\)"), (nn.Unflatten(1, (3, 1)), r"shape \(N, C\)"), (nn.Linear(3, 1), "C >= 2")],
)
def test_model_must_return_class_logits(model, x, y, head, message):
    with pytest.raises(ValueError, match=message):
        lab.lpntk(nn.Sequential(model, head), x, torch.zeros(5, dtype=torch.long))


def test_model_must_be_a_module(x, y):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        lab.lpntk(lambda t: t, x, y)


def test_model_must_have_trainable_parameters(model, x, y):
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        lab.lpntk(model, x, y)


def test_unknown_method(model, x, y):
    with pytest.raises(ValueError, match="unknown method 'fast'; choose one of auto, factored"):
        lab.lpntk(model, x, y, method="fast")


def test_second_set_needs_both_halves(model, x, y):
    with pytest.raises(ValueError, match="without its labels y2"):
        lab.lpntk(model, x, y, x2=x)
    with pytest.raises(ValueError, match="y2 was given without x2"):
        lab.lpntk(model, x, y, y2=y)
    with pytest.raises(ValueError, match="within_class=True compares x with itself"):
        lab.lpntk(model, x, y, x2=x, y2=y, within_class=True)
    with pytest.raises(ValueError, match=r"y2 has labels in \[0, 7\]"):
        lab.lpntk(model, x, y, x2=x, y2=torch.tensor([0, 1, 7, 1, 0]))


@pytest.mark.parametrize("dim", [0, -3, 2.5, True])
def test_projection_dimension_must_be_positive(model, x, y, dim):
    with pytest.raises(ValueError, match="proj_dim must be a positive integer"):
        lab.lpntk(model, x, y, method="projected", proj_dim=dim)


def test_features_refuse_methods_without_vectors(model, x, y):
    with pytest.raises(ValueError, match="has no features"):
        lab.kernels.features(model, x, y, method="entk")


def test_out_must_have_the_kernel_shape(model, x, y):
    with pytest.raises(ValueError, match=r"out has shape \(4, 4\)"):
        lab.lpntk(model, x, y, out=np.empty((4, 4)))


def test_an_error_leaves_the_model_untouched(model, x):
    model.train()
    with pytest.raises(ValueError):
        lab.lpntk(model, x, torch.tensor([0, 1, 9, 1, 0]))
    assert model.training
