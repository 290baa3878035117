"""Retrain on pruned training sets and compare test accuracy across methods, fractions and seeds.

For every seed, every method scores the training set once (the proxy run, shared by the forgetting
and lpNTK methods, is trained once per seed); for every fraction the pruned set gets a fresh model
trained with one shared :class:`~lpntk_lab.pruning.Recipe` (same epochs whatever the set size, so a
smaller set gets fewer steps), and its final test accuracy is recorded. The unpruned training set
(method ``"unpruned"``, fraction 0) is always included. Seed ``s`` seeds the scoring, the
tie-breaking, the retrained model's initialisation and its data order.

A session cache remembers every score (by data set, method, seed, recipe and the scoring settings the
method uses) and every accuracy (by data set, recipe, seed and the exact kept set), so calling
``compare`` again with more methods, fractions or seeds trains only what is new.
``clear_cache()`` forgets it all.

    >>> result = compare(ds, ["random", "el2n", "lpntk-fpc-largest"], [0.1, 0.3], seeds=range(3), epochs=20)
    >>> result.summary            # mean, std and 95 % interval of the test accuracy
    >>> result.versus("random")   # paired differences per seed
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from .data import Dataset
from .pruning import (
    LPNTK_METHODS,
    METHODS,
    PROXY_METHODS,
    Recipe,
    Scores,
    Scoring,
    _check_fraction,
    _check_int,
    proxy_kernel,
    proxy_run,
    score,
    select,
)

__all__ = ["UNPRUNED", "Comparison", "clear_cache", "compare", "summarize"]

UNPRUNED = "unpruned"
_CACHE: dict[tuple, object] = {}


@dataclass(frozen=True, eq=False)
class Comparison:
    """Test accuracy after pruning and retraining.

    Attributes:
        table: one row per trained model: ``method, fraction, seed, accuracy, train_size``.
        summary: one row per method and fraction: ``method, fraction, train_size, seeds, mean, std,
            ci_low, ci_high`` (a 95 % Student-t interval of the mean over seeds; NaN with one seed).
        recipe: how every model was trained.
        scoring: the scores' settings.
        balance: whether every class lost the same share.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    recipe: Recipe
    scoring: Scoring
    balance: bool

    def versus(self, reference: str = "random") -> pd.DataFrame:
        """Paired accuracy differences ``method − reference`` at the same fraction and seed.

        One row per method and fraction: ``mean_diff, ci_low, ci_high`` (95 % Student-t over seeds),
        ``seeds``, and ``verdict``: ``"better"`` or ``"worse"`` when the interval excludes 0, else
        ``"no clear difference"``. ``reference="unpruned"`` compares with the full training set.
        """
        methods = set(self.table["method"])
        if reference not in methods:
            raise ValueError(f"reference {reference!r} is not in this comparison; choose one of {sorted(methods)}")
        ref = self.table[self.table["method"] == reference]
        on = ["seed"] if reference == UNPRUNED else ["fraction", "seed"]
        paired = self.table[~self.table["method"].isin([reference, UNPRUNED])].merge(
            ref[[*on, "accuracy"]], on=on, suffixes=("", "_ref"))
        paired = paired.assign(diff=paired["accuracy"] - paired["accuracy_ref"])
        rows = []
        for (method, fraction), group in paired.groupby(["method", "fraction"], sort=False):
            mean, low, high = _interval(group["diff"].to_numpy())
            verdict = "better" if low > 0 else "worse" if high < 0 else "no clear difference"
            rows.append(dict(method=method, fraction=fraction, seeds=len(group), mean_diff=mean,
                             ci_low=low, ci_high=high, verdict=verdict))
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        methods = [m for m in self.table["method"].unique() if m != UNPRUNED]
        return (f"Comparison(methods={methods}, fractions={sorted(set(self.table['fraction']) - {0.0})}, "
                f"seeds={sorted(set(self.table['seed']))}, models={len(self.table)})")


def clear_cache() -> None:
    """Forget every cached score and accuracy of this session."""
    _CACHE.clear()


