"""Interactive apps for the lessons (ipywidgets). Callbacks are plain functions, tested on their own.

Each app returns an ``ipywidgets`` container; Python recomputes on ``continuous_update=False``
controls, and bad states (nothing to train on, a run already going) show a message, never a
traceback. One module per lesson topic, reached as ``lab.widgets.<topic>`` (imported on first use).
"""

from ..lazy import submodules

__getattr__ = submodules(__name__, "app module")
