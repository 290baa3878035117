"""Retrain-and-compare: the table, the summary, the paired differences, the cache, bad input."""

import numpy as np
import pytest

import lpntk_lab as lab
from lpntk_lab.comparison import UNPRUNED, clear_cache, compare
from lpntk_lab.pruning import Recipe, Scoring, kept_counts

GRID = dict(seeds=[0, 1], epochs=2, scoring=Scoring(runs=1, el2n_epoch=1, ratio=0.2), progress=False)


@pytest.fixture(scope="module")
def ds():
    return lab.data.per_class(lab.load("digits"), 12, seed=0)


@pytest.fixture(scope="module")
def result(ds):
    clear_cache()
    return compare(ds, ["random", "lpntk-fpc-largest"], [0.25, 0.5], **GRID)


def test_table_has_one_row_per_model_and_the_unpruned_baseline(ds, result):
    table = result.table
    assert list(table.columns) == ["method", "fraction", "seed", "accuracy", "train_size"]
    assert len(table) == 2 * (1 + 2 * 2)
    base = table[table["method"] == UNPRUNED]
    assert base["fraction"].tolist() == [0.0, 0.0] and (base["train_size"] == ds.n_train).all()
    for fraction in (0.25, 0.5):
        expected = sum(kept_counts(ds.y_train.numpy(), fraction=fraction).values())
        assert (table.loc[table["fraction"] == fraction, "train_size"] == expected).all()
    assert table["accuracy"].between(0, 1).all()


def test_summary_gives_mean_std_and_an_interval_around_the_mean(result):
    summary = result.summary
    assert len(summary) == 1 + 2 * 2
    assert (summary["seeds"] == 2).all()
    assert (summary["ci_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["ci_high"]).all()
    row = summary[(summary["method"] == "random") & (summary["fraction"] == 0.5)].iloc[0]
    acc = result.table.query("method == 'random' and fraction == 0.5")["accuracy"]
    assert row["mean"] == pytest.approx(acc.mean()) and row["std"] == pytest.approx(acc.std(ddof=1))


def test_versus_pairs_by_seed(result):
    diff = result.versus("random")
    assert set(diff["method"]) == {"lpntk-fpc-largest"}
    table = result.table.set_index(["method", "fraction", "seed"])["accuracy"]
    expected = np.mean([table["lpntk-fpc-largest", 0.5, s] - table["random", 0.5, s] for s in (0, 1)])
    assert diff.loc[diff["fraction"] == 0.5, "mean_diff"].iloc[0] == pytest.approx(expected)
    assert set(diff["verdict"]) <= {"better", "worse", "no clear difference"}
    assert set(result.versus(UNPRUNED)["method"]) == {"random", "lpntk-fpc-largest"}
    with pytest.raises(ValueError, match="not in this comparison"):
        result.versus("el2n")


@pytest.fixture
def trainings(monkeypatch):
    """The seeds of every model trained while the test runs."""
    calls = []
    original = Recipe.train

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("seed"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Recipe, "train", counting)
    return calls


def test_nothing_is_trained_twice(ds, result, trainings):
    again = compare(ds, ["random", "lpntk-fpc-largest"], [0.25, 0.5], **GRID)
    assert trainings == []
    assert again.table.equals(result.table)
    compare(ds, ["random"], [0.25, 0.75], **GRID)  # only the new fraction is trained, once per seed
    assert len(trainings) == 2


def test_a_cleared_cache_trains_again(ds, result, trainings):
    clear_cache()
    compare(ds, ["random"], [0.5], **GRID)
    assert len(trainings) == 2 * 2  # unpruned and pruned, for each seed


@pytest.mark.parametrize(
    "methods, fractions, seeds, error, match",
    [
        (["random", "ranodm"], [0.1], [0], ValueError, "unknown pruning method"),
        ("random", [0.1], [0], TypeError, "list of method names"),
        (["random"], [1.0], [0], ValueError, r"\[0, 1\)"),
        (["random"], [0.1, 0.1], [0], ValueError, "without repeats"),
        (["random"], [0.1], [], ValueError, "non-empty"),
        (["random"], [0.1], [-1], ValueError, "seed"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(ds, methods, fractions, seeds, error, match):
    with pytest.raises(error, match=match):
        compare(ds, methods, fractions, seeds=seeds, epochs=1, progress=False)
