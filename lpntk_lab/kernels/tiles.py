"""Fill an ``N × M`` kernel tile by tile, with bounded memory.

Samples are cut into blocks of ``block`` rows. A block's parts (its per-sample gradients in
whatever form the method uses) are computed once and kept while they fit in ``cache_bytes``;
past that they are recomputed when needed, so memory stays bounded whatever ``N``. A symmetric
kernel computes only the upper triangle of tiles and mirrors it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from .parts import Factored, Part, gram, nbytes

PartsFn = Callable[[Tensor, Tensor], list[Part]]

CACHE_BYTES = 512 * 2**20


class Blocks:
    """Samples ``x`` ``(N, ...)`` with cotangents ``c`` ``(N, C)``, served block by block as parts."""

    def __init__(self, parts_of: PartsFn, x: Tensor, c: Tensor, block: int, cache_bytes: int):
        self.parts_of, self.x, self.c, self.block = parts_of, x, c, block
        self.budget = cache_bytes
        self.cache: dict[int, list[Part]] = {}

    def __len__(self) -> int:
        return -(-len(self.x) // self.block)

    def rows(self, k: int) -> slice:
        return slice(k * self.block, min((k + 1) * self.block, len(self.x)))

    def __getitem__(self, k: int) -> list[Part]:
        if k in self.cache:
            return self.cache[k]
        s = self.rows(k)
        parts = self.parts_of(self.x[s], self.c[s])
        size = nbytes(parts)
        if size <= self.budget:
            self.cache[k] = parts
            self.budget -= size
        return parts


def block_size(parts_of: PartsFn, x: Tensor, c: Tensor, cache_bytes: int, cap: int = 1024) -> int:
    """A block size whose parts, and the intermediates of one tile, fit in a quarter of the budget.

    Measured on a probe of two samples.
    """
    probe = parts_of(x[:2], c[:2])
    per_sample = max(nbytes(probe) / len(x[:2]), 1.0)
    positions = max((p.u.shape[1] for p in probe if isinstance(p, Factored)), default=1)
    by_parts = int(cache_bytes / 4 / per_sample)
    by_tile = int((cache_bytes / 4 / (8.0 * positions * positions)) ** 0.5)
    return max(1, min(cap, by_parts, by_tile, len(x)))


def fill(
    rows: Blocks,
    cols: Blocks | None,
    out: np.ndarray,
    *,
    progress: bool,
    desc: str = "lpNTK tiles",
) -> np.ndarray:
    """Write ``Σ_parts <g_i, g_j>`` into ``out`` ``(N, M)``; ``cols=None`` means the symmetric ``rows × rows``."""
    symmetric = cols is None
    cols = rows if symmetric else cols
    pairs = [(i, j) for i in range(len(rows)) for j in range(i if symmetric else 0, len(cols))]
    for i, j in tqdm(pairs, desc=desc, disable=not progress or len(pairs) < 4, leave=False):
        tile = gram(rows[i], cols[j])
        if symmetric and i == j:
            tile = (tile + tile.T) / 2
        tile = tile.cpu().numpy()
        out[rows.rows(i), cols.rows(j)] = tile
        if symmetric and i != j:
            out[cols.rows(j), rows.rows(i)] = tile.T
    return out


def kernel(
    parts_of: PartsFn,
    x: Tensor,
    c: Tensor,
    x2: Tensor | None = None,
    c2: Tensor | None = None,
    *,
    block: int | None = None,
    out: np.ndarray | None = None,
    progress: bool = True,
    cache_bytes: int = CACHE_BYTES,
) -> np.ndarray:
    """The kernel between ``(x, c)`` and ``(x2, c2)`` (or itself): ``(N, M)`` float64."""
    size = block or block_size(parts_of, x, c, cache_bytes)
    rows = Blocks(parts_of, x, c, size, cache_bytes)
    cols = None if x2 is None else Blocks(parts_of, x2, c2, size, cache_bytes)
    shape = (len(x), len(x) if x2 is None else len(x2))
    if out is None:
        out = np.empty(shape, dtype=np.float64)
    elif out.shape != shape:
        raise ValueError(f"out has shape {out.shape}; this kernel needs {shape}")
    return fill(rows, cols, out, progress=progress)
