"""One forward and one backward pass that capture every linear map's inputs and output gradients.

``Linear`` and ``Conv2d`` layers are linear maps applied at ``T`` positions (``T = 1`` for a
``Linear`` on a vector; output pixels for a convolution, on unfolded patches). A forward hook keeps
each layer's input ``u`` and output; one backward pass with cotangent ``c`` on the logits gives
every layer's output gradient ``δ`` at once. Each layer becomes a :class:`~.parts.Factored` part,
or a :class:`~.parts.Dense` one when forming the ``d_out × d_in`` gradient is cheaper
(``T² (d_in + d_out) ≥ d_in · d_out``, typical of early convolutions). Every other trainable
parameter (BatchNorm, LayerNorm, embeddings, custom modules) gets exact per-sample gradients from
``torch.func``.

This is exact only when samples do not interact inside the model, which holds in eval mode (the
engine always computes kernels in eval mode).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import per_sample
from .parts import Dense, Factored, Part


class UnsupportedModel(RuntimeError):
    """The factored route cannot handle this model; ``method="per_sample"`` can."""


@dataclass(frozen=True)
class Plan:
    """Which modules are captured by hooks and which parameters go through ``torch.func``."""

    hooked: tuple[nn.Module, ...]
    other: tuple[str, ...]


def _hookable(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return module.weight.requires_grad
    if isinstance(module, nn.Conv2d):
        return (
            module.weight.requires_grad
            and module.groups == 1
            and module.padding_mode == "zeros"
            and not isinstance(module.padding, str)
        )
    return False


def plan(model: nn.Module) -> Plan:
    """Split the model's trainable parameters between hooked layers and ``torch.func``."""
    owners = Counter(
        id(p) for m in {id(m): m for m in model.modules()}.values() for p in m.parameters(recurse=False)
    )
    hooked = [
        m
        for m in {id(m): m for m in model.modules()}.values()
        if _hookable(m) and all(owners[id(p)] == 1 for p in m.parameters(recurse=False))
    ]
    covered = {id(p) for m in hooked for p in m.parameters(recurse=False) if p.requires_grad}
    other = tuple(n for n, p in model.named_parameters() if p.requires_grad and id(p) not in covered)
    return Plan(tuple(hooked), other)


def _positions(module: nn.Module, inp: Tensor, grad_out: Tensor, batch: int) -> tuple[Tensor, Tensor]:
    """Inputs ``(B, T, d_in)`` and output gradients ``(B, T, d_out)`` of one call of a layer."""
    if inp.shape[0] != batch:
        raise UnsupportedModel(
            f"{type(module).__name__} saw a batch of {inp.shape[0]} rows for {batch} samples"
        )
    if isinstance(module, nn.Conv2d):
        if inp.dim() != 4:
            raise UnsupportedModel("Conv2d on unbatched input")
        u = F.unfold(inp, module.kernel_size, module.dilation, module.padding, module.stride)
        return u.transpose(1, 2), grad_out.flatten(2).transpose(1, 2)
    return inp.reshape(batch, -1, inp.shape[-1]), grad_out.reshape(batch, -1, grad_out.shape[-1])


def _layer_part(module: nn.Module, calls: list[tuple[Tensor, Tensor]], batch: int) -> Part:
    """The layer's part; a layer the forward never called has zero positions (a zero gradient)."""
    w = module.weight
    us = [w.new_zeros(batch, 0, w[0].numel())]
    deltas = [w.new_zeros(batch, 0, w.shape[0])]
    for inp, g in calls:
        u, delta = _positions(module, inp, g, batch)
        us.append(u)
        deltas.append(delta)
    u, delta = torch.cat(us, dim=1), torch.cat(deltas, dim=1)
    if module.bias is not None and module.bias.requires_grad:
        u = torch.cat([u, u.new_ones(u.shape[:2] + (1,))], dim=2)
    part = Factored(u, delta)
    t, d_in, d_out = u.shape[1], u.shape[2], delta.shape[2]
    return part if t * t * (d_in + d_out) < d_in * d_out else Dense(part.flat())


def parts(model: nn.Module, layout: Plan, x: Tensor, c: Tensor) -> list[Part]:
    """All parts of the per-sample gradients of ``c_iᵀ z(x_i)``: hooked layers first, then the rest.

    ``x``: ``(B, ...)``; ``c``: ``(B, C)``. ``model`` must be in eval mode.
    """
    calls: dict[nn.Module, list[tuple[Tensor, Tensor]]] = {m: [] for m in layout.hooked}

    def keep(module, inputs, output):
        calls[module].append((inputs[0].detach(), output))
        return output.clone()  # in-place ops further on must not change the tensor we differentiate

    handles = [m.register_forward_hook(keep) for m in layout.hooked]
    try:
        with torch.enable_grad():
            z = model(x)
    finally:
        for h in handles:
            h.remove()
    outputs = [out for m in layout.hooked for _, out in calls[m]]
    grads = torch.autograd.grad(z, outputs, grad_outputs=c, allow_unused=True) if outputs else ()
    grads = iter(g if g is not None else torch.zeros_like(o) for g, o in zip(grads, outputs))
    result: list[Part] = []
    for m in layout.hooked:
        result.append(_layer_part(m, [(inp, next(grads)) for inp, _ in calls[m]], len(x)))
    if layout.other:
        params = dict(model.named_parameters())
        result.append(per_sample.gradients(model, {n: params[n] for n in layout.other}, x, c))
    return result
