"""The public kernels: lpNTK, pNTK, eNTK and the per-sample vectors behind them.

For a classifier with logits ``z(x; w) ∈ R^C`` and ``s(y) = 2 e_y − 1``,

* ``lpntk``: ``κ_ij = s(y_i)ᵀ Θ(x_i, x_j) s(y_j) = <g_i, g_j>``, ``g(x, y) = ∇_w s(y)ᵀ z(x; w)``
  (raw, no ``1/C``);
* ``pntk``: ``(1/C) 1ᵀ Θ(x_i, x_j) 1`` (Mohamadi et al. 2023);
* ``entk``: the ``C × C`` blocks ``Θ(x_i, x_j) = J(x_i) J(x_j)ᵀ`` themselves.

Methods (all exact but ``"projected"``):

* ``"factored"``: one forward and one backward pass per block; linear layers by
  ``<∇W_i, ∇W_j> = (a_i·a_j)(δ_i·δ_j)``, convolutions by per-sample gradients or the factored
  form, whichever is cheaper, other parameters by ``torch.func``;
* ``"per_sample"``: ``torch.func`` per-sample gradients of every parameter and a GEMM — any module;
* ``"entk"``: full Jacobians and the ``C × C`` eNTK blocks contracted with ``s sᵀ``, ``C²`` times
  the work: the reference the others are tested against;
* ``"projected"``: ``g`` sketched to ``proj_dim`` dimensions by a seeded random projection
  (unbiased; an entry's error is of order ``sqrt(2 / proj_dim) · sqrt(κ_ii κ_jj)`` for nearly
  orthogonal pairs — median 0.025 at ``proj_dim = 1024`` in ``benchmarks/results.md`` — and up to
  about twice that on the diagonal, where the factored layers' sketch has more variance);
* ``"auto"``: ``"factored"``, or ``"per_sample"`` if the model defeats the hooks.

Kernels are computed in eval mode and in the model's dtype (float32 models are summed in float64);
the model's modes and parameters are left as they were. Lesson: ``notebooks/02_relations``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import capture, per_sample, tiles
from .inputs import (
    as_inputs,
    as_labels,
    check_label_range,
    evaluating,
    model_dtype,
    num_outputs,
    sign_vectors,
)
from .parts import Dense, flatten, projection_for

METHODS = ("auto", "factored", "per_sample", "entk", "projected")


@dataclass(frozen=True)
class WithinClassKernel:
    """lpNTK of same-class pairs only: ``blocks[k]`` ``(n_k, n_k)`` over the samples ``indices[k]``."""

    labels: np.ndarray
    indices: dict[int, np.ndarray]
    blocks: dict[int, np.ndarray]

    def __getitem__(self, cls: int) -> np.ndarray:
        return self.blocks[cls]

    def diagonal(self) -> np.ndarray:
        """``κ_ii`` for every sample, in the original order: ``(N,)``."""
        diag = np.empty(len(self.labels))
        for k, idx in self.indices.items():
            diag[idx] = np.diag(self.blocks[k])
        return diag

    def dense(self, fill: float = np.nan) -> np.ndarray:
        """The full ``(N, N)`` matrix with cross-class pairs set to ``fill``."""
        full = np.full((len(self.labels),) * 2, fill)
        for k, idx in self.indices.items():
            full[np.ix_(idx, idx)] = self.blocks[k]
        return full


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def _check_proj_dim(proj_dim) -> int:
    if isinstance(proj_dim, bool) or not isinstance(proj_dim, int) or proj_dim < 1:
        raise ValueError(f"proj_dim must be a positive integer, got {proj_dim!r}")
    return proj_dim


def _trainable(model: nn.Module) -> dict[str, Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def _projector(parts_of: tiles.PartsFn, dim: int, seed: int) -> tiles.PartsFn:
    """Wrap a parts function so each block comes back as one sketched ``Dense`` part ``(B, dim)``."""
    projections: dict[int, object] = {}

    def sketched(x: Tensor, c: Tensor):
        total = None
        for k, part in enumerate(parts_of(x, c)):
            if k not in projections:
                projections[k] = projection_for(part, dim, seed, k)
            s = part.sketch(projections[k])
            total = s if total is None else total + s
        return [Dense(total)]

    return sketched


def _parts_fn(model: nn.Module, method: str, x: Tensor, c: Tensor, proj_dim: int, seed: int) -> tiles.PartsFn:
    """How one block of samples becomes parts, for ``method``."""
    params = _trainable(model)

    def dense(xb: Tensor, cb: Tensor):
        return [per_sample.gradients(model, params, xb, cb)]

    if method == "per_sample":
        return dense
    if method == "entk":
        return lambda xb, cb: [per_sample.jacobians(model, params, xb, cb)]
    layout = capture.plan(model)

    def factored(xb: Tensor, cb: Tensor):
        return capture.parts(model, layout, xb, cb)

    if method == "factored":
        return factored
    try:  # "auto" and "projected": fall back to torch.func when hooks cannot follow the model
        factored(x[:2], c[:2])
        exact = factored
    except capture.UnsupportedModel:
        exact = dense
    return _projector(exact, _check_proj_dim(proj_dim), seed) if method == "projected" else exact


def _uniform(n: int, num_classes: int, dtype: torch.dtype) -> Tensor:
    """pNTK's cotangents ``1 / sqrt(C)``, so that ``cᵀ Θ c = (1/C) 1ᵀ Θ 1``: ``(N, C)``."""
    return torch.full((n, num_classes), num_classes**-0.5, dtype=dtype)


