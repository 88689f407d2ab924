"""PCA: the streaming randomized fit agrees with the exact one on real data."""

from __future__ import annotations

import numpy as np
import torch

from baselines.pca.model import PCAModel, fit_exact, fit_streaming
from bench.config import PCASettings
from bench.context import RunContext
from bench.data import get_dataset, load_split
from bench.model import TrainData, to_float


def test_streaming_matches_exact_on_celeba(shared_data, cache_dir):
    imgs = np.array(load_split(get_dataset("celeba32"), "train", shared_data, cache_dir).images[:3000])
    x = to_float(torch.from_numpy(imgs)).flatten(1)
    d = 64
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


def test_pca_model_reconstruction_improves_with_d(shared_data, cache_dir):
    imgs = np.array(load_split(get_dataset("celeba32"), "train", shared_data, cache_dir).images[:2000])
    data = TrainData.from_array(imgs)
    errors = []
    for d in (8, 32, 128):
        m = PCAModel(PCASettings(d=d), (3, 32, 32))
        m.fit(data, RunContext(None, quiet=True))
        x_hat, codes = m.reconstruct_train(torch.arange(500))
        assert codes.shape == (500, d)
        errors.append(float((x_hat - data.batch(torch.arange(500))).pow(2).mean()))
    assert errors[0] > errors[1] > errors[2]
    # mean squared error = unexplained variance per pixel (on the fitted data)
    full = data.batch(torch.arange(2000))
    x_hat, _ = m.reconstruct(full)
    mse = float((x_hat - full).pow(2).sum(dim=(1, 2, 3)).mean())
    unexplained = (m.pca.total_variance - float(m.pca.explained_variance.sum())) * (1999 / 2000)
    assert abs(mse - unexplained) / unexplained < 1e-3
