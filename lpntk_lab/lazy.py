"""Submodules loaded on first attribute access, so that importing a package stays light."""

import importlib


def submodules(package: str, kind: str):
    """A module ``__getattr__`` for ``package`` that imports ``package.<name>`` on first use."""

    def __getattr__(name: str):
        try:
            return importlib.import_module(f".{name}", package)
        except ModuleNotFoundError as err:
            if err.name != f"{package}.{name}":
                raise  # the module exists but something it imports is missing
            raise AttributeError(f"{package} has no {kind} {name!r}") from err

    return __getattr__
