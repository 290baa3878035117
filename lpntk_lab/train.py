"""Train with plain SGD and record what every training sample went through.

Each epoch presents every training sample exactly once, in a seeded random order. For every
presentation the record keeps the sample's loss, L2 error ``||softmax(z) - e_y||_2`` and
correctness, measured on the very forward pass that computed the update (train mode, before the
step), and the index of the optimisation step. These arrays, of shape (epochs, n_train) and indexed
by ``[epoch, training sample]``, are what learning difficulty and forgetting events are computed from.

    >>> record = fit(model, ds, epochs=5, lr=0.1, seed=0)
    >>> record.loss.shape          # (epochs, n_train)
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import Dataset

__all__ = ["OnStep", "TrainingRecord", "fit"]

_FORMAT = "lpntk_lab.TrainingRecord/1"
_PER_PRESENTATION = {"step": np.int64, "loss": np.float32, "l2_error": np.float32, "correct": np.bool_}
_PER_EPOCH = ("train_accuracy", "test_accuracy")
_SETTINGS = ("dataset", "data_fingerprint", "batch_size", "lr", "momentum", "weight_decay", "seed")
_EVAL_BATCH = 1024

OnStep = Callable[[int, nn.Module, torch.Tensor, Callable[[], None]], None]
"""``on_step(step, model, batch, update)``: see :func:`fit`."""


@dataclass(frozen=True, eq=False)
class TrainingRecord:
    """Per-presentation training dynamics and the settings that produced them.

    Attributes:
        step: (epochs, n_train) int64, global index of the optimisation step that presented the sample.
        loss: (epochs, n_train) float32 cross-entropy at that presentation.
        l2_error: (epochs, n_train) float32 ``||softmax(z) - e_y||_2`` at that presentation.
        correct: (epochs, n_train) bool, whether ``argmax z == y`` at that presentation.
        train_accuracy: (epochs,) accuracy on the training set at the end of each epoch (eval mode).
        test_accuracy: (epochs,) accuracy on the test set at the end of each epoch (eval mode).
        dataset: name of the data set.
        data_fingerprint: ``Dataset.fingerprint`` of the training data.
        batch_size, lr, momentum, weight_decay, seed: the arguments of ``fit``.
    """

    step: np.ndarray
    loss: np.ndarray
    l2_error: np.ndarray
    correct: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray
    dataset: str
    data_fingerprint: str
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    seed: int

    def __post_init__(self):
        for name, dtype in _PER_PRESENTATION.items():
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        for name in _PER_EPOCH:
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        shapes = {name: getattr(self, name).shape for name in _PER_PRESENTATION}
        if self.step.ndim != 2 or len(set(shapes.values())) != 1 or 0 in self.step.shape:
            raise ValueError("step, loss, l2_error and correct must share one non-empty (epochs, n_train) "
                             f"shape, got {shapes}")
        for name in _PER_EPOCH:
            if getattr(self, name).shape != (self.epochs,):
                raise ValueError(f"{name} must have shape ({self.epochs},) (one value per epoch), "
                                 f"got {getattr(self, name).shape}")

    @property
    def epochs(self) -> int:
        return self.loss.shape[0]

    @property
    def n_train(self) -> int:
        return self.loss.shape[1]

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    def __repr__(self) -> str:
        return (f"TrainingRecord(dataset={self.dataset!r}, epochs={self.epochs}, n_train={self.n_train}, "
                f"batch_size={self.batch_size}, lr={self.lr}, seed={self.seed}, "
                f"final test_accuracy={self.test_accuracy[-1]:.3f})")

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (used as given) as an ``.npz`` of arrays plus JSON metadata, atomically.

        The file holds no pickle: ``TrainingRecord.load`` reads it back with ``allow_pickle=False``.
        """
        path = Path(path)
        arrays = {name: getattr(self, name) for name in (*_PER_PRESENTATION, *_PER_EPOCH)}
        meta = {name: getattr(self, name) for name in _SETTINGS} | {"format": _FORMAT}
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingRecord:
        """Read a record written by ``save``."""
        with np.load(path, allow_pickle=False) as f:
            if "meta" not in f.files:
                raise ValueError(f"{path} is not a saved TrainingRecord (it has no metadata)")
            meta = json.loads(str(f["meta"]))
            if meta.pop("format", None) != _FORMAT:
                raise ValueError(f"{path} is not a saved TrainingRecord of format {_FORMAT}")
            arrays = {name: f[name] for name in f.files if name != "meta"}
        return cls(**arrays, **meta)


