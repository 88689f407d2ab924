"""The VAE's objective against torch.distributions: its KL term is KL(q(z|x) || N(0, I)) of
the encoder's Gaussian, its MSE reconstruction term is the Gaussian negative log-likelihood
with variance 1/2 (the module docstring), each enters with the right sign and weight, and
training lowers the negative ELBO it reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from baselines.vae import VAEModel
from baselines.vae.settings import VAESettings
from bench.core.context import RunContext
from bench.core.losses import LossSpec
from bench.core.model import TrainData
from bench.data import get_dataset, load_split

SHAPE = (1, 32, 32)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> TrainData:
    cache = tmp_path_factory.mktemp("c")
    return TrainData.from_array(np.array(load_split(get_dataset("lfw25"), "train", None, cache).images))


def _vae(kl_weight: float = 1.0, loss: str = "mse") -> VAEModel:
    torch.manual_seed(0)
    m = VAEModel(VAESettings(d=8, ngf=8, ndf=8, kl_weight=kl_weight, loss=LossSpec(loss)), SHAPE)
    m.train_nets = m.nets()
    with torch.no_grad():  # an untrained encoder's q is nearly the prior (KL ~ 0): move it off
        g = torch.Generator().manual_seed(2)
        m.encoder.mean.weight.mul_(30)
        m.encoder.mean.bias.copy_(torch.randn(8, generator=g))
        m.encoder.logvar.bias.copy_(torch.rand(8, generator=g) * 2 - 1)
    for net in m.nets().values():
        net.eval()  # batch norm from running statistics: the same numbers on every call
    return m


def _eps(n: int, d: int = 8) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(1))


def test_kl_term_is_the_gaussian_kl_to_the_prior(faces):
    m = _vae()
    x = faces.batch(torch.arange(16))
    out = m.objective(x, _eps(16), RunContext(None, quiet=True))
    with torch.no_grad():
        mu, logvar = m.encoder(x)
    want = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert float(want.min()) > 1.0  # a real test: q is far from the prior
    assert torch.allclose(out["kl"], want, rtol=1e-5, atol=1e-6)


def test_mse_term_is_the_gaussian_nll_with_variance_one_half_and_the_loss_adds_kl(faces):
    m = _vae(kl_weight=0.7)
    x = faces.batch(torch.arange(16))
    eps = _eps(16)
    out = m.objective(x, eps, RunContext(None, quiet=True))
    with torch.no_grad():
        mu, logvar = m.encoder(x)
        x_hat = m.decoder(mu + eps * (0.5 * logvar).exp())
    pixels = math.prod(SHAPE)
    nll = -Normal(x_hat, math.sqrt(0.5)).log_prob(x).flatten(1).sum(1)
    const = 0.5 * pixels * math.log(2 * math.pi * 0.5)  # the NLL's constant part
    assert torch.allclose(out["recon"] * pixels, nll - const, rtol=1e-4, atol=1e-4)
    # loss = mean over images of (reconstruction NLL without its constant + 0.7 x KL)
    want = ((nll - const) + 0.7 * out["kl"]).mean()
    assert torch.allclose(out["loss"], want, rtol=1e-5)
    # both terms count with a positive sign: more KL weight, a larger loss
    heavier = _vae(kl_weight=1.7).objective(x, eps, RunContext(None, quiet=True))
    assert torch.allclose(heavier["loss"] - out["loss"], out["kl"].mean(), rtol=1e-4)


def test_the_training_step_descends_recon_plus_kl(faces):
    # what the loop optimises and logs is recon x C*H*W + KL (kl_weight 1): a step that dropped
    # the KL or flipped its sign would break this identity, on every epoch
    s = VAESettings(d=8, epochs=6, batch_size=40, ngf=8, ndf=8)
    ctx = RunContext(None, quiet=True)
    VAEModel(s, SHAPE).fit(faces, ctx)
    for row in ctx.curves:
        assert row["loss"] == pytest.approx(row["recon"] * math.prod(SHAPE) + row["kl"], rel=1e-4)
        assert row["kl"] > 0
    assert ctx.curves[-1]["loss"] < ctx.curves[0]["loss"]
