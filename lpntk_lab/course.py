"""What every lesson shares: one setup call, a fast mode for CI, an environment check, exercise checks.

    >>> import lpntk_lab as lab
    >>> course = lab.course.setup()      # offline charts, seeded torch, sizes for this machine
    >>> course.fast                      # True under CI or LPNTK_LAB_FAST=1: smaller runs
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import numpy as np
import torch

FAST_ENV = "LPNTK_LAB_FAST"


def fast_mode() -> bool:
    """True when ``LPNTK_LAB_FAST`` is set to 1/true/yes, or under CI (``CI=true``): lessons shrink."""
    flag = os.environ.get(FAST_ENV, os.environ.get("CI", "")).strip().lower()
    return flag in ("1", "true", "yes")


@dataclass(frozen=True)
class Course:
    """Settings shared by the cells of a lesson.

    Attributes:
        fast: smaller data and fewer epochs (CI, or a slow machine).
        device: where models train: ``"cuda"`` when present, else ``"cpu"``.
        seed: the lesson's seed.
    """

    fast: bool
    device: str
    seed: int

    def pick(self, normal, fast):
        """``fast`` in fast mode, else ``normal``: ``course.pick(500, 200)``."""
        return fast if self.fast else normal


def setup(*, seed: int = 0, fast: bool | None = None) -> Course:
    """Prepare a lesson: offline chart rendering, a seeded torch, and the lesson's settings."""
    from .viz import enable_offline  # the notebook layer: altair is only needed here

    enable_offline()
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return Course(fast=fast_mode() if fast is None else fast, device=device, seed=seed)


def environment() -> dict[str, str]:
    """Versions, device and offline data, for the start-here lesson's environment check."""
    from importlib.metadata import version

    from .data import load

    report = {"python": platform.python_version()}
    for package in ("torch", "numpy", "altair", "ipywidgets", "umap-learn", "jupyterlab"):
        try:
            report[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is reported, not raised
            report[package] = "not installed"
    report["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    report["cpu threads"] = str(torch.get_num_threads())
    for name in ("digits", "mnist-5k"):
        try:
            report[f"data: {name}"] = f"{load(name).n_train} training images, offline"
        except Exception as err:  # noqa: BLE001 - the check reports what is wrong
            report[f"data: {name}"] = f"unavailable ({err})"
    return report


def check(name: str, value, expected, *, rtol: float = 1e-6, atol: float = 1e-9, hint: str = "") -> None:
    """Check an exercise answer: prints a tick, or raises ``AssertionError`` saying what differs.

    ``value`` and ``expected`` are numbers, arrays or tensors of the same shape.
    """
    got = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
    want = np.asarray(expected.detach().cpu() if isinstance(expected, torch.Tensor) else expected, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{name}: expected shape {want.shape}, got {got.shape}. {hint}".strip())
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        worst = np.abs(got - want).max()
        raise AssertionError(f"{name}: not yet — largest difference {worst:.3g}. {hint}".strip())
    print(f"✓ {name}: correct")
