"""Interactive apps for the lessons (ipywidgets). Callbacks are plain functions, tested on their own.

Each app returns an ``ipywidgets`` container; Python recomputes on ``continuous_update=False``
controls, and bad states (nothing to train on, a run already going) show a message, never a
traceback. One module per lesson topic, reached as ``lab.widgets.<topic>`` (imported on first use).
"""

import importlib


def __getattr__(name: str):
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise  # the module exists but something it imports is missing
        raise AttributeError(f"lpntk_lab.widgets has no app module {name!r}") from err
