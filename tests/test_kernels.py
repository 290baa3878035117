"""The kernel engine against its reference, with the properties a kernel must have."""

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import lpntk_lab as lab
from lpntk_lab.kernels import capture, engine, tiles
from lpntk_lab.kernels.parts import Factored

from kernel_models import cases

EXACT = ("factored", "per_sample", "auto")
CASES = cases()


def rel_err(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def labels_for(model, x, seed=0):
    num_classes = model.eval()(x).shape[1]
    return torch.randint(0, num_classes, (len(x),), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    model, x = CASES[request.param]
    y = labels_for(model, x)
    reference = lab.lpntk(model, x, y, method="entk", progress=False)
    return request.param, model, x, y, reference


@pytest.mark.parametrize("method", EXACT)
def test_exact_methods_match_the_entk_reference(case, method):
    _, model, x, y, reference = case
    K = lab.lpntk(model, x, y, method=method, progress=False)
    assert K.dtype == np.float64 and K.shape == (len(x), len(x))
    assert rel_err(K, reference) <= 1e-10


def test_kernel_is_symmetric_psd_and_nonzero(case):
    _, model, x, y, _ = case
    K = lab.lpntk(model, x, y, progress=False)
    np.testing.assert_array_equal(K, K.T)
    eig = np.linalg.eigvalsh(K)
    assert eig.max() > 0
    assert eig.min() >= -1e-10 * eig.max()


def test_reference_is_the_contraction_of_the_entk_blocks(case):
    _, model, x, y, reference = case
    theta = lab.entk(model, x, progress=False)
    s = 2 * np.eye(theta.shape[-1])[y.numpy()] - 1
    np.testing.assert_allclose(np.einsum("ijab,ia,jb->ij", theta, s, s), reference, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(theta, theta.transpose(1, 0, 3, 2), rtol=1e-12, atol=1e-14)


def test_pntk_is_the_block_sum_over_c(case):
    _, model, x, _, _ = case
    theta = lab.entk(model, x, progress=False)
    P = lab.pntk(model, x, progress=False)
    assert rel_err(P, theta.sum(axis=(2, 3)) / theta.shape[-1]) <= 1e-10


def test_cross_kernel_is_the_matching_block(case):
    _, model, x, y, reference = case
    K = lab.lpntk(model, x[:4], y[:4], x2=x[4:], y2=y[4:], progress=False)
    assert K.shape == (4, len(x) - 4)
    assert rel_err(K, reference[:4, 4:]) <= 1e-10
    theta = lab.entk(model, x[:4], x[4:], progress=False)
    np.testing.assert_allclose(theta, lab.entk(model, x, progress=False)[:4, 4:], rtol=1e-10, atol=1e-14)


def test_features_reproduce_the_kernel(case):
    _, model, x, y, reference = case
    F = lab.kernels.features(model, x, y, progress=False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert F.shape == (len(x), trainable)
    assert rel_err(F @ F.T, reference) <= 1e-10


def test_within_class_blocks_match_the_full_kernel(case):
    _, model, x, y, reference = case
    W = lab.lpntk(model, x, y, within_class=True, progress=False)
    for k, idx in W.indices.items():
        assert (y.numpy()[idx] == k).all()
        assert rel_err(W[k], reference[np.ix_(idx, idx)]) <= 1e-10
    np.testing.assert_allclose(W.diagonal(), np.diag(reference), rtol=1e-10)


def test_model_mode_parameters_and_grads_are_left_as_they_were():
    model, x = CASES["batchnorm-dropout"]
    y = labels_for(model, x)
    model.train()
    model[1].eval()  # a mixed state must come back mixed
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for method in ("factored", "per_sample", "entk", "projected"):
        lab.lpntk(model, x, y, method=method, progress=False)
    lab.entk(model, x, progress=False)
    lab.kernels.features(model, x, y, progress=False)
    assert model.training and not model[1].training and model[5].training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())


def test_float32_model_is_accurate_and_returns_float64():
    model, x = CASES["cnn-pool"]
    y = labels_for(model, x)
    reference = lab.lpntk(model, x, y, method="entk", progress=False)
    K32 = lab.lpntk(copy.deepcopy(model).float(), x.float(), y, progress=False)
    assert K32.dtype == np.float64
    assert rel_err(K32, reference) < 1e-5


def test_tiles_and_recomputation_give_the_same_kernel():
    model, x = CASES["mlp"]
    y = labels_for(model, x)
    whole = lab.lpntk(model, x, y, progress=False)
    tiled = lab.lpntk(model, x, y, batch_size=3, progress=False)
    np.testing.assert_allclose(tiled, whole, rtol=1e-12)
    with engine.evaluating(model, "cpu") as m:
        c = engine.sign_vectors(y, 4, torch.float64)
        layout = capture.plan(m)
        uncached = tiles.kernel(lambda xb, cb: capture.parts(m, layout, xb, cb), x, c, block=2, cache_bytes=0)
    np.testing.assert_allclose(uncached, whole, rtol=1e-12)


def test_out_fills_a_memmap(tmp_path):
    model, x = CASES["mlp"]
    y = labels_for(model, x)
    out = np.lib.format.open_memmap(tmp_path / "K.npy", mode="w+", dtype=np.float64, shape=(len(x), len(x)))
    K = lab.lpntk(model, x, y, out=out, batch_size=4, progress=False)
    assert K is out
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "K.npy"), lab.lpntk(model, x, y, progress=False), rtol=1e-12)


def test_factored_route_uses_outer_products_and_positions():
    model, x = CASES["sequence"]
    layout = capture.plan(model)
    y = labels_for(model, x)
    with engine.evaluating(model, "cpu") as m:
        parts = capture.parts(m, layout, x, engine.sign_vectors(y, 4, torch.float64))
    assert [type(p) for p in parts] == [Factored, Factored]
    assert parts[0].u.shape == (len(x), 2, 40) and parts[0].bias  # two positions
    assert parts[1].u.shape == (len(x), 1, 100) and parts[1].delta.shape == (len(x), 1, 4)


def test_shared_module_frozen_and_tied_parameters_are_planned_correctly():
    shared, _ = CASES["shared-frozen-unused"]
    layout = capture.plan(shared)
    assert shared.layer in layout.hooked and shared.unused in layout.hooked and shared.head in layout.hooked
    assert shared.frozen not in layout.hooked
    assert layout.other == ("scale",)
    tied, _ = CASES["tied"]
    layout = capture.plan(tied)
    assert layout.hooked == ()
    assert set(layout.other) == {"enc.weight", "enc.bias", "dec.bias"}


def test_within_class_never_forwards_two_classes_together():
    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.seen = []

        def forward(self, x):
            self.seen.append(set(x[:, 0].round().long().tolist()))
            return self.fc(x)

    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    x = torch.cat([y[:, None].float(), torch.randn(9, 2)], dim=1)
    model = Recorder()
    lab.lpntk(model, x, y, within_class=True, batch_size=2, progress=False)
    assert model.seen and all(len(s) == 1 for s in model.seen)


def test_projection_is_seeded_unbiased_and_sharpens_with_dimension():
    model, x = CASES["batchnorm-dropout"]
    y = labels_for(model, x)
    exact = lab.lpntk(model, x, y, progress=False)
    a = lab.lpntk(model, x, y, method="projected", proj_dim=256, seed=3, progress=False)
    b = lab.lpntk(model, x, y, method="projected", proj_dim=256, seed=3, progress=False)
    np.testing.assert_array_equal(a, b)
    errors = {
        d: np.mean([rel_err(lab.lpntk(model, x, y, method="projected", proj_dim=d, seed=s, progress=False), exact)
                    for s in range(4)])
        for d in (64, 4096)
    }
    assert errors[4096] < errors[64] / 3
    assert errors[4096] < 0.1
    mean_of_sketches = np.mean(
        [lab.lpntk(model, x, y, method="projected", proj_dim=64, seed=s, progress=False) for s in range(200)], axis=0
    )
    assert rel_err(mean_of_sketches, exact) < errors[64] / 4  # unbiased: averaging sketches converges
    F = lab.kernels.features(model, x, y, proj_dim=256, seed=3, progress=False)
    assert F.shape == (len(x), 256)
    np.testing.assert_allclose(F @ F.T, a, rtol=1e-10, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    widths=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    num_classes=st.integers(2, 10),
    n=st.integers(1, 7),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_random_mlps_match_the_reference(widths, num_classes, n, bias, seed):
    torch.manual_seed(seed)
    sizes = [5, *widths, num_classes]
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    model = nn.Sequential(*layers).double()
    x = torch.randn(n, 5, dtype=torch.float64)
    y = torch.randint(0, num_classes, (n,))
    reference = lab.lpntk(model, x, y, method="entk", progress=False)
    for method in ("factored", "per_sample"):
        K = lab.lpntk(model, x, y, method=method, progress=False)
        np.testing.assert_allclose(K, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max())
    eig = np.linalg.eigvalsh(reference)
    assert eig.min() >= -1e-10 * max(eig.max(), 1e-300)


def test_lpntk_flips_sign_with_one_label_and_ignores_a_constant_logit_shift():
    model, x = CASES["mlp"]
    y = labels_for(model, x)
    K = lab.lpntk(model, x[:2], y[:2], x2=x[:2], y2=y[:2], progress=False)
    other = (y[:2] + 1) % 4
    # with C classes, s(y)·s(y') = C - 4 when y != y'; the kernel depends on the labels as stated
    K_other = lab.lpntk(model, x[:2], y[:2], x2=x[:2], y2=other, progress=False)
    assert not np.allclose(K, K_other)
    theta = lab.entk(model, x[:2], progress=False)
    s = 2 * np.eye(4)[y[:2].numpy()] - 1
    t = 2 * np.eye(4)[other.numpy()] - 1
    np.testing.assert_allclose(K_other, np.einsum("ijab,ia,jb->ij", theta, s, t), rtol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    model, x = CASES["batchnorm-dropout"]
    y = labels_for(model, x)
    cpu = lab.lpntk(model, x, y, device="cpu", progress=False)
    gpu = lab.lpntk(model, x, y, device="cuda", progress=False)
    assert next(model.parameters()).device.type == "cpu"
    assert rel_err(gpu, cpu) <= 1e-10


@settings(max_examples=12, deadline=None)
@given(
    channels=st.integers(1, 6),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 1),
    bias=st.booleans(),
    pool=st.booleans(),
    num_classes=st.integers(2, 10),
    seed=st.integers(0, 2**16),
)
def test_property_random_cnns_match_the_reference(channels, kernel, stride, padding, bias, pool, num_classes, seed):
    torch.manual_seed(seed)
    conv = nn.Conv2d(2, channels, kernel, stride=stride, padding=padding, bias=bias)
    body = nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2) if pool else nn.Identity(), nn.Flatten()).double()
    x = torch.randn(5, 2, 6, 6, dtype=torch.float64)
    width = body(x).shape[1]
    model = nn.Sequential(body, nn.Linear(width, num_classes, bias=bias).double())
    y = torch.randint(0, num_classes, (5,))
    reference = lab.lpntk(model, x, y, method="entk", progress=False)
    K = lab.lpntk(model, x, y, method="factored", progress=False)
    np.testing.assert_allclose(K, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max())