def _gram(
    model, x, y, x2, y2, *, labelled, centred, method, within_class, batch_size, proj_dim, seed, device,
    out, progress,
):
    """Shared body of :func:`lpntk` (``labelled``) and :func:`pntk`: validate, prepare, tile."""
    method = _check_method(method)
    x = as_inputs(x)
    if labelled:
        y = as_labels(y, len(x))
    if x2 is not None:
        x2 = as_inputs(x2, "x2")
        if labelled:
            if y2 is None:
                raise ValueError("x2 was given without its labels y2: pass both")
            y2 = as_labels(y2, len(x2), "y2")
    elif y2 is not None:
        raise ValueError("y2 was given without x2: pass both, or neither for the kernel of x with itself")
    if within_class and x2 is not None:
        raise ValueError("within_class=True compares x with itself: drop x2/y2")
    with evaluating(model, device) as m:
        dev, dtype = next(m.parameters()).device, model_dtype(m)
        num_classes = num_outputs(m, x.to(dev, dtype))

        def prepared(inputs: Tensor, labels: Tensor | None, name: str) -> tuple[Tensor, Tensor]:
            if labels is None:
                return inputs.to(dev, dtype), _uniform(len(inputs), num_classes, dtype).to(dev)
            check_label_range(labels, num_classes, name)
            signs = sign_vectors(labels, num_classes, dtype, centred=centred)
            return inputs.to(dev, dtype), signs.to(dev)

        x, c = prepared(x, y, "y")
        parts_of = _parts_fn(m, method, x, c, proj_dim, seed)
        if within_class:
            return _within_class(parts_of, x, c, y, batch_size=batch_size, progress=progress)
        if x2 is None:
            return tiles.kernel(parts_of, x, c, block=batch_size, out=out, progress=progress)
        x2, c2 = prepared(x2, y2, "y2")
        return tiles.kernel(parts_of, x, c, x2, c2, block=batch_size, out=out, progress=progress)


def _within_class(parts_of, x, c, y, *, batch_size, progress) -> WithinClassKernel:
    labels = y.cpu().numpy()
    indices = {int(k): np.flatnonzero(labels == k) for k in np.unique(labels)}
    blocks = {}
    for k, idx in tqdm(indices.items(), desc="classes", disable=not progress, leave=False):
        sel = torch.from_numpy(idx).to(x.device)
        blocks[k] = tiles.kernel(parts_of, x[sel], c[sel], block=batch_size, progress=progress)
    return WithinClassKernel(labels, indices, blocks)


def lpntk(
    model: nn.Module,
    x,
    y,
    *,
    x2=None,
    y2=None,
    method: str = "auto",
    within_class: bool = False,
    centred: bool = False,
    batch_size: int | None = None,
    proj_dim: int = 1024,
    seed: int = 0,
    device: str | torch.device = "auto",
    out: np.ndarray | None = None,
    progress: bool = True,
) -> np.ndarray | WithinClassKernel:
    """The raw labelled pseudo-NTK ``κ_ij = s(y_i)ᵀ Θ(x_i, x_j) s(y_j)``: ``(N, M)`` float64.

    Args:
        model: a classifier mapping ``(N, ...)`` inputs to ``(N, C)`` logits.
        x, y: inputs ``(N, ...)`` and integer labels ``(N,)`` in ``[0, C)``.
        x2, y2: a second set ``(M, ...)``, ``(M,)``; default: ``x, y`` (a symmetric PSD ``N × N``).
        method: ``"auto"``, ``"factored"``, ``"per_sample"``, ``"entk"`` or ``"projected"``.
        within_class: only same-class blocks (cross-class pairs are never computed); returns a
            :class:`WithinClassKernel`.
        centred: use ``2 (e_y − 1/C)`` instead of ``s(y)``, dropping the all-ones direction that
            the softmax cannot see. With ``C > 2`` classes ``s(y)·s(y') = C − 4 > 0`` for
            ``y ≠ y'``, so a shared bias alone makes raw cross-class lpNTK positive; the centred
            kernel lets contradictory (negative) pairs show. Off by default (the paper's kernel).
        batch_size: samples per tile; default: sized to keep memory near 512 MiB.
        proj_dim, seed: dimension and seed of the ``"projected"`` method.
        device: ``"auto"`` (the model's CUDA device, else CUDA if present, else CPU) or a device.
        out: an ``(N, M)`` float64 array to fill, e.g. ``np.lib.format.open_memmap`` for large N.
        progress: show a progress bar over tiles.
    """
    return _gram(
        model, x, y, x2, y2, labelled=True, centred=centred, method=method, within_class=within_class,
        batch_size=batch_size, proj_dim=proj_dim, seed=seed, device=device, out=out, progress=progress,
    )


