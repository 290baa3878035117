"""lpntk_lab: how training on one sample changes the predictions on others.

The labelled pseudo neural tangent kernel (lpNTK, Guo et al., ICLR 2024) measures, for every pair of
training samples, whether learning one helps, ignores or hurts the other. This package computes it
exactly and fast, trains models while recording what every sample went through, and backs the
notebooks in ``notebooks/``.

    >>> import lpntk_lab as lab
    >>> ds = lab.load("digits")
    >>> model = lab.models.for_dataset(ds, kind="mlp")
    >>> record = lab.fit(model, ds, epochs=3, lr=0.1, seed=0)
    >>> K = lab.lpntk(model, ds.x_train[:500], ds.y_train[:500])
"""

from . import data, kernels, models
from .data import Dataset, load
from .kernels import entk, lpntk, pntk
from .train import TrainingRecord, fit

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "TrainingRecord",
    "data",
    "entk",
    "fit",
    "kernels",
    "load",
    "lpntk",
    "models",
    "pntk",
]
