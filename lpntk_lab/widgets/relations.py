"""The pair browser: pairs of images that a kernel calls interchangeable, unrelated or contradictory.

:func:`pair_gallery` renders one choice of pairs as HTML (a plain, tested function);
:func:`pair_browser` wraps it in controls. Lesson: ``notebooks/02_relations``.

    >>> app = lab.widgets.relations.pair_browser({"lpNTK": K, "lpNTK, centred": Kc}, y, x,
    ...                                          class_names=ds.class_names)
    >>> app.controls["kind"].value = "contradictory"      # what a click does
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np

from ..relations import KINDS, example_pairs
from ..viz.base import image_urls
from ..viz.embedding import names_of_classes

__all__ = ["SCOPES", "pair_browser", "pair_gallery"]

SCOPES = {"all pairs": None, "same class": True, "different classes": False}
"""Scope names of the browser and the ``same_class`` argument of ``example_pairs`` they stand for."""


def _message(text: str) -> str:
    return f"<p style='color:#a33'>{html.escape(text)}</p>"


def _sample_cell(url: str, index: int, name: str) -> str:
    return (f"<div style='text-align:center;margin:0 6px'><img src='{url}' style='image-rendering:pixelated'>"
            f"<div>#{index} · class {html.escape(name)}</div></div>")


def pair_gallery(
    K,
    labels,
    urls: Sequence[str],
    *,
    kind: str,
    scope: str = "all pairs",
    pick: str = "strongest",
    n: int = 6,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
) -> str:
    """HTML of up to ``n`` pairs of relation ``kind``, each as two images with their classes and cosine.

    When no pair qualifies, or an argument is wrong, the HTML is a message saying so.

    Args:
        K: ``(N, N)`` kernel (e.g. ``lab.lpntk``), as for ``lab.relations.cosine``.
        labels: ``(N,)`` class labels.
        urls: ``N`` image URLs (``lab.viz.image_urls(x)``).
        kind: one of ``lab.relations.KINDS``.
        scope: one of ``SCOPES``.
        pick, seed: as for ``lab.relations.example_pairs``: the strongest pairs, or random ones.
        n: pairs to show.
        class_names: names of the classes; default: the label numbers.
    """
    labels = np.asarray(labels)
    if len(urls) != len(labels):
        return _message(f"{len(urls)} images for {len(labels)} labels: pass one image per sample")
    if scope not in SCOPES:
        return _message(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    try:
        pairs = example_pairs(K, labels, kind=kind, n=n, same_class=SCOPES[scope], pick=pick, seed=seed)
    except (TypeError, ValueError) as err:
        return _message(str(err))
    if not pairs:
        hint = (" With more than two classes the raw lpNTK is positive across classes "
                "(s(y)·s(y') = C − 4 > 0): try the centred kernel." if kind == "contradictory" else "")
        return _message(f"No {kind} pairs among {scope} under this kernel.{hint}")
    names = names_of_classes(labels, class_names)
    rows = [
        "<div style='display:flex;align-items:center;margin:4px 0'>"
        + _sample_cell(urls[p.i], p.i, names[labels[p.i]]) + _sample_cell(urls[p.j], p.j, names[labels[p.j]])
        + f"<div style='margin-left:12px'>cosine <b>{p.cosine:+.3f}</b></div></div>"
        for p in pairs
    ]
    return f"<div><p>{len(pairs)} {kind} pair(s), {pick} first:</p>{''.join(rows)}</div>"


def pair_browser(
    kernels: Mapping[str, np.ndarray],
    labels,
    images,
    *,
    class_names: Sequence[str] | None = None,
) -> widgets.VBox:
    """An app to browse pairs by kernel, relation, scope (same/different class) and pick.

    Args:
        kernels: ``{name: (N, N) kernel}``, e.g. the raw and the centred lpNTK of the same samples.
        labels: ``(N,)`` class labels.
        images: ``(N, C, H, W)`` tensor of the samples.
        class_names: names of the classes.

    Returns:
        a ``VBox``; ``.controls`` maps ``kernel, kind, scope, pick, n, seed`` to their widgets and
        ``.gallery`` is the HTML widget the pairs are shown in.
    """
    urls = image_urls(images)
    controls = {
        "kernel": widgets.Dropdown(options=list(kernels), description="kernel"),
        "kind": widgets.ToggleButtons(options=list(KINDS), value="interchangeable", description="relation"),
        "scope": widgets.Dropdown(options=list(SCOPES), description="pairs"),
        "pick": widgets.Dropdown(options=["strongest", "random"], description="pick"),
        "n": widgets.IntSlider(value=6, min=1, max=20, description="pairs shown", continuous_update=False),
        "seed": widgets.BoundedIntText(value=0, min=0, max=10_000, description="seed"),
    }
    gallery = widgets.HTML()

    def update(_=None):
        values = {name: control.value for name, control in controls.items()}
        gallery.value = pair_gallery(
            kernels[values.pop("kernel")], labels, urls, class_names=class_names, **values
        )

    for control in controls.values():
        control.observe(update, names="value")
    update()
    app = widgets.VBox([
        widgets.HBox([controls["kernel"], controls["scope"], controls["pick"]]),
        controls["kind"],
        widgets.HBox([controls["n"], controls["seed"]]),
        gallery,
    ])
    app.controls, app.gallery = controls, gallery
    return app