class BatchFolding(nn.Module):
    """Moves the batch out of dimension 0 around a Linear: hooks cannot tell samples apart."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x.unsqueeze(0))[0]


def test_auto_and_projected_fall_back_when_hooks_cannot_follow_the_model():
    torch.manual_seed(0)
    model = BatchFolding().double()
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    reference = lab.lpntk(model, x, y, method="entk", progress=False)
    with pytest.raises(capture.UnsupportedModel, match="per_sample"):
        lab.lpntk(model, x, y, method="factored", progress=False)
    assert rel_err(lab.lpntk(model, x, y, method="auto", progress=False), reference) <= 1e-10
    sketch = lab.lpntk(model, x, y, method="projected", proj_dim=20_000, progress=False)
    assert rel_err(sketch, reference) < 0.1


def test_centred_signs_match_the_reference():
    model, x = CASES["mlp"]
    y = labels_for(model, x)
    theta = lab.entk(model, x, progress=False)
    s = 2 * (np.eye(4)[y.numpy()] - 1 / 4)
    K = lab.lpntk(model, x, y, centred=True, progress=False)
    np.testing.assert_allclose(K, np.einsum("ijab,ia,jb->ij", theta, s, s), rtol=1e-10, atol=1e-12)
    F = lab.kernels.features(model, x, y, centred=True, progress=False)
    np.testing.assert_allclose(F @ F.T, K, rtol=1e-10, atol=1e-12)


def test_projection_streams_do_not_coincide_with_small_user_seeds():
    from lpntk_lab.kernels.parts import gaussian

    for index in range(3):
        for column in range(2):
            drawn = gaussian((4, 8), (0, index, column), dtype=torch.float64, device="cpu")
            for user_seed in range(8):
                user = torch.randn(4, 8, generator=torch.Generator().manual_seed(user_seed), dtype=torch.float64)
                assert not torch.allclose(drawn[0], user[0])
