"""Data sets: the offline ones, the torchvision path on fake files, subsets and validation."""

import struct

import numpy as np
import pytest
import torch

from lpntk_lab import data
from lpntk_lab.data import Dataset, DatasetUnavailable


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def mnist_5k():
    return data.load("mnist-5k")


# --- offline data sets ---------------------------------------------------------------------------


def test_digits_shapes_and_types(digits):
    assert digits.x_train.shape == (1437, 1, 8, 8)
    assert digits.x_test.shape == (360, 1, 8, 8)
    assert digits.x_train.dtype == digits.x_test.dtype == torch.float32
    assert digits.y_train.dtype == digits.y_test.dtype == torch.int64
    assert digits.image_shape == (1, 8, 8)
    assert digits.class_names == tuple("0123456789")
    assert (digits.num_classes, digits.n_train, digits.n_test) == (10, 1437, 360)
    assert digits.name == "digits"


def test_mnist_5k_shapes_and_exact_stratification(mnist_5k):
    assert mnist_5k.x_train.shape == (4000, 1, 28, 28)
    assert mnist_5k.x_test.shape == (1000, 1, 28, 28)
    assert mnist_5k.num_classes == 10
    assert torch.equal(torch.bincount(mnist_5k.y_train), torch.full((10,), 400))
    assert torch.equal(torch.bincount(mnist_5k.y_test), torch.full((10,), 100))


def test_digits_split_is_stratified(digits):
    train_share = torch.bincount(digits.y_train) / digits.n_train
    test_share = torch.bincount(digits.y_test) / digits.n_test
    assert torch.allclose(train_share, test_share, atol=0.01)


@pytest.mark.parametrize("fixture", ["digits", "mnist_5k"])
def test_training_pixels_are_standardised(fixture, request):
    ds = request.getfixturevalue(fixture)
    assert abs(ds.x_train.mean().item()) < 1e-4
    assert abs(ds.x_train.std().item() - 1.0) < 1e-4
    assert abs(ds.x_test.mean().item()) < 0.1  # same transform, not re-fitted on the test set


def test_split_is_deterministic_and_depends_on_seed(digits):
    again = data.load("digits", seed=0)
    other = data.load("digits", seed=1)
    assert torch.equal(again.x_train, digits.x_train) and torch.equal(again.y_test, digits.y_test)
    assert again.fingerprint == digits.fingerprint
    assert other.fingerprint != digits.fingerprint
    assert not torch.equal(other.y_train, digits.y_train)


def test_test_fraction(digits):
    ds = data.load("digits", test_fraction=0.5)
    assert ds.n_train + ds.n_test == 1797 and abs(ds.n_test - 898) <= 1
    with pytest.raises(ValueError, match="test_fraction"):
        data.load("digits", test_fraction=1.0)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="unknown data set 'mnsit'.*digits.*mnist-5k.*cifar10"):
        data.load("mnsit")


# --- torchvision data sets on fake files --------------------------------------------------------


