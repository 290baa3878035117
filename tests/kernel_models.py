"""Small float64 models that exercise every route of the kernel engine, with inputs to match."""

import torch
from torch import nn


class TwoLayerOnSequence(nn.Module):
    """A Linear applied at several positions (factored with T > 1), then flattened."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(40, 50)
        self.head = nn.Linear(100, 4)

    def forward(self, x):
        return self.head(torch.tanh(self.inner(x)).flatten(1))


class Shared(nn.Module):
    """The same Linear called twice, an in-place ReLU after it, a frozen layer and an unused one."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(6, 6)
        self.frozen = nn.Linear(6, 6)
        self.frozen.requires_grad_(False)
        self.unused = nn.Linear(6, 6)
        self.scale = nn.Parameter(torch.tensor([1.5, -0.5, 2.0]))
        self.head = nn.Linear(6, 3, bias=False)

    def forward(self, x):
        h = torch.relu_(self.layer(x))
        h = self.layer(self.frozen(h))
        return self.head(h) * self.scale


class Tied(nn.Module):
    """An embedding-like parameter shared between two Linear layers (tied weights)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(5, 5)
        self.dec = nn.Linear(5, 5)
        self.dec.weight = self.enc.weight

    def forward(self, x):
        return self.dec(torch.sin(self.enc(x)))


def _bn_model():
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
        nn.Linear(48, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 5),
    ).double()
    model.train()
    with torch.no_grad():
        model(torch.randn(32, 2, 4, 4, dtype=torch.float64))  # non-trivial running statistics
    return model


def cases():
    """``name -> (model, x)`` in float64, built with a fixed seed."""
    torch.manual_seed(0)
    d = torch.float64
    return {
        "mlp": (
            nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 4)).double(),
            torch.randn(11, 3, 4, dtype=d),
        ),
        "cnn-pool": (
            nn.Sequential(
                nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 2, bias=False),
                nn.ReLU(), nn.AvgPool2d(1), nn.Flatten(), nn.Linear(4, 3),
            ).double(),
            torch.randn(11, 2, 4, 4, dtype=d),
        ),
        "cnn-strided-dilated": (
            nn.Sequential(
                nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                nn.Conv2d(8, 4, 2, stride=(1, 2), dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(24, 6, bias=False),
            ).double(),
            torch.randn(11, 1, 10, 10, dtype=d),
        ),
        "batchnorm-dropout": (_bn_model(), torch.randn(11, 2, 4, 4, dtype=d)),
        "sequence": (TwoLayerOnSequence().double(), torch.randn(11, 2, 40, dtype=d)),
        "shared-frozen-unused": (Shared().double(), torch.randn(11, 6, dtype=d)),
        "tied": (Tied().double(), torch.randn(11, 5, dtype=d)),
    }
