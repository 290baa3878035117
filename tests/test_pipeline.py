"""The foundation end to end, as a newcomer meets it: offline data, a model, recorded training, lpNTK."""

import numpy as np
import pytest
import torch

import lpntk_lab as lab
from lpntk_lab.cli import main


@pytest.fixture(scope="module")
def trained():
    ds = lab.load("digits")
    model = lab.models.for_dataset(ds, kind="mlp")
    record = lab.fit(model, ds, epochs=3, lr=0.1, seed=0, progress=False)
    return ds, model, record


def test_three_epochs_then_lpntk_on_500_samples(trained):
    ds, model, record = trained
    assert record.test_accuracy[-1] > 0.8
    x, y = ds.x_train[:500], ds.y_train[:500]
    K = lab.lpntk(model, x, y, progress=False)
    assert K.shape == (500, 500)
    np.testing.assert_array_equal(K, K.T)
    eig = np.linalg.eigvalsh(K)
    assert eig[0] >= -1e-10 * eig[-1]
    some = torch.arange(0, 500, 25)
    reference = lab.lpntk(model.double(), x[some].double(), y[some], method="entk", progress=False)
    model.float()
    np.testing.assert_allclose(K[np.ix_(some, some)], reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


def test_centring_the_signs_turns_cross_class_pairs_contradictory(trained):
    ds, model, _ = trained
    x, y = ds.x_train[:200], ds.y_train[:200]
    cross = y[:, None] != y[None, :]
    raw = lab.relations.cosine(lab.lpntk(model, x, y, progress=False))[cross.numpy()]
    centred = lab.relations.cosine(lab.lpntk(model, x, y, centred=True, progress=False))[cross.numpy()]
    assert (raw > 0).mean() > 0.99  # s(y)·s(y') = C - 4 > 0: the shared direction dominates
    assert (centred < 0).mean() > 0.9


def test_trained_lenet_and_resnet_kernels_match_the_reference(trained):
    ds = trained[0]
    x, y = ds.x_train[:12].double(), ds.y_train[:12]
    for kind in ("lenet", "resnet"):
        model = lab.models.for_dataset(ds, kind=kind)
        lab.fit(model, ds.select(torch.arange(256)), epochs=1, lr=0.05, progress=False)
        model.double()
        reference = lab.lpntk(model, x, y, method="entk", progress=False)
        K = lab.lpntk(model, x, y, progress=False)
        assert np.abs(K - reference).max() <= 1e-10 * np.abs(reference).max(), kind


def test_cli_demo_runs_offline(capsys):
    assert main(["demo", "--epochs", "1", "--n", "100"]) == 0
    out = capsys.readouterr().out
    assert "lpNTK 100 x 100" in out and "symmetric True" in out


def test_cli_reports_bad_input_in_one_line(capsys):
    assert main(["demo", "--n", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
