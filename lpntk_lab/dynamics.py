"""One SGD step on sample u, and what it did to every other sample: measured against predicted.

For a classifier with logits ``z(x; w)``, softmax ``p`` and cross-entropy, one plain SGD step of
learning rate ``η`` on sample ``u`` changes the log-probability of sample ``o``'s own label by, to
first order,

    Δ log p_{y_o}(x_o) ≈ η · (e_{y_o} − p_o)ᵀ Θ(x_o, x_u) (e_{y_u} − p_u),

with ``Θ(x_o, x_u) = J(x_o) J(x_u)ᵀ`` the eNTK block. lpNTK keeps only the signs of the two error
vectors, ``κ(o, u) = s(y_o)ᵀ Θ(x_o, x_u) s(y_u)``; :func:`one_step` reports how well each tracks the
change that actually happens. Lesson: ``notebooks/01_one_step``.

    >>> step = one_step(model, x, y, u=0, lr=0.01)
    >>> step.pearson_r, step.sign_agreement
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .kernels import entk, lpntk
from .kernels.inputs import as_inputs, as_labels, check_label_range, evaluating, num_outputs

__all__ = ["OneStep", "OneStepSweep", "one_step", "one_step_sweep"]

_EVAL_BATCH = 1024


@dataclass(frozen=True)
class OneStep:
    """What one SGD step on sample ``u`` did to each of the ``N`` samples, and what was predicted.

    Attributes:
        actual: (N,) measured change of ``log p_{y_o}(x_o)``, after the step minus before.
        predicted: (N,) first-order prediction ``η (e_{y_o} − p_o)ᵀ Θ(x_o, x_u) (e_{y_u} − p_u)``.
        lpntk: (N,) ``κ(o, u) = s(y_o)ᵀ Θ(x_o, x_u) s(y_u)`` (raw lpNTK; does not depend on ``lr``).
        u: index of the sample the step was taken on.
        lr: the learning rate ``η``.
        pearson_r: Pearson correlation of ``predicted`` and ``actual`` over all N samples
            (NaN if either is constant).
        sign_agreement: share of the samples ``o ≠ u`` where ``sign(lpntk) == sign(actual)``.
        entk_sign_agreement: the same share for the full prediction, ``sign(predicted) == sign(actual)``:
            what the sign-only lpNTK is compared against.
    """

    actual: np.ndarray
    predicted: np.ndarray
    lpntk: np.ndarray
    u: int
    lr: float
    pearson_r: float
    sign_agreement: float
    entk_sign_agreement: float


@dataclass(frozen=True)
class OneStepSweep:
    """:func:`one_step` at several learning rates (a tidy table, one row per rate).

    Attributes:
        lr: (L,) the learning rates, in the order given.
        pearson_r, sign_agreement, entk_sign_agreement: (L,) the summary figures of each step.
        steps: the L :class:`OneStep` results themselves, for per-sample plots.
    """

    lr: np.ndarray
    pearson_r: np.ndarray
    sign_agreement: np.ndarray
    entk_sign_agreement: np.ndarray
    steps: tuple[OneStep, ...]

    def rows(self) -> list[dict[str, float]]:
        """The table as records ``{"lr", "pearson_r", "sign_agreement", "entk_sign_agreement"}``."""
        return [
            {"lr": s.lr, "pearson_r": s.pearson_r, "sign_agreement": s.sign_agreement,
             "entk_sign_agreement": s.entk_sign_agreement}
            for s in self.steps
        ]


@dataclass(frozen=True)
class _Before:
    """Everything about the model before the step that does not depend on the learning rate."""

    x: Tensor  # (N, ...) inputs
    y: Tensor  # (N,) labels
    u: int
    log_p: np.ndarray  # (N,) log p_{y_o}(x_o) before the step, float64
    slope: np.ndarray  # (N,) (e_{y_o} − p_o)ᵀ Θ(x_o, x_u) (e_{y_u} − p_u): the prediction per unit lr
    lpntk: np.ndarray  # (N,) κ(o, u)


def one_step(model: nn.Module, x, y, u: int, *, lr: float, device: str | torch.device = "auto") -> OneStep:
    """Take one plain SGD step on sample ``u`` and compare the change on every sample with theory.

    The step is taken on a deep copy of ``model``; the caller's model is left untouched. The copy
    is in **eval mode**, as the kernels are: dropout is off and BatchNorm uses (and does not
    update) its running statistics, so the step moves the parameters only. The loss is the
    cross-entropy of the single sample ``u``; no momentum, no weight decay.

    Args:
        model: a classifier mapping ``(N, ...)`` inputs to ``(N, C)`` logits.
        x, y: inputs ``(N, ...)`` and integer labels ``(N,)`` in ``[0, C)``.
        u: index into ``x`` of the sample to take the step on, ``0 <= u < N``.
        lr: the learning rate ``η > 0``.
        device: ``"auto"`` (the model's CUDA device, else CUDA if present, else CPU) or a device.

    Returns:
        a :class:`OneStep` with the actual and predicted change for each of the ``N`` samples.

    Measured (digits MLP, 3 epochs, 500 samples; ``docs/relations_and_one_step.md``): at lr 0.01
    ``pearson_r`` ≈ 0.997 and the eNTK sign agrees for 99% of the samples; lpNTK's sign for only
    44% — it is positive for every pair, and most cross-class samples are hurt.
    """
    lr = _check_lr(lr)
    before = _before(model, x, y, u, device)
    return _result(before, _log_p_after(model, before, lr, device), lr)


def one_step_sweep(
    model: nn.Module, x, y, u: int, lrs: Sequence[float], *, device: str | torch.device = "auto"
) -> OneStepSweep:
    """:func:`one_step` at each learning rate of ``lrs``, sharing the kernels (computed once).

    Shows how the first-order prediction degrades as the step grows. Arguments as for
    :func:`one_step`; ``lrs`` is a non-empty sequence of positive learning rates.
    """
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, (Sequence, np.ndarray)) or len(lrs) == 0:
        raise ValueError(f"lrs must be a non-empty sequence of learning rates, e.g. [0.01, 0.1, 1], got {lrs!r}")
    lrs = [_check_lr(lr) for lr in lrs]
    before = _before(model, x, y, u, device)
    steps = tuple(_result(before, _log_p_after(model, before, lr, device), lr) for lr in lrs)
    return OneStepSweep(
        lr=np.array(lrs),
        pearson_r=np.array([s.pearson_r for s in steps]),
        sign_agreement=np.array([s.sign_agreement for s in steps]),
        entk_sign_agreement=np.array([s.entk_sign_agreement for s in steps]),
        steps=steps,
    )


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return float(lr)


def _check_index(u, n: int) -> int:
    if isinstance(u, bool) or not isinstance(u, numbers.Integral):
        raise ValueError(f"u must be an integer index of a sample, got {u!r} ({type(u).__name__})")
    if not 0 <= u < n:
        raise ValueError(f"u={u} is out of range: there are {n} samples, so 0 <= u < {n}")
    return int(u)


def _before(model: nn.Module, x, y, u, device) -> _Before:
    """Validate, then compute the log-probabilities, the eNTK prediction slope and the lpNTK column."""
    x = as_inputs(x)
    y = as_labels(y, len(x))
    u = _check_index(u, len(x))
    with evaluating(model, device) as m:
        param = next(m.parameters())
        check_label_range(y, num_outputs(m, x[:2].to(param.device, param.dtype)))
        log_p = _log_softmax(m, x).cpu().numpy()  # (N, C)
    rows = np.arange(len(y))
    labels = y.numpy()
    error = -np.exp(log_p)
    error[rows, labels] += 1.0  # (N, C): e_{y_o} − p_o
    theta = entk(model, x, x[u : u + 1], device=device, progress=False)[:, 0]  # (N, C, C)
    slope = np.einsum("oc,ocd,d->o", error, theta, error[u])
    column = lpntk(model, x, y, x2=x[u : u + 1], y2=y[u : u + 1], device=device, progress=False)[:, 0]
    return _Before(x=x, y=y, u=u, log_p=log_p[rows, labels], slope=slope, lpntk=column)


@torch.no_grad()
def _log_softmax(model: nn.Module, x: Tensor) -> Tensor:
    """Log-probabilities ``(N, C)`` of ``x`` in float64 (finite even where p underflows), batch by batch."""
    param = next(model.parameters())
    return torch.cat([
        model(xb.to(param.device, param.dtype)).to(torch.float64).log_softmax(dim=1)
        for xb in x.split(_EVAL_BATCH)
    ])


def _log_p_after(model: nn.Module, before: _Before, lr: float, device) -> np.ndarray:
    """``log p_{y_o}(x_o)`` for every sample after one SGD step on ``before.u``: ``(N,)`` float64."""
    with evaluating(model, device) as m:
        stepped = copy.deepcopy(m)  # in eval mode, like ``m``
    param = next(stepped.parameters())
    params = [q for q in stepped.parameters() if q.requires_grad]
    u = before.u
    logits = stepped(before.x[u : u + 1].to(param.device, param.dtype))
    loss = F.cross_entropy(logits, before.y[u : u + 1].to(param.device))
    grads = torch.autograd.grad(loss, params, allow_unused=True)  # None: a parameter the forward skips
    with torch.no_grad():
        for q, g in zip(params, grads):
            if g is not None:
                q -= lr * g
    log_p = _log_softmax(stepped, before.x).cpu().numpy()
    return log_p[np.arange(len(before.y)), before.y.numpy()]


def _result(before: _Before, log_p_after: np.ndarray, lr: float) -> OneStep:
    actual = log_p_after - before.log_p
    predicted = lr * before.slope
    others = np.arange(len(actual)) != before.u
    return OneStep(
        actual=actual,
        predicted=predicted,
        lpntk=before.lpntk,
        u=before.u,
        lr=lr,
        pearson_r=_pearson(predicted, actual),
        sign_agreement=_sign_agreement(before.lpntk[others], actual[others]),
        entk_sign_agreement=_sign_agreement(predicted[others], actual[others]),
    )


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two ``(N,)`` arrays; NaN when either is constant (e.g. a single sample)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _sign_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of entries where ``sign(a) == sign(b)``; NaN for no entries (a single sample)."""
    return float(np.mean(np.sign(a) == np.sign(b))) if len(a) else math.nan
