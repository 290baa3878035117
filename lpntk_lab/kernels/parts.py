"""The pieces a per-sample gradient is made of, and the inner products between them.

The engine never needs a whole gradient ``g(x, y)``; it needs inner products ``<g_i, g_j>``. Each
layer's share of a gradient is held in the cheapest exact form for that layer:

* :class:`Dense` — the gradient itself, ``(B, p)``: any parameter, by ``torch.func``.
* :class:`Factored` — a linear map applied at ``T`` positions (a ``Linear`` layer, ``T = 1``; a
  convolution, ``T`` = output pixels, on unfolded patches). Its weight gradient is
  ``G_i = Σ_t δ_it u_itᵀ``, so ``<G_i, G_j> = Σ_{t,s} (u_it·u_js)(δ_it·δ_js)``: for ``T = 1``
  just ``(u_i·u_j)(δ_i·δ_j)``, never forming ``G``. A bias acts as a constant input 1.
* :class:`Jacobian` — the full ``C × P`` Jacobian and the cotangent ``c``: the reference route,
  ``κ_ij = c_iᵀ (J_i J_jᵀ) c_j`` through the ``C × C`` eNTK block.

A block of samples is described by a list of parts (one per layer or parameter group); the kernel
between two blocks is the sum of the parts' Gram matrices (:func:`gram`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Dense:
    """Per-sample gradients of some parameters, flattened: ``g`` is ``(B, p)``."""

    g: Tensor

    def gram(self, other: Dense) -> Tensor:
        return self.g @ other.g.T

    def flat(self) -> Tensor:
        return self.g

    def sketch(self, proj: Tensor) -> Tensor:
        """Project onto ``proj`` ``(p, d)``: returns ``(B, d)``."""
        return self.g @ proj

    @property
    def width(self) -> int:
        return self.g.shape[1]


@dataclass(frozen=True)
class Factored:
    """A linear map's gradient in factored form.

    ``u``: ``(B, T, d_in)`` inputs at each position; ``delta``: ``(B, T, d_out)`` gradients of the
    cotangent-weighted logits w.r.t. the outputs; ``bias``: whether the map has a trainable bias,
    whose gradient is ``Σ_t δ_t`` (a constant input 1 at every position).
    """

    u: Tensor
    delta: Tensor
    bias: bool

    def gram(self, other: Factored) -> Tensor:
        if self.u.shape[1] == 1 and other.u.shape[1] == 1:
            uu = self.u[:, 0] @ other.u[:, 0].T
            return (uu + 1 if self.bias else uu) * (self.delta[:, 0] @ other.delta[:, 0].T)
        (b1, t1, d_in), (b2, t2, _) = self.u.shape, other.u.shape
        d_out = self.delta.shape[2]
        uu = self.u.reshape(b1 * t1, d_in) @ other.u.reshape(b2 * t2, d_in).T
        dd = self.delta.reshape(b1 * t1, d_out) @ other.delta.reshape(b2 * t2, d_out).T
        weight = (uu * dd).reshape(b1, t1, b2, t2).sum(dim=(1, 3))
        return weight + self.delta.sum(1) @ other.delta.sum(1).T if self.bias else weight

    def flat(self) -> Tensor:
        """The weight (and bias) gradient ``Σ_t δ_t u_tᵀ``, flattened: ``(B, d_out · d_in [+ d_out])``."""
        weight = torch.bmm(self.delta.transpose(1, 2), self.u).flatten(1)
        return torch.cat([weight, self.delta.sum(1)], dim=1) if self.bias else weight

    def sketch(self, proj: tuple[Tensor, Tensor]) -> Tensor:
        """Khatri–Rao sketch ``s_r = Σ_t (a_r·δ_t)(b_r·[u_t, 1])`` with ``proj = (a (d, d_out), b (d, d_in [+ 1]))``.

        Unbiased for the inner product when ``a`` and ``b`` have independent standard normal
        entries (scaled by ``1/sqrt(d)`` by the caller); it never forms the ``d_out × d_in`` gradient.
        """
        a, b = proj
        d_in = self.u.shape[2]
        inputs = self.u @ b[:, :d_in].T
        if self.bias:
            inputs = inputs + b[:, d_in]
        return ((self.delta @ a.T) * inputs).sum(dim=1)

    @property
    def inputs(self) -> int:
        """Inputs per position, the bias's constant 1 included."""
        return self.u.shape[2] + int(self.bias)

    @property
    def width(self) -> int:
        return self.inputs * self.delta.shape[2]


@dataclass(frozen=True)
class Jacobian:
    """Full Jacobians ``j`` ``(B, C, P)`` with the cotangents ``c`` ``(B, C)`` they are contracted with."""

    j: Tensor
    c: Tensor

    def theta(self, other: Jacobian) -> Tensor:
        """eNTK blocks ``Θ(x_i, x_j) = J_i J_jᵀ``: ``(B_1, B_2, C, C)``."""
        return torch.einsum("iap,jbp->ijab", self.j, other.j)

    def gram(self, other: Jacobian) -> Tensor:
        return torch.einsum("ijab,ia,jb->ij", self.theta(other), self.c, other.c)

    @property
    def width(self) -> int:
        return self.j.shape[2]


Part = Dense | Factored | Jacobian


def gram(left: list[Part], right: list[Part]) -> Tensor:
    """Kernel between two blocks described part by part: ``(B_1, B_2)`` float64.

    Each part's Gram is computed in the parts' own dtype and summed in float64.
    """
    if len(left) != len(right):
        raise RuntimeError("the model produced a different set of layers for the two inputs")
    total = None
    for a, b in zip(left, right):
        block = a.gram(b).to(torch.float64)
        total = block if total is None else total + block
    return total


def nbytes(parts: list[Part]) -> int:
    """Memory held by a list of parts, in bytes."""
    size = 0
    for part in parts:
        for t in vars(part).values():
            if isinstance(t, Tensor):
                size += t.numel() * t.element_size()
    return size


def flatten(parts: list[Part]) -> Tensor:
    """Whole per-sample gradients ``(B, P)``: the parts' gradients side by side."""
    return torch.cat([p.flat() for p in parts], dim=1)


_PROJECTION = 0x6C704E544B  # a fixed tag, so projection streams never coincide with a user's seeds


def gaussian(shape: tuple[int, ...], key: tuple[int, ...], *, dtype, device) -> Tensor:
    """Standard normal matrix from its own generator, seeded by hashing ``key`` (same key, same matrix).

    Hashing (``numpy.random.SeedSequence``) keeps the stream apart from ``torch.manual_seed(0)``,
    ``(1)``, …, which a user's data or weights may have come from.
    """
    seed = int(np.random.SeedSequence((*key, _PROJECTION)).generate_state(1, np.uint64)[0])
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=dtype).to(device)


def projection_for(part: Part, dim: int, seed: int, index: int) -> Tensor | tuple[Tensor, Tensor]:
    """The random projection part number ``index`` is sketched with (entries ``N(0, 1/dim)`` overall)."""
    scale = 1.0 / math.sqrt(dim)
    if isinstance(part, Dense):
        ref = part.g
        return gaussian((part.width, dim), (seed, index, 0), dtype=ref.dtype, device=ref.device) * scale
    if isinstance(part, Factored):
        ref = part.u
        a = gaussian((dim, part.delta.shape[2]), (seed, index, 0), dtype=ref.dtype, device=ref.device)
        b = gaussian((dim, part.inputs), (seed, index, 1), dtype=ref.dtype, device=ref.device)
        return a * scale, b
    raise TypeError(f"cannot project a {type(part).__name__} part")
