"""The controlled-difficulty app: pick a target sample and its companions' relation, retrain, compare curves.

:func:`run_controlled` does one run and says what came out (a plain, tested function);
:func:`controlled_app` wraps it in controls. Lesson: ``notebooks/03_learning_difficulty``.

    >>> app = lab.widgets.difficulty.controlled_app(ds, epochs=30)
    >>> app.controls["run"].click()             # what a click does
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
from IPython.display import display

from ..data import Dataset
from ..learning_difficulty import ControlledDifficulty, controlled_difficulty
from ..viz.difficulty import controlled_curves

__all__ = ["controlled_app", "run_controlled", "summary", "target_index"]


def target_index(ds: Dataset, class_name: str, position: int) -> int:
    """Training-sample index of the ``position``-th sample (0-based) of class ``class_name``."""
    if class_name not in ds.class_names:
        raise ValueError(f"unknown class {class_name!r}; choose one of {', '.join(ds.class_names)}")
    members = np.flatnonzero(ds.y_train.cpu().numpy() == ds.class_names.index(class_name))
    if len(members) == 0:
        raise ValueError(f"class {class_name!r} has no training samples: choose another class")
    if not 0 <= position < len(members):
        raise ValueError(f"class {class_name!r} has {len(members)} training samples; "
                         f"choose a position from 0 to {len(members) - 1}")
    return int(members[position])


def summary(result: ControlledDifficulty) -> str:
    """One line per condition: final difficulty (mean ± std) and the companions' mean lpNTK cosine."""
    final = result.final.set_index("condition")
    lines = [
        f"{name}: difficulty {final.difficulty_mean[name]:.2f} ± {final.difficulty_std[name]:.2f}, "
        f"companions' mean cosine {result.cosine[name].mean():.2f}"
        for name in final.index
    ]
    return f"target #{result.target} (class {result.label}) after {final.epoch.iloc[0] + 1} epochs — " + "; ".join(lines)


def run_controlled(ds: Dataset, target: int, **options) -> tuple[ControlledDifficulty | None, str]:
    """``lab.controlled_difficulty(ds, target, **options)`` and its :func:`summary`.

    A bad choice (``k`` too large for the class, a wrong index, ...) gives ``(None, message)``
    instead of raising.
    """
    try:
        result = controlled_difficulty(ds, target, **options)
    except (TypeError, ValueError) as err:
        return None, f"Cannot run: {err}"
    return result, summary(result)


def controlled_app(ds: Dataset, *, k: int = 10, repeats: int = 5, epochs: int = 30) -> widgets.VBox:
    """An app: choose a target (class and position), ``k``, repeats and epochs, then run and see the curves.

    Returns:
        a ``VBox``; ``.controls`` maps ``class_name, position, k, repeats, epochs, run`` to their
        widgets, ``.message`` is the HTML status line and ``.state`` holds ``busy``, the last
        ``result`` and ``chart``.
    """
    controls = {
        "class_name": widgets.Dropdown(options=list(ds.class_names), description="class"),
        "position": widgets.BoundedIntText(value=0, min=0, max=10**6, description="sample no."),
        "k": widgets.IntSlider(value=k, min=1, max=40, description="companions k", continuous_update=False),
        "repeats": widgets.IntSlider(value=repeats, min=2, max=10, description="repeats", continuous_update=False),
        "epochs": widgets.IntSlider(value=epochs, min=1, max=100, description="epochs", continuous_update=False),
        "run": widgets.Button(description="train", button_style="primary", icon="play"),
    }
    message = widgets.HTML("Choose a target and press <b>train</b>.")
    output = widgets.Output()
    state = {"busy": False, "result": None, "chart": None}

    def run(_=None):
        if state["busy"]:
            message.value = "A run is already going: wait for it to finish."
            return
        state["busy"] = True
        message.value = "Training…"
        try:
            target = target_index(ds, controls["class_name"].value, controls["position"].value)
            output.clear_output()
            with output:
                result, text = run_controlled(ds, target, k=controls["k"].value, repeats=controls["repeats"].value,
                                              epochs=controls["epochs"].value)
                state["result"] = result
                state["chart"] = None if result is None else controlled_curves(result)
                if state["chart"] is not None:
                    display(state["chart"])
            message.value = html.escape(text)
        except ValueError as err:
            message.value = html.escape(str(err))
        finally:
            state["busy"] = False

    controls["run"].on_click(run)
    app = widgets.VBox([
        widgets.HBox([controls["class_name"], controls["position"]]),
        widgets.HBox([controls["k"], controls["repeats"], controls["epochs"]]),
        controls["run"], message, output,
    ])
    app.controls, app.message, app.state = controls, message, state
    return app
