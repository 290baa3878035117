"""Charts of sample relations: cosine histograms, four kernels side by side, the gap as a network widens.

Every kernel here is a contraction of the eNTK blocks ``Θ(x_i, x_j)`` (``C × C``) with one vector
per sample, ``κ_ij = v_iᵀ Θ(x_i, x_j) v_j``:

* ``"pNTK"``: ``v = 1 / sqrt(C)`` — no label (Mohamadi et al. 2023);
* ``"lpNTK"``: ``v = s(y) = 2 e_y − 1`` — the sign of the error only (Guo et al. 2024);
* ``"lpNTK, centred"``: ``v = 2 (e_y − 1/C)`` — the signs without the all-ones direction;
* ``"eNTK · errors"``: ``v = e_y − p`` — the true error, which is what one SGD step uses.

Lesson: ``notebooks/02_relations``.

    >>> kernels = lab.viz.relations.contractions(model, x[:50], y[:50])
    >>> lab.viz.relations.heatmaps(kernels, y[:50])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import data as _data
from .. import fit, models
from ..kernels import entk
from ..kernels.inputs import evaluating, model_dtype
from ..relations import cosine

__all__ = [
    "GAP_METRICS",
    "KERNELS",
    "contractions",
    "cosine_bins",
    "gap",
    "gap_chart",
    "heatmaps",
    "histogram",
    "width_sweep",
]

KERNELS = ("pNTK", "lpNTK", "lpNTK, centred", "eNTK · errors")
GAP_METRICS = ("eNTK off-identity share", "r(lpNTK, eNTK · errors)", "r(lpNTK centred, eNTK · errors)")
_PAIRS = ("same class", "different classes")
_ENTK_BLOCK = 10  # samples per eNTK block: bounds the Jacobians held at once


# --- measurements behind the charts -----------------------------------------------------------------


def _entk_and_vectors(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    """The eNTK ``(N, N, C, C)`` and the per-sample vectors ``{kernel name: (N, C)}`` of ``KERNELS``."""
    theta = entk(model, x, batch_size=_ENTK_BLOCK, progress=False)
    num_classes = theta.shape[-1]
    with evaluating(model, "auto") as m, torch.no_grad():  # eval mode, as the kernels; modes restored
        p = torch.softmax(m(x.to(next(m.parameters()).device, model_dtype(m))), dim=1).double().cpu().numpy()
    onehot = np.eye(num_classes)[torch.as_tensor(y).cpu().numpy()]
    vectors = {
        "pNTK": np.full_like(onehot, 1 / np.sqrt(num_classes)),
        "lpNTK": 2 * onehot - 1,
        "lpNTK, centred": 2 * (onehot - 1 / num_classes),
        "eNTK · errors": onehot - p,
    }
    return theta, vectors


def _contract(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v_iᵀ Θ_ij v_j`` for ``(N, N, C, C)`` blocks and ``(N, C)`` vectors: ``(N, N)``."""
    return np.einsum("ia,ijab,jb->ij", v, theta, v, optimize=True)