def _write_idx(path, array: np.ndarray, magic: int) -> None:
    """Write a uint8 array in the big-endian idx format of the MNIST files."""
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root, folder="MNIST", n_train=30, n_test=12, seed=0):
    """Raw idx files as torchvision expects them under root/<folder>/raw/; returns the arrays."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        _write_idx(raw / f"{split}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", labels, 2049)
        arrays[split] = images, labels
    return arrays


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_files_are_read(tmp_path, name, folder):
    arrays = _fake_mnist(tmp_path, folder)
    ds = data.load(name, root=tmp_path)
    assert ds.name == name and ds.image_shape == (1, 28, 28) and ds.num_classes == 10
    assert (ds.n_train, ds.n_test) == (30, 12)
    train_images, train_labels = arrays["train"]
    assert torch.equal(ds.y_train, torch.from_numpy(train_labels).long())
    assert torch.equal(ds.y_test, torch.from_numpy(arrays["t10k"][1]).long())
    pixels = torch.from_numpy(train_images).float().unsqueeze(1) / 255
    expected = (pixels - pixels.mean()) / pixels.std()
    torch.testing.assert_close(ds.x_train, expected)


def test_root_defaults_to_environment_variable(tmp_path, monkeypatch):
    _fake_mnist(tmp_path)
    monkeypatch.setenv("LPNTK_LAB_DATA", str(tmp_path))
    assert data.load("mnist").n_train == 30


def test_mnist_class_names_are_digits(tmp_path):
    _fake_mnist(tmp_path)
    assert data.load("mnist", root=tmp_path).class_names == tuple("0123456789")


def test_colour_images_are_channels_first_and_standardised_per_channel(monkeypatch):
    rng = np.random.default_rng(0)

    class FakeCIFAR10:
        classes = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

        def __init__(self, root, train, download):
            n = 40 if train else 10
            self.data = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
            self.data[..., 2] //= 4  # the blue channel has its own statistics
            self.targets = list(np.arange(n) % 10)

    monkeypatch.setattr("torchvision.datasets.CIFAR10", FakeCIFAR10)
    ds = data.load("cifar10", root="unused")
    assert ds.x_train.shape == (40, 3, 32, 32) and ds.x_test.shape == (10, 3, 32, 32)
    assert ds.class_names[0] == "airplane"
    channel_means = ds.x_train.mean(dim=(0, 2, 3))
    channel_stds = ds.x_train.std(dim=(0, 2, 3))
    torch.testing.assert_close(channel_means, torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(channel_stds, torch.ones(3), atol=1e-5, rtol=0)


def test_missing_files_say_where_and_what_to_do(tmp_path):
    with pytest.raises(DatasetUnavailable) as err:
        data.load("mnist", root=tmp_path)
    message = str(err.value)
    for hint in (str(tmp_path), "download=True", "'digits'", "'mnist-5k'"):
        assert hint in message


def test_failed_download_is_reported(tmp_path, monkeypatch):
    class OfflineMNIST:
        def __init__(self, root, train, download):
            assert download
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr("torchvision.datasets.MNIST", OfflineMNIST)
    with pytest.raises(DatasetUnavailable, match="could not download 'mnist'.*digits") as err:
        data.load("mnist", root=tmp_path, download=True)
    assert isinstance(err.value.__cause__, RuntimeError)
    assert isinstance(err.value, RuntimeError)


def test_torchvision_sets_reject_test_fraction(tmp_path):
    with pytest.raises(ValueError, match="fixed train/test split"):
        data.load("mnist", root=tmp_path, test_fraction=0.1)


# --- subsets -------------------------------------------------------------------------------------


def test_per_class_takes_n_of_each_class(digits):
    sub = data.per_class(digits, 7, seed=3)
    assert torch.equal(torch.bincount(sub.y_train), torch.full((10,), 7))
    assert sub.x_test is digits.x_test and sub.name == digits.name
    assert sub.fingerprint != digits.fingerprint
    rows = (sub.x_train.flatten(1)[:, None, :] == digits.x_train.flatten(1)[None]).all(-1)
    assert rows.any(1).all()  # every kept image is a training image of the original


def test_per_class_is_seeded(digits):
    same = data.per_class(digits, 5, seed=1), data.per_class(digits, 5, seed=1)
    assert same[0].fingerprint == same[1].fingerprint
    assert data.per_class(digits, 5, seed=2).fingerprint != same[0].fingerprint


@pytest.mark.parametrize("n, match", [(0, "n must be"), (2.5, "n must be"), (10_000, "fewer than n")])
def test_per_class_errors(digits, n, match):
    with pytest.raises(ValueError, match=match):
        data.per_class(digits, n)


def test_select_keeps_those_training_samples(digits):
    indices = [5, 0, 17]
    sub = digits.select(indices)
    assert torch.equal(sub.x_train, digits.x_train[indices])
    assert torch.equal(sub.y_train, digits.y_train[indices])
    assert sub.n_test == digits.n_test
    assert torch.equal(digits.select(torch.arange(3)).x_train, digits.x_train[:3])
    assert digits.select(np.array([1, 2])).n_train == 2


@pytest.mark.parametrize(
    "indices, error, match",
    [
        ([0, 1437], ValueError, "in \\[0, 1437\\)"),
        ([-1], ValueError, "in \\[0, 1437\\)"),
        ([3, 3], ValueError, "unique"),
        ([[0, 1]], ValueError, "1-D"),
        ([], ValueError, "non-empty"),
        ([0.0, 1.0], TypeError, "integers"),
        (torch.tensor([True, False]), TypeError, "boolean mask"),
    ],
)
def test_select_validates_indices(digits, indices, error, match):
    with pytest.raises(error, match=match):
        digits.select(indices)


# --- the container ------------------------------------------------------------------------------


def test_fingerprint_tracks_the_training_labels(digits):
    y = digits.y_train.clone()
    y[0] = (y[0] + 1) % 10
    changed = Dataset(digits.x_train, y, digits.x_test, digits.y_test,
                      digits.image_shape, digits.class_names, digits.name)
    assert len(digits.fingerprint) == 16 and int(digits.fingerprint, 16) >= 0
    assert changed.fingerprint != digits.fingerprint


def test_dataset_validates_its_fields(digits):
    parts = dict(x_train=digits.x_train, y_train=digits.y_train, x_test=digits.x_test,
                 y_test=digits.y_test, image_shape=(1, 8, 8), class_names=digits.class_names,
                 name="digits")
    with pytest.raises(TypeError, match="float32"):
        Dataset(**{**parts, "x_train": digits.x_train.double()})
    with pytest.raises(ValueError, match="labels must lie in \\[0, 3\\)"):
        Dataset(**{**parts, "class_names": ("a", "b", "c")})
    with pytest.raises(ValueError, match="shape"):
        Dataset(**{**parts, "image_shape": (1, 4, 16)})
    with pytest.raises(ValueError, match="y_test"):
        Dataset(**{**parts, "y_test": digits.y_test[:-1]})


def test_dataset_is_frozen_with_short_repr(digits):
    with pytest.raises(AttributeError):
        digits.name = "other"
    assert repr(digits) == ("Dataset(name='digits', n_train=1437, n_test=360, "
                            "image_shape=(1, 8, 8), num_classes=10)")
