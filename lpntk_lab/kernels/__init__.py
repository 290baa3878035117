"""lpNTK, pNTK and eNTK: one engine, several exact methods and a random projection.

``lab.lpntk(model, x, y)`` is the entry point; see :mod:`.engine` for the methods.
"""

from .capture import UnsupportedModel
from .engine import METHODS, WithinClassKernel, entk, features, lpntk, pntk

__all__ = ["METHODS", "UnsupportedModel", "WithinClassKernel", "entk", "features", "lpntk", "pntk"]
