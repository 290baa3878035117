"""Charts for the lessons (altair, rendered offline) and the UMAP map of a kernel.

Only this package and :mod:`lpntk_lab.widgets` know about altair and ipywidgets. Every chart
function returns an ``alt.Chart``; call :func:`enable_offline` once (``lab.course.setup`` does).
One module per lesson topic, reached as ``lab.viz.<topic>`` (imported on first use).
"""

from ..lazy import submodules
from .base import enable_offline, image_urls

__all__ = ["enable_offline", "image_urls"]

__getattr__ = submodules(__name__, "chart module")
