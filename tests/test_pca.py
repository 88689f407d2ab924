"""PCA: the streaming randomized fit agrees with the exact one, and its reconstruction error is
the unexplained variance -- on generated data with a known spectrum and on the embedded LFW
faces (always), and on the shared CelebA images when present."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.pca.model import PCAModel
from bench.core.context import RunContext
from bench.core.model import TrainData, to_float
from bench.core.pca import PCASettings, fit_exact, fit_streaming
from bench.data import get_dataset, load_split
from tests.conftest import need_shared


def _generated(n: int = 3000, side: int = 32) -> np.ndarray:
    """uint8 images with a decaying spectrum: a power-law mix of smooth random patterns."""
    rng = np.random.default_rng(0)
    p = side * side
    basis = np.linalg.qr(rng.normal(size=(p, 256)))[0]  # 256 orthonormal directions
    scale = 60.0 * np.arange(1, 257) ** -0.8
    x = 128 + (rng.normal(size=(n, 256)) * scale) @ basis.T * side
    return np.clip(x, 0, 255).astype(np.uint8).reshape(n, 1, side, side)


@pytest.fixture(scope="module", params=["generated", "lfw25", "celeba32"])
def images(request, tmp_path_factory, cache_dir) -> np.ndarray:
    cache = tmp_path_factory.mktemp("c")
    if request.param == "generated":
        return _generated()
    if request.param == "lfw25":
        return np.array(load_split(get_dataset("lfw25"), "train", None, cache).images)
    root = need_shared("celeba", "list_eval_partition.txt")
    return np.array(load_split(get_dataset("celeba32"), "train", root, cache_dir).images[:3000])


def test_streaming_matches_exact(images):
    x = to_float(torch.from_numpy(images)).flatten(1)
    d = min(64, x.shape[0] // 2)
    exact = fit_exact(x, d)

    def chunks():
        for s in range(0, x.shape[0], 512):
            yield x[s:s + 512]

    stream = fit_streaming(chunks, d, oversample=d, power_iters=10)
    # principal angles between the two d-dim subspaces
    cos = torch.linalg.svdvals(exact.components.double().T @ stream.components.double())
    angles = torch.arccos(cos.clamp(max=1.0))
    assert float(angles.max()) < 1e-3, float(angles.max())
    ev_e, ev_s = float(exact.explained_variance.sum()), float(stream.explained_variance.sum())
    assert abs(ev_e - ev_s) / ev_e < 1e-3
    assert abs(exact.total_variance - stream.total_variance) / exact.total_variance < 1e-6


def test_pca_model_reconstruction_improves_with_d(images):
    imgs = images[:2000]
    n = imgs.shape[0]
    data = TrainData.from_array(imgs)
    errors = []
    k = min(500, n)
    for d in (4, 16, min(64, n // 2)):
        m = PCAModel(PCASettings(d=d), tuple(imgs.shape[1:]))
        m.fit(data, RunContext(None, quiet=True))
        x_hat, codes = m.reconstruct_train(torch.arange(k))
        assert codes.shape == (k, d)
        errors.append(float((x_hat - data.batch(torch.arange(k))).pow(2).mean()))
    assert errors[0] > errors[1] > errors[2]
    # mean squared error = unexplained variance per pixel (on the fitted data)
    full = data.batch(torch.arange(n))
    x_hat, _ = m.reconstruct(full)
    mse = float((x_hat - full).pow(2).sum(dim=(1, 2, 3)).mean())
    unexplained = (m.pca.total_variance - float(m.pca.explained_variance.sum())) * ((n - 1) / n)
    assert abs(mse - unexplained) / unexplained < 1e-3
