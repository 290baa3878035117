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


def _check_batch(module: nn.Module, inp: Tensor, batch: int) -> None:
    if inp.shape[0] != batch or (isinstance(module, nn.Conv2d) and inp.dim() != 4):
        raise UnsupportedModel(
            f"{type(module).__name__} saw input of shape {tuple(inp.shape)} for {batch} samples, so its "
            "per-sample factors cannot be told apart; use method='auto' or 'per_sample'"
        )


def _positions(module: nn.Module, inp: Tensor, grad_out: Tensor) -> tuple[Tensor, Tensor]:
    """Inputs ``(B, T, d_in)`` and output gradients ``(B, T, d_out)`` of one call of a layer."""
    batch = inp.shape[0]
    if isinstance(module, nn.Conv2d):
        u = F.unfold(inp, module.kernel_size, module.dilation, module.padding, module.stride)
        return u.transpose(1, 2), grad_out.flatten(2).transpose(1, 2)
    return inp.reshape(batch, -1, inp.shape[-1]), grad_out.reshape(batch, -1, grad_out.shape[-1])


def _weight_gradient(module: nn.Module, inp: Tensor, grad_out: Tensor) -> Tensor:
    """Per-sample weight gradient of one call, flattened: ``(B, d_out · d_in)``.

    For a convolution, the correlation of each sample's input with its output gradient, done as
    one grouped convolution (samples as groups; stride and dilation swap roles) without unfolding.
    """
    if not isinstance(module, nn.Conv2d):
        u, delta = _positions(module, inp, grad_out)
        return torch.bmm(delta.transpose(1, 2), u).flatten(1)
    batch, c_in = inp.shape[:2]
    c_out, (kh, kw) = grad_out.shape[1], module.kernel_size
    kernels = grad_out.reshape(batch * c_out, 1, *grad_out.shape[2:])
    corr = F.conv2d(
        inp.transpose(0, 1), kernels, padding=module.padding, stride=module.dilation,
        dilation=module.stride, groups=batch,
    )[:, :, :kh, :kw]
    return corr.reshape(c_in, batch, c_out, kh, kw).permute(1, 2, 0, 3, 4).reshape(batch, -1)


def _layer_part(module: nn.Module, calls: list[tuple[Tensor, Tensor]], batch: int) -> Part:
    """The layer's part: factored, or dense when ``T² (d_in + d_out) ≥ d_in · d_out``.

    A layer called several times (shared) has the positions of all its calls; one never called
    has none (a zero gradient).
    """
    w = module.weight
    bias = module.bias is not None and module.bias.requires_grad
    d_out, d_in = w.shape[0], w[0].numel() + int(bias)
    for inp, _ in calls:
        _check_batch(module, inp, batch)
    t = sum(g[0].numel() // d_out for _, g in calls)
    if t * t * (d_in + d_out) < d_in * d_out:
        pieces = [_positions(module, inp, g) for inp, g in calls] or [
            (w.new_zeros(batch, 0, w[0].numel()), w.new_zeros(batch, 0, d_out))
        ]
        us, deltas = zip(*pieces)
        u = us[0] if len(us) == 1 else torch.cat(us, dim=1)
        delta = deltas[0] if len(deltas) == 1 else torch.cat(deltas, dim=1)
        return Factored(u, delta, bias)
    weight = sum((_weight_gradient(module, inp, g) for inp, g in calls), w.new_zeros(batch, w.numel()))
    if not bias:
        return Dense(weight)
    bias_grad = sum((g.reshape(batch, d_out, -1).sum(2) if isinstance(module, nn.Conv2d)
                     else g.reshape(batch, -1, d_out).sum(1) for _, g in calls), w.new_zeros(batch, d_out))
    return Dense(torch.cat([weight, bias_grad], dim=1))


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
