"""The whole analysis as one self-contained HTML file: ``python -m lpntk_lab report``.

:func:`build` runs the pipeline — recorded training, within-class lpNTK, relations, learning
difficulty, forgetting, farthest point clustering and a small pruning comparison — and returns the
page; :func:`write` stores it atomically. Charts are altair specs embedded with the Vega, Vega-Lite
and vega-embed JavaScript bundled by ``vl-convert`` (no CDN), images are PNG data URLs, so the file
opens offline.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import data, models, viz
from .clustering import fpc, size_profiles
from .comparison import _check_grid, compare
from .forgetting import forgetting_summary
from .kernels import lpntk
from .learning_difficulty import difficulty
from .relations import KINDS, counts, example_pairs
from .train import fit

__all__ = ["Settings", "build", "check_target", "page", "write"]

STAGES = ("train", "lpNTK", "relations", "difficulty", "forgetting", "FPC", "pruning comparison")


@dataclass(frozen=True)
class Settings:
    """What the report runs.

    Attributes:
        dataset: one of ``lpntk_lab.data.KNOWN_DATASETS``.
        model: ``"mlp"``, ``"lenet"`` or ``"resnet"``.
        epochs: epochs of the recorded run and of every model of the pruning comparison.
        fractions: shares of the training set the comparison removes, each in [0, 1).
        seeds: one repetition of the comparison per seed; the first also seeds the recorded run.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        lr: learning rate of the recorded run.
        per_class: samples per class in the dense kernel of the relations section.
        fpc_ratio: FPC centres per class, as a share of the class.
        methods: pruning methods compared (the unpruned baseline is added).
    """

    dataset: str = "digits"
    model: str = "mlp"
    epochs: int = 10
    fractions: tuple[float, ...] = (0.2, 0.4)
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "auto"
    lr: float = 0.1
    per_class: int = 30
    fpc_ratio: float = 0.1
    methods: tuple[str, ...] = ("random", "el2n", "lpntk-fpc-largest")

    def __post_init__(self):
        """Check every setting before any work, so a mistake costs no training time."""
        if self.dataset not in data.KNOWN_DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; known data sets: {', '.join(data.KNOWN_DATASETS)}")
        if self.model not in models.KINDS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(models.KINDS)}")
        for name in ("epochs", "per_class"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        _check_grid(self.methods, self.fractions, self.seeds)
        _check_device(self.device)


def _check_device(device: str) -> None:
    if device == "auto":
        return
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(f'unknown device {device!r}; use "auto", "cpu" or "cuda"') from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f'device {device!r} asked for, but CUDA is not available here; use "auto" or "cpu"')
    if kind not in ("cpu", "cuda"):
        raise ValueError(f'unsupported device {device!r}; use "auto", "cpu" or "cuda"')


# --- pipeline -------------------------------------------------------------------------------------


def build(settings: Settings, *, progress: bool = True) -> str:
    """Run every stage of the analysis and return the report as one HTML document."""
    seed = settings.seeds[0]
    ds = data.load(settings.dataset, seed=seed)
    bar = tqdm(total=len(STAGES), desc="report", unit="stage", disable=not progress)
    sections: list[tuple[str, list]] = []

    def done(title: str, parts: list) -> None:
        sections.append((title, parts))
        bar.update()
        bar.set_postfix_str(STAGES[min(bar.n, len(STAGES) - 1)])

    with bar:
        bar.set_postfix_str(STAGES[0])
        model = models.for_dataset(ds, kind=settings.model, seed=seed)
        record = fit(model, ds, epochs=settings.epochs, lr=settings.lr, seed=seed, device=settings.device,
                     progress=progress)
        done("Training", [_table(pd.DataFrame({
            "epoch": np.arange(1, settings.epochs + 1), "train accuracy": record.train_accuracy,
            "test accuracy": record.test_accuracy})), viz.difficulty.accuracy(record)])
        within = lpntk(model, ds.x_train, ds.y_train, within_class=True, device=settings.device, progress=progress)
        done("lpNTK within each class", [_kernel_table(within, ds.class_names)])
        done("Relations between samples", _relations(model, ds, settings, progress))
        scores = difficulty(record)
        done("Learning difficulty", [
            _para("Summed L2 error ‖p − e_y‖ over the presentations; low = easy."),
            viz.difficulty.gallery(ds.x_train, ds.y_train, scores, class_names=ds.class_names)])
        done("Forgetting", _forgetting(record))
        clusters = fpc(within, ratio=settings.fpc_ratio, seed=seed, progress=progress)
        profiles = size_profiles(clusters)
        done("Farthest point clustering", [_sizes_table(profiles, ds.class_names),
                                           viz.pruning.sizes_chart(profiles, ds.class_names)])
        result = compare(ds, settings.methods, settings.fractions, seeds=settings.seeds, epochs=settings.epochs,
                         model=settings.model, device=settings.device, progress=progress)
        done("Pruning comparison", [_table(result.summary), viz.pruning.accuracy_chart(result),
                                    _para("Each method against random pruning, paired by seed (95 % interval):"),
                                    _table(result.versus())])
    return page(f"lpNTK report: {settings.dataset}", settings, sections)


def _relations(model, ds: data.Dataset, settings: Settings, progress: bool) -> list:
    """Counts of each relation, cosine histograms and example pairs on a per-class sample."""
    sample = data.per_class(ds, min(settings.per_class, int(np.bincount(ds.y_train.numpy()).min())),
                            seed=settings.seeds[0])
    x, y = sample.x_train, sample.y_train
    raw = lpntk(model, x, y, device=settings.device, progress=progress)
    centred = lpntk(model, x, y, centred=True, device=settings.device, progress=progress)
    relation = counts(centred, y.numpy())
    totals = pd.DataFrame({"pairs": ["same class", "different classes"],
                           **{kind: [int(relation.within[k]), int(relation.cross[k])] for k, kind in enumerate(KINDS)}})
    urls = viz.image_urls(x)
    rows = [{"relation": kind, "first": _image(urls[p.i]), "second": _image(urls[p.j]),
             "classes": f"{ds.class_names[int(y[p.i])]} / {ds.class_names[int(y[p.j])]}", "cosine": p.cosine}
            for kind in KINDS for p in example_pairs(centred, y.numpy(), kind=kind, n=3)]
    return [
        _para(f"Dense lpNTK of {len(y)} samples ({sample.n_train // ds.num_classes} per class); "
              "relations from the cosine of the centred kernel (contradictory below 0, interchangeable from 0.5)."),
        _table(totals), viz.relations.histogram({"raw": raw, "centred": centred}, y.numpy()),
        _table(pd.DataFrame(rows), escape=False),
    ]


def _forgetting(record) -> list[str]:
    """The summary sentence and the histogram of events per learned sample."""
    summary = forgetting_summary(record)
    histogram = pd.DataFrame({"forgetting events": np.arange(len(summary.histogram)),
                              "learned samples": summary.histogram})
    return [_para(str(summary)), _table(histogram)]


def _kernel_table(within, class_names) -> str:
    """Block size and diagonal statistics of a within-class kernel, one row per class."""
    return _table(pd.DataFrame([
        {"class": class_names[c], "samples": len(idx), "mean κ_ii": float(np.diag(within[c]).mean()),
         "mean off-diagonal cosine": _mean_cosine(within[c])}
        for c, idx in within.indices.items()]))


def _mean_cosine(block: np.ndarray) -> float:
    norms = np.sqrt(np.clip(np.diag(block), 1e-300, None))
    cos = block / norms[:, None] / norms[None, :]
    n = len(block)
    return float((cos.sum() - np.trace(cos)) / max(n * (n - 1), 1))


def _sizes_table(profiles, class_names) -> str:
    return _table(pd.DataFrame([
        {"class": class_names[c], "points": p.n_points, "clusters": p.n_clusters, "largest share": p.largest_share,
         "singleton share": p.singleton_share, "gini": p.gini} for c, p in profiles.items()]))


# --- HTML -----------------------------------------------------------------------------------------


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f3f3f3; }
img.sample { image-rendering: pixelated; width: 40px; height: 40px; }
.chart { margin: 0.8em 0; }
"""