def compare(
    ds: Dataset,
    methods: Sequence[str],
    fractions: Iterable[float],
    *,
    seeds: Iterable[int] = (0, 1, 2),
    epochs: int = 20,
    model: str = "mlp",
    lr: float = 0.05,
    batch_size: int = 64,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    balance: bool = True,
    scoring: Scoring | None = None,
    device: str = "auto",
    progress: bool = True,
) -> Comparison:
    """Prune ``ds`` by every method and fraction, retrain, and tabulate test accuracy over seeds.

    Args:
        ds: the data set; its test set measures every model.
        methods: pruning methods (``lab.pruning.METHODS``); the unpruned baseline is added.
        fractions: shares of the training set removed, each in [0, 1).
        seeds: one full repetition per seed.
        epochs, model, lr, batch_size, momentum, weight_decay, device: the shared training
            :class:`~lpntk_lab.pruning.Recipe` (also used by the scoring runs).
        balance: remove the same share from every class.
        scoring: the scores' settings (default ``Scoring()``).
        progress: show a progress bar over the models to train.
    """
    if not isinstance(ds, Dataset):
        raise TypeError(f"ds must be a lpntk_lab Dataset (from lpntk_lab.load), got {type(ds).__name__}")
    methods, fractions, seeds = _check_grid(methods, fractions, seeds)
    recipe = Recipe(model=model, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                    weight_decay=weight_decay, device=device)
    scoring = scoring or Scoring()
    data = _data_key(ds)
    rows = []
    bar = tqdm(total=len(seeds) * (1 + len(methods) * len(fractions)), desc="compare", unit="model",
               disable=not progress)
    with bar:
        for seed in seeds:
            bar.set_postfix_str(f"seed {seed}: scoring")
            scores = _scores(ds, methods, seed, recipe, scoring, data)
            rows.append(_row(UNPRUNED, 0.0, seed, _accuracy(ds, np.arange(ds.n_train), seed, recipe, data)))
            bar.update()
            for method in methods:
                for fraction in fractions:
                    bar.set_postfix_str(f"seed {seed}: {method} {fraction:g}")
                    pruned = select(scores[method], ds.y_train, fraction=fraction, balance=balance, seed=seed)
                    rows.append(_row(method, fraction, seed, _accuracy(ds, pruned.keep, seed, recipe, data)))
                    bar.update()
    table = pd.DataFrame(rows)
    return Comparison(table, summarize(table), recipe, scoring, bool(balance))


# --- work, cached -------------------------------------------------------------------------------------


def _scores(ds: Dataset, methods: list[str], seed: int, recipe: Recipe, scoring: Scoring,
            data: tuple) -> dict[str, Scores]:
    """Every method's scores for one seed; one proxy run serves all methods that need it."""
    keys = {m: ("scores", data, m, seed, recipe, scoring.used_by(m)) for m in methods}
    missing = [m for m in methods if keys[m] not in _CACHE]
    record = kernel = None
    if any(m in PROXY_METHODS for m in missing):
        trained, record = proxy_run(ds, recipe=recipe, seed=seed, progress=False)
        if any(m in LPNTK_METHODS for m in missing):
            kernel = proxy_kernel(ds, recipe=recipe, model=trained, progress=False)
    for m in missing:
        _CACHE[keys[m]] = score(m, ds, seed=seed, recipe=recipe, scoring=scoring, kernel=kernel, record=record,
                                progress=False)
    return {m: _CACHE[keys[m]] for m in methods}


def _accuracy(ds: Dataset, keep: np.ndarray, seed: int, recipe: Recipe, data: tuple) -> tuple[float, int]:
    """Final test accuracy of a fresh model trained on the kept samples, and their number."""
    key = ("accuracy", data, recipe, seed, hashlib.sha256(np.asarray(keep, np.int64).tobytes()).hexdigest())
    if key not in _CACHE:
        subset = ds if len(keep) == ds.n_train else ds.select(keep)
        _, record = recipe.train(subset, seed=seed)
        _CACHE[key] = float(record.test_accuracy[-1])
    return _CACHE[key], len(keep)


def _data_key(ds: Dataset) -> tuple:
    """The data set's identity: name, training fingerprint and a hash of the test set."""
    digest = hashlib.sha256()
    for t in (ds.x_test, ds.y_test):
        digest.update(np.ascontiguousarray(t.detach().cpu().numpy()).data)
    return ds.name, ds.fingerprint, digest.hexdigest()[:16]


def _row(method: str, fraction: float, seed: int, result: tuple[float, int]) -> dict:
    accuracy, size = result
    return dict(method=method, fraction=float(fraction), seed=int(seed), accuracy=accuracy, train_size=size)


# --- statistics and checks ----------------------------------------------------------------------------


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % Student-t interval of the mean (NaN bounds for fewer than two values)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per method and fraction of a ``Comparison.table``: mean, std and 95 % interval over seeds."""
    rows = []
    for (method, fraction), group in table.groupby(["method", "fraction"], sort=False):
        acc = group["accuracy"].to_numpy()
        mean, low, high = _interval(acc)
        std = float(np.std(acc, ddof=1)) if len(acc) > 1 else float("nan")
        rows.append(dict(method=method, fraction=fraction, train_size=int(group["train_size"].iloc[0]),
                         seeds=len(acc), mean=mean, std=std, ci_low=low, ci_high=high))
    return pd.DataFrame(rows)


def _check_grid(methods, fractions, seeds) -> tuple[list[str], list[float], list[int]]:
    if isinstance(methods, str):
        raise TypeError(f"methods must be a list of method names, e.g. [{methods!r}], not a single string")
    methods, fractions, seeds = list(methods), list(fractions), list(seeds)
    for name, values in (("methods", methods), ("fractions", fractions), ("seeds", seeds)):
        if not values or len(set(values)) != len(values):
            raise ValueError(f"{name} must be a non-empty list without repeats, got {values}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown pruning method(s) {unknown}; choose from {', '.join(METHODS)}")
    for fraction in fractions:
        _check_fraction(fraction)
    for seed in seeds:
        _check_int("seed", seed, low=0)
    return methods, [float(f) for f in fractions], [int(s) for s in seeds]
