"""Charts for the lessons (altair, rendered offline) and the UMAP map of a kernel.

Only this package and :mod:`lpntk_lab.widgets` know about altair and ipywidgets. Every chart
function returns an ``alt.Chart``; call :func:`enable_offline` once (``lab.course.setup`` does).
One module per lesson topic, reached as ``lab.viz.<topic>`` (imported on first use).
"""

import importlib

from .base import enable_offline, image_urls

__all__ = ["enable_offline", "image_urls"]


def __getattr__(name: str):
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise  # the module exists but something it imports is missing
        raise AttributeError(f"lpntk_lab.viz has no chart module {name!r}") from err