def page(title: str, settings: Settings, sections: list[tuple[str, list[str | alt.TopLevelMixin]]]) -> str:
    """A full HTML document: the settings table, then each ``(heading, parts)`` section.

    A part is HTML text or an altair chart; each chart gets its own ``<div>`` and vega-embed call,
    run by the Vega, Vega-Lite and vega-embed bundle inlined in the head.
    """
    from altair.utils._importers import import_vl_convert, vl_version_for_vl_convert

    bundle = import_vl_convert().javascript_bundle(vl_version=vl_version_for_vl_convert())
    settings_rows = pd.DataFrame({"setting": list(asdict(settings)),
                                  "value": [_setting(v) for v in asdict(settings).values()]})
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Settings</h2>", _table(settings_rows)]
    charts = 0
    for heading, parts in sections:
        body.append(f"<h2>{html.escape(heading)}</h2>")
        for part in parts:
            if isinstance(part, str):
                body.append(part)
            else:
                charts += 1
                body.append(_embed(part, f"chart-{charts}"))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="UTF-8">',
        f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>",
        f'<script type="text/javascript">\n{bundle}\n</script>', "</head>", "<body>", *body, "</body>", "</html>",
    ])


def _embed(chart: alt.TopLevelMixin, element_id: str) -> str:
    """A ``<div>`` and the script that renders ``chart`` into it (``</`` escaped inside the script)."""
    spec = json.dumps(chart.to_dict(), separators=(",", ":")).replace("</", "<\\/")
    return (f'<div class="chart" id="{element_id}"></div>\n<script type="text/javascript">'
            f'vegaEmbed("#{element_id}", {spec}, {{"actions": false}}).catch(console.error);</script>')


def _table(frame: pd.DataFrame, *, escape: bool = True) -> str:
    return frame.to_html(index=False, escape=escape, float_format=lambda v: f"{v:.4g}", border=0)


def _para(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _image(url: str) -> str:
    return f'<img class="sample" src="{url}" alt="sample">'


def _setting(value) -> str:
    """A setting as table text: tuples joined by commas, floats in their shortest form."""
    if isinstance(value, tuple):
        return ", ".join(_setting(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


# --- output ---------------------------------------------------------------------------------------


def check_target(path: str | os.PathLike) -> Path:
    """The report's path, after checking that its folder exists and is writable (before any work)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"cannot write the report to {str(path)!r}: it is a folder")
    if not folder.is_dir():
        raise ValueError(f"cannot write the report to {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write the report to {str(path)!r}: folder {str(folder)!r} is not writable")
    return path


def write(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` all at once: a temporary file in the same folder, then a rename."""
    path = check_target(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
