"""Per-sample gradients and Jacobians of any ``nn.Module`` with ``torch.func``.

Both work for every module whose forward can be ``vmap``-ed (BatchNorm and dropout in eval mode
included); they are the general fallback of the engine and, for Jacobians, its reference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jacrev, vmap

from .parts import Dense, Jacobian


def _functional(model: nn.Module, names: list[str]):
    """``f(params, x_i)``: the logits ``(C,)`` of one sample as a function of the named parameters."""
    fixed = {n: p.detach() for n, p in model.named_parameters() if n not in names}
    fixed.update(dict(model.named_buffers()))

    def logits(params: dict[str, Tensor], x_i: Tensor) -> Tensor:
        return functional_call(model, {**fixed, **params}, (x_i.unsqueeze(0),))[0]

    return logits


def gradients(model: nn.Module, params: dict[str, Tensor], x: Tensor, c: Tensor) -> Dense:
    """Per-sample gradients of ``c_iᵀ z(x_i)`` w.r.t. ``params``: a ``Dense`` part ``(B, p)``.

    ``x``: ``(B, ...)`` inputs; ``c``: ``(B, C)`` cotangents.
    """
    logits = _functional(model, list(params))

    def weighted(p: dict[str, Tensor], x_i: Tensor, c_i: Tensor) -> Tensor:
        return (logits(p, x_i) * c_i).sum()

    detached = {n: p.detach() for n, p in params.items()}
    per_sample = vmap(grad(weighted), in_dims=(None, 0, 0))(detached, x, c)
    return Dense(torch.cat([g.flatten(1) for g in per_sample.values()], dim=1))


def jacobians(model: nn.Module, params: dict[str, Tensor], x: Tensor, c: Tensor) -> Jacobian:
    """Full Jacobians ``∂z/∂w`` ``(B, C, P)`` w.r.t. ``params``, kept with the cotangents ``c``."""
    logits = _functional(model, list(params))
    detached = {n: p.detach() for n, p in params.items()}
    jac = vmap(jacrev(logits), in_dims=(None, 0))(detached, x)
    b, num_classes = c.shape
    return Jacobian(torch.cat([j.reshape(b, num_classes, -1) for j in jac.values()], dim=2), c)
