"""Speed of farthest point clustering; not part of the test suite.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/fpc.py [--n 6000] [--centres 3000] [--repeats 3]

Target: 3,000 centres on a 6,000-point class from a Gram matrix in under 1 s. For every
metric and kernel source it prints the best of ``--repeats`` wall-clock times and their ratio to
the target, then the same clustering by a naive k-center that recomputes each point's distance to
every centre at every step (O(N k²) instead of O(N k)), on a smaller problem, for scale.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lpntk_lab.clustering import METRICS, fpc

TARGET_S = 1.0


def best_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def naive_k_center(K: np.ndarray, first: int, k: int) -> np.ndarray:
    """Gonzalez by recomputing all distances to all centres at every step (the slow, obvious way)."""
    diag = np.diag(K)
    centres = [first]
    while len(centres) < k:
        sq = diag[:, None] + diag[centres][None, :] - 2 * K[:, centres]
        nearest = np.maximum(sq, 0).min(axis=1)
        nearest[centres] = -np.inf
        centres.append(int(np.argmax(nearest)))
    return np.array(centres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=6000, help="points in the class")
    parser.add_argument("--centres", type=int, default=3000)
    parser.add_argument("--dim", type=int, default=256, help="feature dimension of the random Gram")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    F = np.random.default_rng(0).standard_normal((args.n, args.dim))
    K = F @ F.T
    print(f"FPC, {args.centres} centres on {args.n} points (target {TARGET_S:.1f} s from a Gram)\n")
    print("| source | metric | best of {} (s) | time / target |".format(args.repeats))
    print("|---|---|---|---|")
    sources = {
        "Gram (checked + clustered)": lambda m: fpc(K, n_clusters=args.centres, metric=m, progress=False),
        "features (N x {})".format(args.dim): lambda m: fpc(features=F, n_clusters=args.centres, metric=m,
                                                             progress=False),
    }
    for source, run in sources.items():
        for metric in METRICS:
            t = best_time(lambda: run(metric), args.repeats)
            print(f"| {source} | {metric} | {t:.3f} | {t / TARGET_S:.2f} |")

    n, k = 2000, 500
    small = K[:n, :n]
    first = int(fpc(small, n_clusters=1, progress=False).centres[0])
    fast = best_time(lambda: fpc(small, n_clusters=k, progress=False), args.repeats)
    slow = best_time(lambda: naive_k_center(small, first, k), 1)
    same = np.array_equal(naive_k_center(small, first, k), fpc(small, n_clusters=k, progress=False).centres)
    print(f"\nnaive k-center, {k} centres on {n} points: {slow:.3f} s; fpc: {fast:.3f} s; "
          f"speed-up {slow / fast:.0f}x; same centres: {same}")


if __name__ == "__main__":
    main()
