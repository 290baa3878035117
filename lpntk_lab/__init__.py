"""lpntk_lab: how training on one sample changes the predictions on others.

The labelled pseudo neural tangent kernel (lpNTK, Guo et al., ICLR 2024) measures, for every pair of
training samples, whether learning one helps, ignores or hurts the other. This package computes it
exactly and fast, trains models while recording what every sample went through, and uses both to
explain learning difficulty, forgetting and data pruning. It backs the notebooks in ``notebooks/``.

    >>> import lpntk_lab as lab
    >>> ds = lab.load("digits")
    >>> model = lab.models.for_dataset(ds, kind="mlp")
    >>> record = lab.fit(model, ds, epochs=3, lr=0.1, seed=0)
    >>> K = lab.lpntk(model, ds.x_train[:500], ds.y_train[:500])
"""

from . import clustering, course, data, kernels, models, pruning, relations
from .clustering import Clustering, fpc, size_profiles
from .comparison import Comparison, compare
from .data import Dataset, load
from .learning_difficulty import controlled_difficulty, difficulty, difficulty_curve, size_experiment, spearman
from .dynamics import one_step, one_step_sweep
from .forgetting import forgetting_events, forgetting_scores, forgetting_summary, predict_forgetting
from .kernels import entk, lpntk, pntk
from .pruning import Pruning, Recipe, Scoring, prune
from .train import TrainingRecord, fit

__version__ = "0.1.0"


def __getattr__(name: str):
    """``lab.viz`` and ``lab.widgets`` load altair and ipywidgets only when a lesson asks for them."""
    if name in ("viz", "widgets"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'lpntk_lab' has no attribute {name!r}")


__all__ = [
    "Clustering",
    "Comparison",
    "Dataset",
    "Pruning",
    "Recipe",
    "Scoring",
    "TrainingRecord",
    "clustering",
    "compare",
    "course",
    "controlled_difficulty",
    "data",
    "difficulty",
    "difficulty_curve",
    "entk",
    "fit",
    "forgetting_events",
    "forgetting_scores",
    "forgetting_summary",
    "fpc",
    "kernels",
    "load",
    "lpntk",
    "models",
    "one_step",
    "one_step_sweep",
    "pntk",
    "predict_forgetting",
    "prune",
    "pruning",
    "relations",
    "size_experiment",
    "size_profiles",
    "spearman",
]
