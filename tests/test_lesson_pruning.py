"""The clusters-and-pruning lesson's charts and apps: cluster sizes, galleries, and the pruning app's
runs and bad states (driven from Python, no browser)."""

import re

import numpy as np
import pytest

import lpntk_lab as lab
from lpntk_lab.comparison import clear_cache
from lpntk_lab.viz import pruning as charts
from lpntk_lab.widgets import pruning as apps


@pytest.fixture(scope="module")
def small():
    return lab.data.per_class(lab.load("digits"), 20)


@pytest.fixture(scope="module")
def clusters(small):
    model, _ = lab.pruning.proxy_run(small, recipe=lab.Recipe(epochs=3), progress=False)
    W = lab.pruning.proxy_kernel(small, model=model, progress=False)
    return lab.fpc(W, ratio=0.25, metric="paper", progress=False)


# --- cluster sizes and galleries --------------------------------------------------------------------


def test_sizes_frame_lists_every_cluster_largest_first(clusters):
    profiles = lab.size_profiles(clusters)
    frame = charts.sizes_frame(profiles, [f"digit {c}" for c in range(10)])
    assert len(frame) == clusters.n_clusters and frame["size"].sum() == len(clusters.labels)
    for label, rows in frame.groupby("label"):
        assert (np.diff(rows["size"]) <= 0).all() and list(rows["rank"]) == list(range(1, len(rows) + 1))
        assert rows["share"].sum() == pytest.approx(1.0)
        assert rows["gini"].iloc[0] == pytest.approx(profiles[label].gini)
    assert frame["class_name"].iloc[0] == "digit 0"
    assert len(charts.sizes_chart(profiles).to_dict()["hconcat"]) == 2


def test_gallery_shows_the_largest_cluster_and_the_smallest_others(small, clusters):
    frame = charts.gallery_frame(small, clusters, 3, n=4)
    own = np.flatnonzero(clusters.centre_labels == 3)
    largest = own[np.argmax(clusters.sizes[own])]
    big = frame[frame["group"] == "largest"]
    assert len(big) == min(4, clusters.sizes[largest])
    assert (clusters.assignment[big["sample"]] == largest).all()
    assert (np.diff(clusters.distance[big["sample"]]) >= 0).all()  # most similar to the centre first
    small_rows = frame[frame["group"] == "smallest"]
    assert largest not in set(small_rows["cluster"]) and len(small_rows) == min(4, len(own) - 1)
    assert (np.diff(small_rows["size"]) >= 0).all()
    assert set(small_rows["sample"]) <= set(clusters.centres.tolist())
    assert all(url.startswith("data:image/png;base64,") for url in frame["url"])
    with pytest.raises(ValueError, match="has no clusters"):
        charts.gallery_frame(small, clusters, 42)


def test_cluster_browser_follows_the_dropdown(small, clusters):
    browser = apps.cluster_browser(small, clusters, n=3)
    assert "class 0" in str(browser.chart.to_dict()["vconcat"][0]["title"])
    browser.pick.value = 7
    assert "class 7" in str(browser.chart.to_dict()["vconcat"][0]["title"])


# --- reading the request ----------------------------------------------------------------------------


def test_parse_fractions():
    assert apps.parse_fractions("0.1, 0.3 0.5") == [0.1, 0.3, 0.5]
    assert apps.parse_fractions("30%, 0.3") == [0.3]
    for text, message in (("", "at least one fraction"), ("0.1, half", "Could not read 'half'")):
        with pytest.raises(ValueError, match=message):
            apps.parse_fractions(text)


def request(**changes):
    base = dict(methods=("random",), fractions=(0.5,), seeds=(0,), epochs=2)
    return apps.Request(**(base | changes))


@pytest.mark.parametrize("changes, message", [
    (dict(fractions=(0.5, 1.0)), "prunes everything: nothing is left to train on"),
    (dict(fractions=(-0.1,)), "must lie in \\[0, 1\\)"),
    (dict(fractions=(0.999,)), "leaves class\\(es\\) .* with no training sample"),
    (dict(seeds=()), "at least one seed"),
    (dict(methods=()), "at least one pruning method"),
])
def test_check_request_explains_every_bad_state(small, changes, message):
    issues = apps.check_request(small, request(**changes))
    assert len(issues) == 1 and re.search(message, issues[0])
    assert apps.check_request(small, request()) == []


def test_check_request_rejects_a_data_set_with_an_empty_class(small):
    labels = small.y_train.numpy()
    without_seven = small.select(np.flatnonzero(labels != 7))
    [issue] = apps.check_request(without_seven, request())
    assert "Class(es) 7 have no training samples" in issue


# --- the app ----------------------------------------------------------------------------------------


def test_app_retrains_and_charts_accuracy(small):
    clear_cache()
    app = apps.pruning_app(small, methods=["random", "lpntk-fpc-heads"], fractions=[0.25, 0.5], seeds=2, epochs=2)
    result = apps.retrain(app)
    assert result is app.result and not app.running and not app.button.disabled
    assert app.progress.value == app.progress.max == 4
    assert "Done in" in app.status.value and "10 models" in app.status.value
    assert set(result.table["method"]) == {"unpruned", "random", "lpntk-fpc-heads"}
    frame = charts.accuracy_frame(result)
    assert len(frame) == 2 * 3  # two methods, each line starting at the unpruned run
    assert (frame.groupby("method")["fraction"].min() == 0).all()
    assert frame["mean"].between(0, 100).all()
    assert app.chart.to_dict()["layer"]
    # more seeds later: the cached runs are reused, the comparison grows
    app.seeds.value = 3
    assert len(apps.retrain(app).table) == 15


@pytest.mark.parametrize("field, value, message", [
    ("fractions", "1.0", "prunes everything"),
    ("fractions", "0.1, lots", "Could not read"),
    ("seeds", 0, "at least one seed"),
])
def test_app_reports_bad_states_without_training(small, monkeypatch, field, value, message):
    app = apps.pruning_app(small, seeds=1, epochs=1)
    monkeypatch.setattr(apps, "compare", lambda *a, **k: pytest.fail("nothing may be trained"))
    getattr(app, field).value = value
    assert apps.retrain(app) is None and app.result is None
    assert message in app.status.value and "#b30000" in app.status.value


def test_app_refuses_a_second_run_and_reports_failures(small, monkeypatch):
    app = apps.pruning_app(small, seeds=1, epochs=1)
    app.running = True
    assert apps.retrain(app) is None and "already running" in app.status.value

    app.running = False
    seen = []

    def failing(*args, **kwargs):
        seen.append((app.running, app.button.disabled))
        raise FloatingPointError("the loss became NaN")

    monkeypatch.setattr(apps, "compare", failing)
    app.button.click()
    assert seen == [(True, True)]  # the button is disabled while a retrain runs
    assert "Retraining failed: FloatingPointError: the loss became NaN" in app.status.value
    assert not app.running and not app.button.disabled
