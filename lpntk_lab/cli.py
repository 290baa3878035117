"""Headless entry points: ``python -m lpntk_lab demo`` and ``python -m lpntk_lab report``.

``demo`` runs the core pipeline on an offline data set — load, build a model, train with records,
compute lpNTK — and prints what came out and how long each stage took. ``report`` runs the whole
analysis and writes it as one self-contained HTML file that opens offline.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager

import numpy as np

from . import data, models, report as report_module
from .data import DatasetUnavailable
from .kernels import lpntk
from .train import fit


@contextmanager
def _stage(name: str):
    start = time.perf_counter()
    yield
    print(f"  {name:<38s} {time.perf_counter() - start:6.2f} s", flush=True)


def _cosines(K: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.clip(np.diag(K), 1e-300, None))
    return K / norms[:, None] / norms[None, :]


def demo(args: argparse.Namespace) -> None:
    """Train on an offline data set, compute lpNTK on a sample of it, print a summary."""
    print(f"lpntk_lab demo on {args.dataset!r} ({args.kind}, {args.epochs} epochs, lpNTK on {args.n} samples)")
    with _stage("load data"):
        ds = data.load(args.dataset, seed=args.seed)
    with _stage("build model"):
        model = models.for_dataset(ds, kind=args.kind, seed=args.seed)
    with _stage(f"fit, {args.epochs} epochs"):
        record = fit(model, ds, epochs=args.epochs, lr=args.lr, seed=args.seed, device=args.device, progress=False)
    n = min(args.n, ds.n_train)
    x, y = ds.x_train[:n], ds.y_train[:n]
    with _stage(f"lpNTK {n} x {n}"):
        K = lpntk(model, x, y, device=args.device, progress=False)
    print(f"\n{ds!r}")
    print(f"test accuracy by epoch: {', '.join(f'{a:.3f}' for a in record.test_accuracy)}")
    print(f"lpNTK: symmetric {np.array_equal(K, K.T)}, smallest eigenvalue / largest "
          f"{np.linalg.eigvalsh(K)[0] / np.linalg.eigvalsh(K)[-1]:.1e}")
    cos = _cosines(K)
    same = y.numpy()[:, None] == y.numpy()[None, :]
    off = ~np.eye(n, dtype=bool)
    print(f"mean cosine of same-class pairs {cos[same & off].mean():+.3f}, "
          f"of different-class pairs {cos[~same].mean():+.3f}")
    i, j = np.unravel_index(np.argmin(np.where(off, cos, np.inf)), cos.shape)
    print(f"lowest-cosine pair: samples {i} (label {int(y[i])}) and {j} (label {int(y[j])}), cos {cos[i, j]:+.3f}")


def report(args: argparse.Namespace) -> None:
    """Run the whole analysis and write it as one HTML file (progress bars on stderr)."""
    settings = report_module.Settings(dataset=args.dataset, model=args.model, epochs=args.epochs,
                                      fractions=tuple(args.fractions), seeds=tuple(args.seeds), device=args.device)
    report_module.check_target(args.out)
    start = time.perf_counter()
    path = report_module.write(report_module.build(settings), args.out)
    print(f"wrote {path} in {time.perf_counter() - start:.0f} s")


class _OneLineParser(argparse.ArgumentParser):
    """Reports a bad command line as one ``error:`` line on stderr, exit status 2 (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m lpntk_lab", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="train on an offline data set and compute lpNTK")
    p.add_argument("--dataset", default="digits", choices=data.KNOWN_DATASETS)
    p.add_argument("--kind", default="mlp", choices=models.KINDS, help="model architecture")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--n", type=int, default=500, help="samples in the lpNTK matrix")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help='"auto", "cpu" or "cuda"')
    p.set_defaults(run=demo)
    defaults = report_module.Settings()
    p = commands.add_parser("report", help="run the whole analysis and write one self-contained HTML file",
                            description="Train, lpNTK, relations, difficulty, forgetting, FPC and a pruning "
                                        "comparison, written as one HTML file that opens offline.",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default=defaults.dataset, help=f"one of: {', '.join(data.KNOWN_DATASETS)}")
    p.add_argument("--model", default=defaults.model, help=f"model architecture: {', '.join(models.KINDS)}")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="epochs of every training run")
    p.add_argument("--fractions", type=float, nargs="+", default=list(defaults.fractions),
                   help="shares of the training set the pruning comparison removes")
    p.add_argument("--seeds", type=int, nargs="+", default=list(defaults.seeds),
                   help="repetitions of the pruning comparison (the first seeds the recorded run)")
    p.add_argument("--device", default=defaults.device, help='"auto", "cpu" or "cuda"')
    p.add_argument("--out", default="report.html", help="the HTML file to write")
    p.set_defaults(run=report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, OSError, DatasetUnavailable) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0