def contractions(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """The four kernels of ``KERNELS`` from one eNTK: ``{name: (N, N) float64}``.

    The eNTK needs ``N² C²`` numbers: keep ``N`` to a few hundred.

    Args:
        model: a classifier mapping ``(N, ...)`` inputs to ``(N, C)`` logits; evaluated in eval mode.
        x, y: inputs ``(N, ...)`` and integer labels ``(N,)``.
    """
    theta, vectors = _entk_and_vectors(model, x, y)
    return {name: _contract(theta, v) for name, v in vectors.items()}


def _off_identity(theta: np.ndarray) -> float:
    """``‖Θ − k I‖ / ‖Θ‖`` over all blocks, ``k_ij = tr Θ_ij / C``: 0 when every block is ``k_ij I``."""
    num_classes = theta.shape[-1]
    k = np.einsum("ijaa->ij", theta) / num_classes
    return float(np.linalg.norm(theta - k[:, :, None, None] * np.eye(num_classes)) / np.linalg.norm(theta))


def _off_diagonal_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r between the off-diagonal cosines of two ``(N, N)`` kernels."""
    off = ~np.eye(len(a), dtype=bool)
    return float(np.corrcoef(cosine(a)[off], cosine(b)[off])[0, 1])


def gap(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """How far lpNTK is from the error-weighted eNTK on ``x, y``: ``{metric: value}`` for ``GAP_METRICS``.

    * ``"eNTK off-identity share"``: ``‖Θ − k I‖_F / ‖Θ‖_F`` over all pairs, ``k_ij = tr Θ_ij / C``.
      Near 0, every block is a multiple of the identity and the network treats classes alike;
      then every kernel of ``KERNELS`` is ``k_ij`` times the dot product of the two vectors.
    * ``"r(lpNTK, eNTK · errors)"``, ``"r(lpNTK centred, eNTK · errors)"``: Pearson r between the
      cosines (off the diagonal) of the (centred) lpNTK and of the eNTK contracted with the true
      errors ``e_y − p``. 1 would mean the sign vectors lose nothing the cosine can see.
    """
    theta, vectors = _entk_and_vectors(model, x, y)
    kernels = {name: _contract(theta, v) for name, v in vectors.items()}
    errors = kernels["eNTK · errors"]
    return {
        GAP_METRICS[0]: _off_identity(theta),
        GAP_METRICS[1]: _off_diagonal_r(kernels["lpNTK"], errors),
        GAP_METRICS[2]: _off_diagonal_r(kernels["lpNTK, centred"], errors),
    }


def width_sweep(
    ds: _data.Dataset,
    widths: Sequence[int] = (16, 64, 256, 1024),
    *,
    n_per_class: int = 5,
    epochs: int = 3,
    lr: float = 0.1,
    seeds: Sequence[int] = (0,),
    progress: bool = True,
) -> pd.DataFrame:
    """:func:`gap` for MLPs of one hidden layer of each width, at initialisation and after training.

    Each model (seeded) is measured on ``n_per_class`` samples of every class
    (``lab.data.per_class``, seed 0), trained on all of ``ds`` with ``lab.fit`` for ``epochs``
    epochs at ``lr``, and measured again. Memory grows with ``width · n_per_class`` (the
    Jacobians of the eNTK): on digits, width 1024 with 5 samples per class adds about 0.4 GB.

    Returns:
        a tidy DataFrame: ``width, seed, stage`` (``"initialisation"`` / ``"trained"``),
        ``metric`` (one of ``GAP_METRICS``), ``value``.
    """
    probe = _data.per_class(ds, n_per_class, seed=0)
    runs = [(w, s) for w in widths for s in seeds]
    rows = []
    for width, seed in tqdm(runs, desc="widths", unit="model", disable=not progress):
        model = models.for_dataset(ds, "mlp", seed=seed, hidden=(int(width),))
        for stage in ("initialisation", "trained"):
            if stage == "trained":
                fit(model, ds, epochs=epochs, lr=lr, seed=seed, progress=False)
            for metric, value in gap(model, probe.x_train, probe.y_train).items():
                rows.append({"width": int(width), "seed": seed, "stage": stage, "metric": metric, "value": value})
    return pd.DataFrame(rows)


def cosine_bins(kernels: Mapping[str, np.ndarray], labels, *, bins: int = 40) -> pd.DataFrame:
    """Histogram of the cosines of every unordered pair, split into same-class and cross-class pairs.

    Args:
        kernels: ``{name: (N, N) kernel}``, e.g. the raw and the centred lpNTK.
        labels: ``(N,)`` class labels.
        bins: equal bins over [−1, 1].

    Returns:
        a DataFrame, one row per kernel, pair kind and bin: ``kernel, pairs, start, end, count,
        share`` (``count`` over the pairs of that kind).
    """
    labels = np.asarray(labels)
    edges = np.linspace(-1.0, 1.0, bins + 1)
    upper = np.triu(np.ones((len(labels),) * 2, dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    rows = []
    for name, K in kernels.items():
        cos = cosine(K)
        for kind, mask in zip(_PAIRS, (upper & same, upper & ~same)):
            counts, _ = np.histogram(cos[mask], bins=edges)
            total = max(int(counts.sum()), 1)
            rows += [{"kernel": name, "pairs": kind, "start": edges[b], "end": edges[b + 1],
                      "count": int(c), "share": c / total} for b, c in enumerate(counts)]
    return pd.DataFrame(rows)


# --- charts ---------------------------------------------------------------------------------------


def histogram(
    kernels: Mapping[str, np.ndarray], labels, *, bins: int = 40, thresholds: Sequence[float] = (0.0, 0.5)
) -> alt.Chart:
    """Cosine histograms, same-class against cross-class pairs, one panel per kernel.

    Bars show the share of each kind of pair per bin; dashed rules mark the relation thresholds
    (contradictory below the first, interchangeable from the second). Click the legend to
    highlight one kind.
    """
    table = cosine_bins(kernels, labels, bins=bins)
    pick = alt.selection_point(fields=["pairs"], bind="legend")
    bars = alt.Chart().mark_bar(binSpacing=0).encode(
        x=alt.X("start:Q", bin="binned", title="cosine", scale=alt.Scale(domain=[-1, 1])),
        x2="end:Q",
        y=alt.Y("share:Q", stack=None, title="share of pairs"),
        color=alt.Color("pairs:N", scale=alt.Scale(domain=list(_PAIRS)), title="pairs"),
        opacity=alt.condition(pick, alt.value(0.75), alt.value(0.1)),
        tooltip=["kernel", "pairs", alt.Tooltip("start:Q", format=".2f"), "count", alt.Tooltip("share:Q", format=".3f")],
    ).add_params(pick)
    rules = alt.Chart(pd.DataFrame({"threshold": list(thresholds)})).mark_rule(strokeDash=[4, 3]).encode(
        x="threshold:Q"
    )
    return alt.layer(bars, rules, data=table).properties(width=300, height=180).facet(
        column=alt.Column("kernel:N", sort=list(kernels), title=None)
    )


def _heatmap_table(kernels: Mapping[str, np.ndarray], labels) -> pd.DataFrame:
    """Long table of the cosines of every kernel, samples sorted by label: ``kernel, row, col, cosine, ...``."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    n = len(order)
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    frames = []
    for name, K in kernels.items():
        cos = cosine(K)[np.ix_(order, order)]
        frames.append(pd.DataFrame({
            "kernel": name, "row": rows.ravel(), "col": cols.ravel(), "cosine": cos.ravel(),
            "class_row": labels[order][rows.ravel()], "class_col": labels[order][cols.ravel()],
        }))
    return pd.concat(frames, ignore_index=True)


def heatmaps(kernels: Mapping[str, np.ndarray], labels, *, size: int = 200) -> alt.Chart:
    """Cosine matrices of several kernels side by side, samples sorted by class, one colour scale.

    Blue: positive cosine (a step on one helps the other); red: negative. Meant for ``N`` up to
    about 100 (``N²`` cells per panel).
    """
    table = _heatmap_table(kernels, labels)
    return alt.Chart(table).mark_rect().encode(
        x=alt.X("col:O", axis=None),
        y=alt.Y("row:O", axis=None),
        color=alt.Color("cosine:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1]), title="cosine"),
        tooltip=["kernel", "class_row", "class_col", alt.Tooltip("cosine:Q", format=".3f")],
    ).properties(width=size, height=size).facet(
        column=alt.Column("kernel:N", sort=list(kernels), title=None)
    )


def gap_chart(table: pd.DataFrame) -> alt.Chart:
    """The table of :func:`width_sweep`: each metric against the width (log scale), one panel per stage.

    Lines join the means over seeds; points are the single seeds.
    """
    base = alt.Chart(table).encode(
        x=alt.X("width:Q", scale=alt.Scale(type="log", base=2), title="hidden width"),
        color=alt.Color("metric:N", scale=alt.Scale(domain=list(GAP_METRICS)), title=None),
    )
    lines = base.mark_line().encode(y=alt.Y("mean(value):Q", title="value"))
    points = base.mark_point(filled=True, size=30).encode(
        y="value:Q", tooltip=["width", "seed", "stage", "metric", alt.Tooltip("value:Q", format=".3f")]
    )
    return alt.layer(lines, points).properties(width=280, height=220).facet(
        column=alt.Column("stage:N", sort=["initialisation", "trained"], title=None)
    )
