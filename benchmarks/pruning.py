"""The measured results of docs/pruning.md: pruning, retraining and cluster sizes; not a test.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pruning.py --dataset digits --seeds 10
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pruning.py --dataset mnist-5k --seeds 10
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pruning.py --timing

With ``--dataset`` it runs ``lab.compare`` for every pruning method at 10-50 % removed, adds the
other FPC metrics of ``lpntk-fpc-largest`` as an ablation, and prints markdown tables: test accuracy
(mean and 95 % interval over seeds), paired differences against random and unpruned, and the
cluster-size distribution of the first seed's proxy model. With ``--timing`` it times the reference
comparison on digits (unpruned + 4 methods x 3 fractions x 3 seeds) from an empty cache.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import lpntk_lab as lab
from lpntk_lab.clustering import METRICS, fpc, size_profiles
from lpntk_lab.comparison import UNPRUNED, Comparison, clear_cache, compare, summarize
from lpntk_lab.pruning import METHODS, Recipe, Scoring, proxy_kernel, proxy_run

FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
ABLATION = tuple(m for m in METRICS if m != Scoring().metric)  # other FPC metrics, for lpntk-fpc-largest
TIMING_METHODS = ("el2n", "grand", "forgetting", "lpntk-fpc-largest")


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table (index included)."""
    frame = frame.reset_index()
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Methods x fractions removed: ``mean ± half-width`` of the 95 % interval, in percent."""
    cell = summary.apply(lambda r: f"{100 * r['mean']:.2f} ± {100 * (r['ci_high'] - r['mean']):.2f}", axis=1)
    table = summary.assign(cell=cell).pivot(index="method", columns="fraction", values="cell")
    table = table.reindex(summary["method"].unique()).fillna("")
    table.columns = [f"{f:.0%} removed" if f else "0 % (unpruned)" for f in table.columns]
    return table


def difference_table(versus: pd.DataFrame) -> pd.DataFrame:
    """Methods x fractions: paired difference in points, its interval and the verdict."""
    cell = versus.apply(lambda r: f"{100 * r['mean_diff']:+.2f} [{100 * r['ci_low']:+.2f}, "
                                  f"{100 * r['ci_high']:+.2f}] {r['verdict'].replace('no clear difference', '≈')}",
                        axis=1)
    table = versus.assign(cell=cell).pivot(index="method", columns="fraction", values="cell")
    table.columns = [f"{f:.0%} removed" for f in table.columns]
    return table.reindex(versus["method"].unique())


def run_grid(ds, seeds: list[int]) -> Comparison:
    """All methods with the default Scoring, plus lpntk-fpc-largest under the other metrics."""
    main = compare(ds, list(METHODS), FRACTIONS, seeds=seeds)
    tables = [main.table]
    for metric in ABLATION:
        extra = compare(ds, ["lpntk-fpc-largest"], FRACTIONS, seeds=seeds, scoring=Scoring(metric=metric))
        rows = extra.table[extra.table["method"] != UNPRUNED]
        tables.append(rows.assign(method=f"lpntk-fpc-largest ({metric})"))
    table = pd.concat(tables, ignore_index=True)
    return Comparison(table, summarize(table), main.recipe, main.scoring, main.balance)


def cluster_profile(ds, metric: str, ratio: float) -> pd.DataFrame:
    """Per class: cluster sizes of FPC on the seed-0 proxy model's within-class lpNTK."""
    model, _ = proxy_run(ds, seed=0, progress=False)
    clusters = fpc(proxy_kernel(ds, model=model, progress=False), ratio=ratio, metric=metric, progress=False)
    rows = {}
    for c, prof in size_profiles(clusters).items():
        rows[ds.class_names[c]] = dict(points=prof.n_points, clusters=prof.n_clusters, largest=int(prof.sizes[0]),
                                       largest_share=f"{prof.largest_share:.2f}", gini=f"{prof.gini:.2f}",
                                       singletons=f"{prof.singleton_share:.2f}",
                                       sorted_sizes=" ".join(map(str, prof.sizes[:12])) + " …")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("class")


def report(name: str, n_seeds: int, table: str | None) -> None:
    ds = lab.load(name)
    start = time.perf_counter()
    result = run_grid(ds, list(range(n_seeds)))
    if table:
        result.table.to_csv(table, index=False)
    print(f"## {name}: {ds.n_train} training samples, {n_seeds} seeds, {time.perf_counter() - start:.0f} s\n")
    print(f"Recipe: {result.recipe}\n\nScoring: {result.scoring}\n")
    print("### Test accuracy (%), mean ± half-width of the 95 % interval\n")
    print(markdown(accuracy_table(result.summary)), "\n")
    for reference in ("random", UNPRUNED):
        print(f"### Paired difference to {reference} (points), [95 % interval], verdict\n")
        print(markdown(difference_table(result.versus(reference))), "\n")
    scoring = Scoring()
    for metric in (scoring.metric, *ABLATION):
        print(f"### Cluster sizes per class (FPC, metric {metric!r}, ratio {scoring.ratio}, seed 0)\n")
        print(markdown(cluster_profile(ds, metric, scoring.ratio)), "\n")


def timing() -> None:
    ds = lab.load("digits")
    clear_cache()
    start = time.perf_counter()
    result = compare(ds, list(TIMING_METHODS), (0.1, 0.3, 0.5), seeds=(0, 1, 2), progress=False)
    seconds = time.perf_counter() - start
    print(f"digits: unpruned + {len(TIMING_METHODS)} methods x 3 fractions x 3 seeds = {len(result.table)} "
          f"models, recipe {Recipe()}: {seconds:.1f} s (target 300 s, ratio {seconds / 300:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist-5k"))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--table", help="also write the tidy table of every trained model to this CSV file")
    parser.add_argument("--timing", action="store_true")
    args = parser.parse_args()
    if args.timing:
        timing()
    if args.dataset:
        report(args.dataset, args.seeds, args.table)
    if not (args.timing or args.dataset):
        parser.error("give --dataset or --timing")


if __name__ == "__main__":
    main()
