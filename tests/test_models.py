"""Models: output shapes on the three image shapes, seeded initialisation, errors."""

import pytest
import torch
from torch import nn

from lpntk_lab import models
from lpntk_lab.data import Dataset

SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def _fake_dataset(image_shape, num_classes=10, n=4):
    """A tiny Dataset with the given image shape (models only read its shape and classes)."""
    x = torch.randn(n, *image_shape)
    y = torch.arange(n) % num_classes
    return Dataset(x, y, x, y, image_shape, tuple(str(c) for c in range(num_classes)), "fake")


@pytest.mark.parametrize("kind", models.KINDS)
@pytest.mark.parametrize("shape_name", SHAPES)
def test_logits_shape(kind, shape_name):
    ds = _fake_dataset(SHAPES[shape_name], num_classes=7)
    model = models.for_dataset(ds, kind)
    assert model(ds.x_train).shape == (ds.n_train, 7)


def test_lenet_feature_sizes():
    first_linear = {
        name: next(m for m in models.LeNet5(c, (h, w), 10) if isinstance(m, nn.Linear)).in_features
        for name, (c, h, w) in SHAPES.items()
    }
    assert first_linear == {"digits": 16 * 2 * 2, "mnist": 16 * 5 * 5, "cifar10": 16 * 5 * 5}


def test_lenet_accepts_rectangular_images_and_rejects_tiny_ones():
    assert models.LeNet5(1, (8, 12), 3)(torch.zeros(2, 1, 8, 12)).shape == (2, 3)
    with pytest.raises(ValueError, match="too small"):
        models.LeNet5(1, 3, 10)
    with pytest.raises(ValueError, match="image_size"):
        models.LeNet5(1, (8, 8, 8), 10)


def test_mlp_layers():
    mlp = models.MLP(64, 10, hidden=(32, 16))
    widths = [(m.in_features, m.out_features) for m in mlp if isinstance(m, nn.Linear)]
    assert widths == [(64, 32), (32, 16), (16, 10)]
    linear_model = models.MLP(64, 10, hidden=())
    assert [(m.in_features, m.out_features) for m in linear_model if isinstance(m, nn.Linear)] == [(64, 10)]


def test_resnet_shortcuts_and_stages():
    resnet = models.ResNet(3, 10, widths=(8, 16), blocks_per_stage=2)
    blocks = [m for m in resnet if isinstance(m, models.BasicBlock)]
    assert len(blocks) == 4
    assert [isinstance(b.shortcut, nn.Identity) for b in blocks] == [True, True, False, True]
    assert blocks[2].conv1.stride == (2, 2)
    assert resnet(torch.randn(2, 3, 16, 16)).shape == (2, 10)


def test_for_dataset_passes_options_to_the_model():
    ds = _fake_dataset(SHAPES["digits"])
    mlp = models.for_dataset(ds, "mlp", hidden=(20,))
    assert mlp[1].out_features == 20
    with pytest.raises(TypeError):
        models.for_dataset(ds, "lenet", hidden=(20,))


@pytest.mark.parametrize("kind", models.KINDS)
def test_same_seed_same_parameters(kind):
    ds = _fake_dataset(SHAPES["digits"])
    a, b = models.for_dataset(ds, kind, seed=3), models.for_dataset(ds, kind, seed=3)
    c = models.for_dataset(ds, kind, seed=4)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), name
    assert not all(torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters()))


def test_global_random_state_is_untouched():
    ds = _fake_dataset(SHAPES["digits"])
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    models.for_dataset(ds, "resnet", seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_kind_lists_known_ones():
    with pytest.raises(ValueError, match="unknown model kind 'vit'.*mlp, lenet, resnet"):
        models.for_dataset(_fake_dataset(SHAPES["digits"]), "vit")


def test_for_dataset_needs_a_dataset():
    with pytest.raises(TypeError, match="Dataset"):
        models.for_dataset(torch.zeros(3, 1, 8, 8))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: models.MLP(0, 10), "in_features"),
        (lambda: models.MLP(64, 10, hidden=(32, -1)), "hidden\\[1\\]"),
        (lambda: models.LeNet5(1, 8, 0), "num_classes"),
        (lambda: models.ResNet(3, 10, widths=()), "widths"),
        (lambda: models.ResNet(3, 10, blocks_per_stage=0), "blocks_per_stage"),
    ],
)
def test_bad_sizes_are_rejected(build, match):
    with pytest.raises(ValueError, match=match):
        build()