def fit(
    model: nn.Module,
    ds: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    on_step: OnStep | None = None,
) -> TrainingRecord:
    """Train ``model`` on ``ds.x_train`` with SGD on the cross-entropy, recording every presentation.

    The model is moved to ``device`` in place and trained in place; its train/eval mode is
    restored on return. The shuffling (and any dropout) is drawn from ``seed``, without
    disturbing the global random state: the same seed on CPU gives the same record.

    Args:
        model: maps (B, C, H, W) images to (B, num_classes) logits.
        ds: the data set; its training set is trained on, its test set evaluated each epoch.
        epochs: passes over the training set.
        lr, momentum, weight_decay: settings of ``torch.optim.SGD``.
        batch_size: samples per step; the last step of an epoch may be smaller.
        seed: seed of the shuffling and of any randomness inside the model.
        device: ``"auto"`` (CUDA if available, else CPU), or a torch device.
        progress: show a progress bar over epochs.
        on_step: called at every optimisation step as ``on_step(step, model, batch, update)``,
            after the gradient of the mini-batch has been computed and before the parameters
            move. ``step`` is the global step index, ``batch`` the (B,) tensor of training-sample
            indices of this mini-batch (on ``device``), and ``update()`` applies the step: call it
            at most once to look at the model before and after the update (if the callback does
            not call it, it is applied on return). The callback must not change the parameters,
            their gradients or the random state; then the record is the same as without it.
            Used by :func:`lpntk_lab.forgetting.predict_forgetting`.

    Raises:
        FloatingPointError: the loss became NaN or infinite (checked at the end of each epoch;
            the message names the first step where it happened).
    """
    _check_fit_arguments(model, ds, epochs, lr, batch_size, momentum, weight_decay)
    device = _resolve(device)
    model.to(device)
    was_training = model.training
    x, y = ds.x_train.to(device), ds.y_train.to(device)
    x_test, y_test = ds.x_test.to(device), ds.y_test.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    shuffler = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(ds.n_train / batch_size)
    history = {name: [] for name in (*_PER_PRESENTATION, *_PER_EPOCH)}
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=not progress)
            for epoch in bar:
                order = torch.randperm(ds.n_train, generator=shuffler).to(device)
                presented = _train_epoch(model, optimizer, x, y, order, batch_size,
                                         epoch * steps_per_epoch, on_step)
                _raise_if_not_finite(presented, epoch, lr)
                for name, values in presented.items():
                    history[name].append(values.cpu().numpy())
                history["train_accuracy"].append(_accuracy(model, x, y))
                history["test_accuracy"].append(_accuracy(model, x_test, y_test))
                bar.set_postfix(loss=f"{history['loss'][-1].mean():.3f}",
                                acc=f"{history['train_accuracy'][-1]:.3f}",
                                test_acc=f"{history['test_accuracy'][-1]:.3f}")
    finally:
        model.train(was_training)
    return TrainingRecord(
        **{name: np.stack(values) for name, values in history.items()},
        dataset=ds.name, data_fingerprint=ds.fingerprint, batch_size=int(batch_size),
        lr=float(lr), momentum=float(momentum), weight_decay=float(weight_decay), seed=int(seed),
    )


def _train_epoch(model, optimizer, x, y, order, batch_size, first_step, on_step) -> dict[str, torch.Tensor]:
    """One pass over ``order``; returns (n,) tensors ``step, loss, l2_error, correct`` by sample index."""
    n = len(y)
    presented = {
        "step": torch.empty(n, dtype=torch.int64, device=x.device),
        "loss": torch.empty(n, device=x.device),
        "l2_error": torch.empty(n, device=x.device),
        "correct": torch.empty(n, dtype=torch.bool, device=x.device),
    }
    model.train()
    for step, batch in enumerate(order.split(batch_size), start=first_step):
        logits = model(x[batch])
        losses = F.cross_entropy(logits, y[batch], reduction="none")
        optimizer.zero_grad(set_to_none=True)
        losses.mean().backward()
        if on_step is None:
            optimizer.step()
        else:
            _step_with_callback(on_step, step, model, batch, optimizer)
        with torch.no_grad():
            presented["step"][batch] = step
            presented["loss"][batch] = losses
            presented["l2_error"][batch] = _l2_error(logits, y[batch])
            presented["correct"][batch] = logits.argmax(dim=1) == y[batch]
    return presented


def _step_with_callback(on_step: OnStep, step: int, model, batch, optimizer) -> None:
    """Let ``on_step`` see the model around ``optimizer.step()``, which runs exactly once."""
    applied = False

    def update() -> None:
        nonlocal applied
        if applied:
            raise RuntimeError(f"update() was called twice at step {step}; call it at most once per step")
        optimizer.step()
        applied = True

    on_step(step, model, batch, update)
    if not applied:
        optimizer.step()


def _l2_error(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B, C) logits, (B,) labels -> (B,) ``||softmax(logits) - onehot(labels)||_2``."""
    error = logits.softmax(dim=1)
    error[torch.arange(len(labels)), labels] -= 1.0
    return error.norm(dim=1)


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of the (N, C, H, W) images ``x`` classified as their (N,) labels ``y``, in eval mode."""
    was_training = model.training
    model.eval()
    hits = sum(int((model(xb).argmax(dim=1) == yb).sum())
               for xb, yb in zip(x.split(_EVAL_BATCH), y.split(_EVAL_BATCH)))
    model.train(was_training)
    return hits / len(y)


def _raise_if_not_finite(presented: dict[str, torch.Tensor], epoch: int, lr: float) -> None:
    bad = ~torch.isfinite(presented["loss"])
    if bad.any():
        step = int(presented["step"][bad].min())
        raise FloatingPointError(
            f"the loss became NaN or infinite at step {step} (epoch {epoch}); "
            f"the learning rate lr={lr} may be too high: try a smaller one"
        )


def _resolve(device: str | torch.device) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _check_fit_arguments(model, ds, epochs, lr, batch_size, momentum, weight_decay) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(ds, Dataset):
        raise TypeError(f"ds must be a lpntk_lab Dataset (from lpntk_lab.load), got {type(ds).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if not 0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
