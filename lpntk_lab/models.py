"""Three classifiers, from a multilayer perceptron to a small ResNet, sized from a data set.

Every model maps images (N, C, H, W) to logits (N, num_classes).

    >>> model = for_dataset(load("digits"), kind="lenet", seed=0)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from .data import Dataset

__all__ = ["KINDS", "LeNet5", "MLP", "ResNet", "for_dataset"]


class MLP(nn.Sequential):
    """Flatten, then Linear + ReLU per hidden width, then a Linear head.

    Args:
        in_features: C * H * W of the input images.
        num_classes: number of logits.
        hidden: widths of the hidden layers (may be empty: a linear model).
    """

    def __init__(self, in_features: int, num_classes: int, *, hidden: Sequence[int] = (128,)):
        _check_positive(in_features=in_features, num_classes=num_classes)
        _check_positive(**{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        layers: list[nn.Module] = [nn.Flatten()]
        widths = [in_features, *hidden]
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        super().__init__(*layers)


class LeNet5(nn.Sequential):
    """LeNet-5: conv 6 - ReLU - maxpool 2 - conv 16 - ReLU - maxpool 2 - FC 120 - FC 84 - FC classes.

    The convolutions adapt to the image size so that the feature maps never vanish: 3x3 with
    padding 1 below 16 pixels (8x8 digits), 5x5 with the first padded by 2 below 32 pixels
    (28x28 MNIST: 16*5*5 = 400 features), and plain 5x5 from 32 pixels (CIFAR-10).

    Args:
        in_channels: C of the input images.
        image_size: H and W, or one int for square images.
        num_classes: number of logits.
    """

    def __init__(self, in_channels: int, image_size: int | tuple[int, int], num_classes: int):
        height, width = _pair(image_size)
        _check_positive(in_channels=in_channels, height=height, width=width, num_classes=num_classes)
        if min(height, width) < 4:
            raise ValueError(f"images of {height}x{width} pixels are too small for LeNet-5; use at least 4x4")
        kernel, pad_first, pad_second = _lenet_convolutions(min(height, width))
        features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel, padding=pad_first), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel, padding=pad_second), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = features(torch.zeros(1, in_channels, height, width)).shape[1]
        super().__init__(
            *features,
            nn.Linear(n_features, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )


def _pair(image_size) -> tuple[int, int]:
    """``image_size`` as (height, width): one int means a square."""
    if isinstance(image_size, numbers.Integral):
        return image_size, image_size
    if len(image_size) != 2:
        raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}")
    return tuple(image_size)


def _lenet_convolutions(size: int) -> tuple[int, int, int]:
    """(kernel size, padding of conv 1, padding of conv 2) for images of ``size`` pixels."""
    if size < 16:
        return 3, 1, 1
    if size < 32:
        return 5, 2, 0
    return 5, 0, 0


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Sequential):
    """A small ResNet: a conv3x3 stem, one stage of BasicBlocks per width (stride 2 between
    stages), global average pooling and a linear head.

    Args:
        in_channels: C of the input images.
        num_classes: number of logits.
        widths: channels of each stage.
        blocks_per_stage: BasicBlocks in each stage.
    """

    def __init__(self, in_channels: int, num_classes: int, *, widths: Sequence[int] = (16, 32, 64),
                 blocks_per_stage: int = 1):
        if len(widths) == 0:
            raise ValueError("widths must name at least one stage, e.g. (16, 32, 64)")
        _check_positive(in_channels=in_channels, num_classes=num_classes, blocks_per_stage=blocks_per_stage)
        _check_positive(**{f"widths[{i}]": w for i, w in enumerate(widths)})
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        channels = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, width, stride))
                channels = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
        super().__init__(*layers)


KINDS = ("mlp", "lenet", "resnet")


def for_dataset(ds: Dataset, kind: str = "mlp", *, seed: int = 0, **kwargs) -> nn.Module:
    """A model of ``kind`` sized for ``ds``, its parameters drawn from ``seed``.

    The global random state is left untouched. Extra keyword arguments go to the model class,
    e.g. ``for_dataset(ds, "mlp", hidden=(256, 256))``.

    Args:
        ds: the data set; gives the input shape and the number of classes.
        kind: one of ``KINDS``: ``"mlp"`` (MLP), ``"lenet"`` (LeNet5) or ``"resnet"`` (ResNet).
        seed: seed of the parameter initialisation.
    """
    if not isinstance(ds, Dataset):
        raise TypeError(f"ds must be a lpntk_lab Dataset (from lpntk_lab.load), got {type(ds).__name__}")
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {', '.join(KINDS)}")
    channels, height, width = ds.image_shape
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if kind == "mlp":
            return MLP(math.prod(ds.image_shape), ds.num_classes, **kwargs)
        if kind == "lenet":
            return LeNet5(channels, (height, width), ds.num_classes, **kwargs)
        return ResNet(channels, ds.num_classes, **kwargs)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
