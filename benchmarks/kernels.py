"""Side-by-side benchmark of the lpNTK methods; not part of the test suite.

    PYTHONPATH=. python benchmarks/kernels.py [--quick] [--repeats 3] [--budget 30] [--out results.md]

Every measurement runs in a fresh subprocess of this script (``--one CASE METHOD N``): it builds
the model and random inputs from fixed seeds, warms up on a tiny input, times
``lab.lpntk(model, x, y, method=...)`` and prints its times and peak RSS as JSON. The driver only
collects those lines, ratios them and prints one markdown report. It never imports torch itself:
Linux starts a child's peak RSS from its parent's, so the parent stays small.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date

# Seeds away from the small integers the "projected" method seeds its matrices with (0, 1, ... per
# layer by default): random inputs drawn from the same stream as a projection fake a large error.
MODEL_SEED, DATA_SEED = 1234, 5678
NUM_CLASSES = 10
WARM_UP_SAMPLES = 8
PROJ_DIM = 1024
BUDGET_S = 30.0

CASES = {
    "mlp": "MLP 784-1024-10",
    "lenet": "LeNet-5 28×28",
    "class": "LeNet-5 28×28, one class (within_class)",
}


@dataclass(frozen=True)
class Run:
    """One measurement, and what it is compared with."""

    section: str
    case: str
    method: str
    n: int
    against: str | None = None  # method of the same case and N whose time divides this one's
    min_ratio: float | None = None  # target: time / time of `against` at least this
    max_rss_mib: float | None = None  # target: peak RSS below this


def plan(quick: bool) -> list[Run]:
    """The measurements of a full run, or of a smoke run with small N."""
    n = 256 if quick else 1024
    n_mlp_entk, n_lenet_entk = (16, 64) if quick else (64, 256)
    n_class = 1000 if quick else 6000
    runs = []
    for section, case, min_ratio in (("a", "mlp", 20.0), ("b", "lenet", 3.0)):
        runs += [
            Run(section, case, "factored", n),
            Run(section, case, "per_sample", n, "factored", min_ratio=min_ratio),
            Run(section, case, "auto", n, "factored"),
        ]
    for case, n_entk in (("mlp", n_mlp_entk), ("lenet", n_lenet_entk)):
        runs += [Run("c", case, "auto", n_entk), Run("c", case, "entk", n_entk, "auto", min_ratio=50.0)]
    runs.append(Run("d", "class", "auto", n_class, max_rss_mib=2048.0))
    runs += [Run("e", case, "projected", n, "factored") for case in ("mlp", "lenet")]
    return runs


# --- the child: one measurement -------------------------------------------------------------


def measure(case: str, method: str, n: int, repeats: int, budget: float) -> dict:
    """Time ``lab.lpntk`` on one case; repeat only while the first call took at most ``budget`` s."""
    import numpy as np
    import torch

    import lpntk_lab as lab
    from lpntk_lab.models import MLP, LeNet5

    torch.manual_seed(MODEL_SEED)
    model = MLP(784, NUM_CLASSES, hidden=(1024,)) if case == "mlp" else LeNet5(1, 28, NUM_CLASSES)
    gen = torch.Generator().manual_seed(DATA_SEED)
    x = torch.randn(n, 1, 28, 28, generator=gen)
    if case == "class":
        y = torch.zeros(n, dtype=torch.long)
    else:
        y = torch.randint(0, NUM_CLASSES, (n,), generator=gen)

    def kernel(xs, ys, how=method):
        return lab.lpntk(
            model, xs, ys, method=how, within_class=case == "class", proj_dim=PROJ_DIM, progress=False
        )

    def timed() -> float:
        start = time.perf_counter()
        kernel(x, y)
        return time.perf_counter() - start

    kernel(x[:WARM_UP_SAMPLES], y[:WARM_UP_SAMPLES])
    times = [timed()]
    while len(times) < repeats and times[0] <= budget:
        times.append(timed())
    result = {"times": times, "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if method == "projected":
        approx, exact = kernel(x, y), kernel(x, y, "factored")
        diff = np.abs(approx - exact)
        off_diagonal = ~np.eye(n, dtype=bool)
        result["max_error"] = float(diff.max() / np.abs(exact).max())
        scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
        result["median_off_diagonal_error"] = float(np.median(diff[off_diagonal] / np.abs(exact[off_diagonal])))
        result["median_normalised_error"] = float(np.median(diff[off_diagonal] / scale[off_diagonal]))
    return result


def environment() -> dict:
    """What the numbers depend on: CPU, core count, torch and its threads."""
    import torch

    cpu = platform.processor() or "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    return {
        "date": date.today().isoformat(),
        "cpu": cpu,
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


# --- the driver: subprocesses and the report ------------------------------------------------


def child(*args: str) -> dict:
    """Run this script with ``args`` in a fresh interpreter and parse the JSON it prints last."""
    stdout = subprocess.run([sys.executable, os.path.abspath(__file__), *args], check=True,
                            stdout=subprocess.PIPE, text=True).stdout
    return json.loads(stdout.splitlines()[-1])


def report(env: dict, load: tuple[float, float], runs: list[Run], results: dict[Run, dict], repeats: int,
           budget: float) -> str:
    """The markdown report: the main table, the projection errors and the targets."""

    def seconds(run: Run) -> float:
        return statistics.median(results[run]["times"])

    def mib(run: Run) -> float:
        return results[run]["peak_rss_kib"] / 1024

    def ratio(run: Run) -> float:
        base = next(r for r in runs if (r.case, r.method, r.n) == (run.case, run.against, run.n))
        return seconds(run) / seconds(base)

    lines = [
        "# lpNTK kernel benchmark",
        "",
        f"{env['date']} · {env['cpu']}, nproc {env['nproc']} · torch {env['torch']} "
        f"({env['threads']} threads) · Python {env['python']} · 1-min load average {load[0]:.2f} at start, "
        f"{load[1]:.2f} at the end",
        "",
        f"Wall time: median of up to {repeats} calls of `lab.lpntk` after a warm-up on "
        f"{WARM_UP_SAMPLES} samples; a call longer than {budget:g} s is not repeated. Ratio: this time "
        "divided by the named method's at the same case and N. Peak RSS: `ru_maxrss` of the measuring "
        "process (model, inputs, the kernel and torch itself).",
        "",
        "| case | method | N | repeats | wall time (s) | ratio | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        done = len(results[run]["times"])
        shown = f"{done}" if done == repeats else f"{done} (first call > {budget:g} s)"
        versus = f"{ratio(run):.2f}× {run.against}" if run.against else "—"
        lines.append(f"| ({run.section}) {CASES[run.case]} | {run.method} | {run.n} | {shown} | "
                     f"{seconds(run):.3f} | {versus} | {mib(run):.0f} |")

    projected = [run for run in runs if run.method == "projected"]
    lines += [
        "",
        f"## Projected (proj_dim = {PROJ_DIM}) against the exact kernel",
        "",
        "| case | N | wall time (s) | max \\|ΔK\\| / max \\|K\\| | median \\|ΔK_ij\\| / \\|K_ij\\|, i ≠ j "
        "| median \\|ΔK_ij\\| / √(K_ii K_jj), i ≠ j |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in projected:
        r = results[run]
        lines.append(f"| {CASES[run.case]} | {run.n} | {seconds(run):.3f} | {r['max_error']:.4f} | "
                     f"{r['median_off_diagonal_error']:.4f} | {r['median_normalised_error']:.4f} |")

    lines += ["", "## Targets", "", "| target | measured | result |", "|---|---:|---|"]
    for run in runs:
        if run.min_ratio is not None:
            target = (f"({run.section}) {CASES[run.case]}, N = {run.n}: {run.method} time / "
                      f"{run.against} time ≥ {run.min_ratio:g}×")
            value, met = f"{ratio(run):.1f}×", ratio(run) >= run.min_ratio
        elif run.max_rss_mib is not None:
            target = f"({run.section}) {CASES[run.case]}, N = {run.n}: peak RSS < {run.max_rss_mib:g} MiB"
            value, met = f"{mib(run):.0f} MiB", mib(run) < run.max_rss_mib
        else:
            continue
        lines.append(f"| {target} | {value} | {'PASS' if met else 'MISS'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (median)")
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help="seconds: a first call longer than this is not repeated")
    parser.add_argument("--out", help="also write the report to this markdown file")
    parser.add_argument("--one", nargs=3, metavar=("CASE", "METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--environment", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    if args.environment:
        print(json.dumps(environment()))
        return
    if args.one:
        case, method, n = args.one
        print(json.dumps(measure(case, method, int(n), args.repeats, args.budget)))
        return

    env, load_at_start = child("--environment"), os.getloadavg()[0]
    runs = plan(args.quick)
    results = {}
    for k, run in enumerate(runs, 1):
        print(f"[{k}/{len(runs)}] {run.case} {run.method} N={run.n} ...", end=" ", file=sys.stderr, flush=True)
        results[run] = child("--one", run.case, run.method, str(run.n),
                             "--repeats", str(args.repeats), "--budget", str(args.budget))
        print(" ".join(f"{t:.3f}" for t in results[run]["times"]), "s", file=sys.stderr, flush=True)
    text = report(env, (load_at_start, os.getloadavg()[0]), runs, results, args.repeats, args.budget)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
