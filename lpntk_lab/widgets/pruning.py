"""Apps for the clusters-and-pruning lesson: browse a class's clusters; prune, retrain and compare.

The pruning app calls ``lab.compare`` one seed and fraction at a time (a progress bar moves after
each), then once more over the whole grid, which its session cache answers at once. A request that
cannot run — no method, zero seeds, a fraction that prunes everything or empties a class, a class
with no training samples, a retrain already running — gets a message in the app, not a traceback.
Lesson: ``notebooks/05_clusters_and_pruning``.

    >>> app = lab.widgets.pruning.pruning_app(ds)
    >>> app                        # choose methods, fractions, seeds; press Retrain
    >>> app.result.versus("random")
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import ipywidgets as widgets
import numpy as np
from IPython.display import clear_output, display

from ..clustering import Clustering
from ..comparison import Comparison, compare
from ..data import Dataset
from ..pruning import METHODS, kept_counts
from ..viz import pruning as charts

__all__ = [
    "ClusterBrowser",
    "PruningApp",
    "Request",
    "check_request",
    "cluster_browser",
    "parse_fractions",
    "pruning_app",
    "retrain",
    "show_class",
]

DEFAULT_METHODS = ("random", "el2n", "lpntk-fpc-heads")
MAX_SEEDS = 10


# --- browsing clusters ------------------------------------------------------------------------------


class ClusterBrowser(widgets.VBox):
    """A class picker above :func:`~lpntk_lab.viz.pruning.cluster_gallery`.

    Attributes:
        pick: the class dropdown.
        output: where the gallery is shown.
        chart: the gallery on show (an altair chart).
    """

    def __init__(self, ds: Dataset, clusters: Clustering, *, n: int = 16):
        self.ds, self.clusters, self.n = ds, clusters, n
        classes = sorted(set(clusters.centre_labels.tolist()))
        self.pick = widgets.Dropdown(options=[(str(ds.class_names[c]), c) for c in classes],
                                     value=classes[0], description="class")
        self.output = widgets.Output()
        self.chart: alt.TopLevelMixin | None = None
        self.pick.observe(lambda change: show_class(self, change["new"]), names="value")
        super().__init__([self.pick, self.output])
        show_class(self, classes[0])


def show_class(browser: ClusterBrowser, label: int) -> None:
    """Show the largest and the smallest clusters of class ``label`` (the dropdown's callback)."""
    browser.chart = charts.cluster_gallery(browser.ds, browser.clusters, label, n=browser.n,
                                           class_names=browser.ds.class_names)
    with browser.output:
        clear_output(wait=True)
        display(browser.chart)


def cluster_browser(ds: Dataset, clusters: Clustering, *, n: int = 16) -> ClusterBrowser:
    """Pick a class and see ``n`` members of its largest cluster and the centres of its smallest ones.

    Args:
        ds: the data set whose training set was clustered.
        clusters: ``lab.fpc`` of the training set (one clustering per class).
        n: images per row.
    """
    return ClusterBrowser(ds, clusters, n=n)


# --- prune, retrain, compare ------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A retraining request read from the app: what :func:`lpntk_lab.compare` is called with."""

    methods: tuple[str, ...]
    fractions: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int


def parse_fractions(text: str) -> list[float]:
    """``"0.1, 0.3 0.5"`` → ``[0.1, 0.3, 0.5]`` (commas or spaces; percentages like ``30%`` too).

    Raises:
        ValueError: with a message for the app when a part is not a number or nothing is given.
    """
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("Give at least one fraction to remove, e.g. 0.1, 0.3, 0.5.")
    values = []
    for part in parts:
        try:
            values.append(float(part[:-1]) / 100 if part.endswith("%") else float(part))
        except ValueError:
            raise ValueError(f"Could not read {part!r} as a fraction: write numbers like 0.3 or 30%.") from None
    return list(dict.fromkeys(values))


def check_request(ds: Dataset, request: Request) -> list[str]:
    """Everything that stops ``request`` from running on ``ds``, as messages (empty: it can run)."""
    issues = []
    if not request.methods:
        issues.append("Choose at least one pruning method.")
    if not request.seeds:
        issues.append("Choose at least one seed: every accuracy is a mean over seeds.")
    labels = ds.y_train.cpu().numpy()
    missing = [ds.class_names[c] for c in range(ds.num_classes) if not np.any(labels == c)]
    if missing:
        issues.append(f"Class(es) {', '.join(map(str, missing))} have no training samples: a model trained here "
                      "can never predict them. Use a training set with every class.")
    for fraction in request.fractions:
        issues.extend(_fraction_issues(fraction, labels, ds.class_names))
    return issues


def _fraction_issues(fraction: float, labels: np.ndarray, class_names: Sequence[str]) -> list[str]:
    """Why removing ``fraction`` of the training set cannot be trained on (empty: it can)."""
    if fraction >= 1:
        return [f"Removing {fraction:.0%} of the training set prunes everything: nothing is left to train on. "
                "Fractions must lie in [0, 1), e.g. 0.9."]
    try:
        counts = kept_counts(labels, fraction=fraction, balance=True)
    except ValueError as err:
        return [f"{err}."]
    empty = [str(class_names[c]) for c, k in counts.items() if k == 0]
    if empty:
        return [f"Removing {fraction:.1%} leaves class(es) {', '.join(empty)} with no training sample "
                f"(only {sum(counts.values())} samples are kept). Choose a smaller fraction."]
    return []


class PruningApp(widgets.VBox):
    """Choose pruning methods, fractions, seeds and epochs; Retrain; see accuracy against the baselines.

    Attributes:
        methods, fractions, seeds, epochs: the controls (``fractions`` is text, e.g. ``"0.1, 0.3"``;
            ``seeds`` is how many seeds, 0, 1, 2, ...).
        button: starts :func:`retrain`; disabled while a retrain runs.
        progress, status: a bar over the seed × fraction runs and a line of text.
        output: the chart and the paired comparison.
        chart: the last accuracy chart; ``result``: the last :class:`~lpntk_lab.comparison.Comparison`.
        running: True while a retrain runs.
    """

    def __init__(self, ds: Dataset, *, methods: Sequence[str] = DEFAULT_METHODS,
                 fractions: Sequence[float] = (0.1, 0.3, 0.5), seeds: int = 3, epochs: int = 10):
        self.ds = ds
        self.methods = widgets.SelectMultiple(options=list(METHODS), value=list(methods), rows=len(METHODS),
                                              description="methods")
        self.fractions = widgets.Text(value=", ".join(f"{f:g}" for f in fractions), description="remove",
                                      placeholder="0.1, 0.3, 0.5", continuous_update=False)
        self.seeds = widgets.BoundedIntText(value=seeds, min=0, max=MAX_SEEDS, description="seeds")
        self.epochs = widgets.IntSlider(value=epochs, min=1, max=40, description="epochs", continuous_update=False)
        self.button = widgets.Button(description="Retrain", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = widgets.HTML("Choose, then press <b>Retrain</b>.")
        self.output = widgets.Output()
        self.chart: alt.TopLevelMixin | None = None
        self.result: Comparison | None = None
        self.running = False
        self.button.on_click(lambda _: retrain(self))
        controls = widgets.VBox([self.fractions, self.seeds, self.epochs, self.button])
        super().__init__([widgets.HBox([self.methods, controls]), widgets.HBox([self.progress, self.status]),
                          self.output])

    def request(self) -> Request:
        """The controls as a :class:`Request` (raises ``ValueError`` on unreadable fractions)."""
        return Request(methods=tuple(self.methods.value), fractions=tuple(parse_fractions(self.fractions.value)),
                       seeds=tuple(range(self.seeds.value)), epochs=int(self.epochs.value))


def _say(app: PruningApp, messages: Sequence[str], *, error: bool = False) -> None:
    colour = "#b30000" if error else "inherit"
    items = "".join(f"<li>{html.escape(m)}</li>" for m in messages)
    app.status.value = f"<div style='color:{colour}'><ul style='margin:0'>{items}</ul></div>"


def retrain(app: PruningApp) -> Comparison | None:
    """The Retrain button: check the request, prune and retrain with a moving progress bar, show the
    chart. Returns the comparison, or None when the request could not run (the app says why)."""
    if app.running:
        _say(app, ["A retrain is already running: wait for it to finish."], error=True)
        return None
    try:
        request = app.request()
    except ValueError as err:
        _say(app, [str(err)], error=True)
        return None
    issues = check_request(app.ds, request)
    if issues:
        _say(app, issues, error=True)
        return None
    app.running, app.button.disabled = True, True
    start = time.perf_counter()
    try:
        result = _run(app, request)
    except Exception as err:  # noqa: BLE001 - a failed run is reported in the app, never as a traceback
        _say(app, [f"Retraining failed: {type(err).__name__}: {err}"], error=True)
        return None
    finally:
        app.running, app.button.disabled = False, False
    _show(app, request, result, time.perf_counter() - start)
    return result


def _run(app: PruningApp, request: Request) -> Comparison:
    """``lab.compare`` one seed and fraction at a time (moving the bar), then over the whole grid (cached)."""
    options = dict(epochs=request.epochs, progress=False)
    app.progress.max, app.progress.value = len(request.seeds) * len(request.fractions), 0
    for seed in request.seeds:
        for fraction in request.fractions:
            _say(app, [f"seed {seed + 1} of {len(request.seeds)}: removing {fraction:.0%} with "
                       f"{len(request.methods)} method(s), retraining…"])
            compare(app.ds, request.methods, [fraction], seeds=[seed], **options)
            app.progress.value += 1
    return compare(app.ds, request.methods, request.fractions, seeds=request.seeds, **options)


def _show(app: PruningApp, request: Request, result: Comparison, seconds: float) -> None:
    """The chart and the paired differences (to random when it is compared with something, else to unpruned)."""
    app.result, app.chart = result, charts.accuracy_chart(result)
    reference = "random" if "random" in request.methods and len(request.methods) > 1 else "unpruned"
    _say(app, [f"Done in {seconds:.1f} s: {len(result.table)} models ({request.epochs} epochs each; "
               "runs already in this session's cache were reused)."])
    with app.output:
        clear_output(wait=True)
        display(app.chart)
        display(widgets.HTML(f"<b>Paired difference in test accuracy to {reference}</b> "
                             "(same seed; 95 % interval over seeds, none with one seed)"))
        display(result.versus(reference).round(4))


def pruning_app(ds: Dataset, *, methods: Sequence[str] = DEFAULT_METHODS,
                fractions: Sequence[float] = (0.1, 0.3, 0.5), seeds: int = 3, epochs: int = 10) -> PruningApp:
    """Prune ``ds`` by the chosen methods, retrain on what is kept, and compare test accuracy.

    Args:
        ds: the data set (its test set measures every model).
        methods, fractions, seeds, epochs: the controls' starting values (``seeds``: how many).
    """
    return PruningApp(ds, methods=methods, fractions=fractions, seeds=seeds, epochs=epochs)