def pntk(
    model: nn.Module,
    x,
    *,
    x2=None,
    method: str = "auto",
    batch_size: int | None = None,
    proj_dim: int = 1024,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> np.ndarray:
    """The pseudo-NTK ``(1/C) 1ᵀ Θ(x_i, x_j) 1`` of Mohamadi et al. (2023): ``(N, M)`` float64.

    Arguments as for :func:`lpntk`; no labels are needed.
    """
    return _gram(
        model, x, None, x2, None, labelled=False, centred=False, method=method, within_class=False,
        batch_size=batch_size, proj_dim=proj_dim, seed=seed, device=device, out=None, progress=progress,
    )


def entk(
    model: nn.Module,
    x,
    x2=None,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> np.ndarray:
    """The empirical NTK blocks ``Θ(x_i, x_j) = J(x_i) J(x_j)ᵀ``: ``(N, M, C, C)`` float64.

    Memory grows as ``N · M · C²``: meant for small sets and for checking the other kernels.
    """
    x = as_inputs(x)
    x2 = None if x2 is None else as_inputs(x2, "x2")
    with evaluating(model, device) as m:
        dev, dtype = next(m.parameters()).device, model_dtype(m)
        x = x.to(dev, dtype)
        num_classes = num_outputs(m, x)
        params = _trainable(m)

        def jac(xb: Tensor, cb: Tensor):
            return [per_sample.jacobians(m, params, xb, cb)]

        ones = torch.ones(len(x), num_classes, dtype=dtype, device=dev)
        size = batch_size or tiles.block_size(jac, x, ones, tiles.CACHE_BYTES)
        rows = tiles.Blocks(jac, x, ones, size, tiles.CACHE_BYTES)
        cols = rows
        if x2 is not None:
            x2 = x2.to(dev, dtype)
            cols = tiles.Blocks(jac, x2, ones[:1].expand(len(x2), -1), size, tiles.CACHE_BYTES)
        out = np.empty((len(x), len(cols.x), num_classes, num_classes))
        pairs = [(i, j) for i in range(len(rows)) for j in range(len(cols))]
        for i, j in tqdm(pairs, desc="eNTK tiles", disable=not progress or len(pairs) < 4, leave=False):
            theta = rows[i][0].theta(cols[j][0])
            out[rows.rows(i), cols.rows(j)] = theta.to(torch.float64).cpu().numpy()
        return out


def features(
    model: nn.Module,
    x,
    y,
    *,
    proj_dim: int | None = None,
    centred: bool = False,
    seed: int = 0,
    method: str = "auto",
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> np.ndarray:
    """The per-sample vectors ``g(x_i, y_i)``, so that ``lpntk = F Fᵀ``: ``(N, P)``, or ``(N, proj_dim)``.

    Exact when ``proj_dim`` is None (``P`` = number of trainable parameters; the coordinates are
    the gradient's, grouped by layer); otherwise a seeded random projection with
    ``E[F Fᵀ] = lpntk``. ``centred`` as for :func:`lpntk`. Returned in the model's dtype.
    """
    method = _check_method(method)
    if method in ("entk", "projected"):
        raise ValueError(f"method {method!r} has no features; use 'auto', 'factored' or 'per_sample' and proj_dim")
    x = as_inputs(x)
    y = as_labels(y, len(x))
    with evaluating(model, device) as m:
        dev, dtype = next(m.parameters()).device, model_dtype(m)
        x = x.to(dev, dtype)
        num_classes = num_outputs(m, x)
        check_label_range(y, num_classes)
        c = sign_vectors(y, num_classes, dtype, centred=centred).to(dev)
        parts_of = _parts_fn(m, method, x, c, proj_dim, seed)
        if proj_dim is None:
            vectors = lambda xb, cb: flatten(parts_of(xb, cb))  # noqa: E731
        else:
            _check_proj_dim(proj_dim)
            projected = _projector(parts_of, proj_dim, seed)
            vectors = lambda xb, cb: projected(xb, cb)[0].g  # noqa: E731
        size = batch_size or tiles.block_size(parts_of, x, c, tiles.CACHE_BYTES)
        chunks = range(0, len(x), size)
        rows = [
            vectors(x[s : s + size], c[s : s + size]).cpu().numpy()
            for s in tqdm(chunks, desc="features", disable=not progress or len(chunks) < 4, leave=False)
        ]
        return np.concatenate(rows)
