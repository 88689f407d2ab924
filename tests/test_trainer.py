"""The one training loop: the plateau stop rule, and that a stop survives a resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.vae import VAEModel
from baselines.vae.settings import VAESettings
from bench.core.context import RunContext
from bench.core.losses import LossSpec
from bench.core.model import TrainData
from bench.core.trainer import StopRule
from bench.data import get_dataset, load_split
from glo import GLOModel
from glo.settings import GLOSettings

SHAPE = (1, 32, 32)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> TrainData:
    cache = tmp_path_factory.mktemp("c")
    return TrainData.from_array(np.array(load_split(get_dataset("lfw25"), "train", None, cache).images))


def test_stop_rule_waits_for_patience_epochs_below_the_threshold():
    rule = StopRule(epochs=100, plateau=0.01, patience=2)
    assert not rule.should_stop([1.0, 0.5])
    assert not rule.should_stop([1.0, 0.5, 0.499])  # one flat epoch is not two
    assert rule.should_stop([1.0, 0.5, 0.499, 0.498])
    assert not rule.should_stop([1.0, 0.5, 0.499, 0.45])  # the last epoch still improved 10%
    assert not rule.should_stop([1.0, 0.99, 0.98, 0.9])
    assert not StopRule(epochs=100).should_stop([1.0, 1.0, 1.0, 1.0])  # plateau 0: fixed epochs


def test_plateau_stops_training_and_a_resume_does_not_train_on(faces, tmp_path):
    s = GLOSettings(d=8, epochs=60, batch_size=40, ngf=8, loss=LossSpec("mse"), init="pca",
                    plateau=0.05, patience=2)
    ctx = RunContext(tmp_path, quiet=True)
    model = GLOModel(s, SHAPE)
    model.fit(faces, ctx)
    ctx.close()
    epochs = len(ctx.curves)
    assert 3 <= epochs < 60, epochs
    losses = [row["loss"] for row in ctx.curves]
    assert all((a - b) / a < 0.05 for a, b in zip(losses[-3:-1], losses[-2:], strict=True))
    assert "plateau" in (tmp_path / "log.txt").read_text()
    again = RunContext(tmp_path, quiet=True)
    resumed = GLOModel(s, SHAPE)
    resumed.fit(faces, again)
    again.close()
    assert len(again.curves) == epochs  # the checkpoint says it stopped: no epoch more
    assert np.array_equal(resumed.codes.numpy(), model.codes.numpy())


def test_plateau_off_trains_every_epoch(faces):
    s = VAESettings(d=8, epochs=4, batch_size=40, ngf=8, ndf=8)
    ctx = RunContext(None, quiet=True)
    VAEModel(s, SHAPE).fit(faces, ctx)
    assert [row["epoch"] for row in ctx.curves] == [0, 1, 2, 3]


def test_weight_init_default_starts_from_pytorch_s_own_initialisation(faces, tmp_path):
    """`--set weight_init=default`: the generator starts from PyTorch's per-layer init, drawn
    from the run's seed (the same seed gives the same weights), not DCGAN's N(0, 0.02)."""
    from bench.core.nets import Generator, dcgan_init, reset_parameters

    torch.manual_seed(0)
    g = Generator(8, 1, 32, 8)
    reset_parameters(g)
    first = next(m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)).weight
    torch.manual_seed(0)
    g2 = Generator(8, 1, 32, 8)
    reset_parameters(g2)
    assert torch.equal(first, next(m for m in g2.modules()
                                   if isinstance(m, torch.nn.ConvTranspose2d)).weight)
    # PyTorch's own: conv weights uniform within 1/sqrt(fan_in), batch-norm scales exactly 1
    fan_in = first.shape[1] * first.shape[2] * first.shape[3]
    assert float(first.abs().max()) <= fan_in ** -0.5
    bn = [m.weight for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and all(bool((w == 1).all()) for w in bn)
    dcgan_init(g2)  # DCGAN's: N(1, 0.02) scales
    assert not all(bool((m.weight == 1).all()) for m in g2.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    # through the one training loop: a run's seed fixes its start; the two inits differ
    runs = {}
    for init in ("default", "dcgan"):
        s = GLOSettings(d=8, epochs=1, batch_size=40, ngf=8, loss=LossSpec("mse"),
                        init="random", weight_init=init)
        outs = []
        for k in range(2):
            m = GLOModel(s, SHAPE)
            m.fit(faces, RunContext(tmp_path / f"{init}{k}", seed=3, quiet=True))
            outs.append(m.generator.state_dict())
        assert all(torch.equal(outs[0][k], outs[1][k]) for k in outs[0])
        runs[init] = outs[0]
    assert any(not torch.equal(runs["default"][k], runs["dcgan"][k]) for k in runs["dcgan"])
