"""Checks on what users pass to the engine, and the model state it runs in.

Every check raises a ``ValueError``/``TypeError`` that says what is wrong and what to do.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn


def as_inputs(x, name: str = "x") -> Tensor:
    """Inputs as a floating tensor ``(N, ...)``; rejects empty, non-numeric and non-finite data."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if x.dim() == 0 or len(x) == 0:
        raise ValueError(f"{name} is empty: pass at least one sample, shape (N, ...)")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)):
        raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).flatten(1).any(1).sum()) if x.dim() > 1 else int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains NaN or inf in {bad} sample(s): clean or drop them first")
    return x


def as_labels(y, n: int, name: str = "y") -> Tensor:
    """Class labels as an int64 tensor ``(N,)``; rejects floats, bools, wrong shapes and lengths."""
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if isinstance(y, np.ndarray):
        if y.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer class labels, got numpy dtype {y.dtype}")
        y = torch.from_numpy(y.astype(np.int64))
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a tensor or array of integer labels, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}; use y.long()")
    if y.dim() != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {tuple(y.shape)}")
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels but there are {n} inputs: they must match")
    return y.long()


def check_label_range(y: Tensor, num_classes: int, name: str = "y") -> None:
    """Labels must lie in ``[0, C)`` for a model with ``C`` outputs."""
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{name} has labels in [{lo}, {hi}] but the model has {num_classes} outputs: "
            f"labels must lie in [0, {num_classes})"
        )


def resolve_device(model: nn.Module, device: str | torch.device) -> torch.device:
    """``"auto"``: the model's own CUDA device, else CUDA when present, else CPU."""
    here = next(model.parameters()).device
    if device == "auto":
        if here.type == "cuda" or not torch.cuda.is_available():
            return here
        return torch.device("cuda")
    return torch.device(device)


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's floating parameters (inputs are cast to it)."""
    return next(p.dtype for p in model.parameters() if p.is_floating_point())


@contextmanager
def evaluating(model: nn.Module, device: str | torch.device) -> Iterator[nn.Module]:
    """The model in eval mode on ``device``; afterwards every module's mode is as it was.

    The caller's model is never moved: a model on another device is copied.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("the model has no trainable parameters (requires_grad=True): the kernel would be 0")
    target = resolve_device(model, device)
    if next(model.parameters()).device != target:
        model = copy.deepcopy(model).to(target)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def num_outputs(model: nn.Module, x: Tensor) -> int:
    """Number of classes ``C``: the model must map ``(N, ...)`` inputs to ``(N, C)`` logits."""
    with torch.no_grad():
        z = model(x[:2])
    if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[0] != len(x[:2]):
        shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(
            f"the model must return logits of shape (N, C); for {len(x[:2])} inputs it returned {shape}"
        )
    if z.shape[1] < 2:
        raise ValueError(f"the model has {z.shape[1]} output; lpNTK needs C >= 2 class logits")
    return z.shape[1]


def sign_vectors(y: Tensor, num_classes: int, dtype: torch.dtype, *, centred: bool = False) -> Tensor:
    """``s(y) = 2 e_y − 1``: +1 at the label, −1 elsewhere: ``(N, C)``.

    ``centred=True`` gives ``s(y) − mean(s(y)) = 2 (e_y − 1/C)`` instead: the part of ``s(y)`` the
    softmax can see (adding a constant to every logit changes no probability).
    """
    onehot = nn.functional.one_hot(y, num_classes).to(dtype)
    return 2 * (onehot - 1 / num_classes) if centred else 2 * onehot - 1
