"""Charts for the lessons (altair, rendered offline) and the UMAP map of a kernel.

Only this package and :mod:`lpntk_lab.widgets` know about altair and ipywidgets. Every chart
function returns an ``alt.Chart``; call :func:`enable_offline` once (``lab.course.setup`` does).
"""

from .base import enable_offline, image_urls

__all__ = ["enable_offline", "image_urls"]
