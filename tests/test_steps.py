"""The step budget (--steps, the paper profile's 31,800): every neural family trains exactly
N optimiser steps, the last epoch partial; a budget of k full epochs is bitwise k epochs;
an interrupted budget run resumes to the same end; the budget is part of the run's identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from baselines.dcgan import GANModel
from baselines.dcgan.settings import GANSettings
from baselines.vae import VAEModel
from baselines.vae.settings import VAESettings
from bench.cli import main
from bench.config.resolve import PAPER_STEPS, resolve
from bench.config.spec import Overrides, RunSpec
from bench.core.context import RunContext
from bench.core.losses import LossSpec
from bench.core.model import TrainData
from bench.data import get_dataset, load_split
from bench.runtime.errors import BenchError
from glo import GLOModel
from glo.settings import GLOSettings

SHAPE = (1, 32, 32)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> TrainData:
    cache = tmp_path_factory.mktemp("c")
    return TrainData.from_array(np.array(load_split(get_dataset("lfw25"), "train", None, cache).images))


def glo(**kw) -> GLOSettings:
    return GLOSettings(**{"d": 8, "batch_size": 32, "ngf": 8, "loss": LossSpec("mse"),
                          "init": "random", **kw})


def test_glo_budget_trains_exactly_n_steps_the_last_epoch_partial(faces):
    # 80 images in batches of 32: 3 steps an epoch (32, 32, 16); 7 steps = 2 epochs + 1 step
    ctx = RunContext(None, quiet=True)
    GLOModel(glo(steps=7), SHAPE).fit(faces, ctx)
    assert [row["step"] for row in ctx.curves] == [3, 6, 7]
    assert [row["epoch"] for row in ctx.curves] == [0, 1, 2]


def test_budget_of_whole_epochs_is_bitwise_those_epochs(faces):
    by_steps, by_epochs = GLOModel(glo(steps=6), SHAPE), GLOModel(glo(epochs=2), SHAPE)
    by_steps.fit(faces, RunContext(None, quiet=True))
    by_epochs.fit(faces, RunContext(None, quiet=True))
    assert torch.equal(by_steps.codes, by_epochs.codes)
    for a, b in zip(by_steps.generator.parameters(), by_epochs.generator.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_budget_run_interrupted_resumes_to_the_same_end(faces, tmp_path):
    whole = GLOModel(glo(steps=8), SHAPE)
    whole.fit(faces, RunContext(None, quiet=True))
    # the same run folder first trained a shorter budget (its checkpoint is the state after
    # epoch 2 of 3, as a kill there would leave it), then the full one resumes from it
    GLOModel(glo(steps=6), SHAPE).fit(faces, RunContext(tmp_path, quiet=True))
    resumed = GLOModel(glo(steps=8), SHAPE)
    ctx = RunContext(tmp_path, quiet=True)
    resumed.fit(faces, ctx)
    ctx.close()
    assert "resuming from" in (tmp_path / "log.txt").read_text()
    assert ctx.curves[-1]["step"] == 8
    assert torch.equal(resumed.codes, whole.codes)


def test_gan_budget_counts_generator_steps_and_vae_adam_steps(faces):
    gan = GANModel(GANSettings(d=8, steps=5, batch_size=32, ngf=8, ndf=8), SHAPE)
    gan.fit(faces, RunContext(None, quiet=True))
    for name in ("opt_g", "opt_d"):
        (state,) = [s for s in gan.optimizers[name].state.values()][:1]
        assert int(state["step"]) == 5, name
    vae = VAEModel(VAESettings(d=8, steps=4, batch_size=32, ngf=8, ndf=8), SHAPE)
    ctx = RunContext(None, quiet=True)
    vae.fit(faces, ctx)
    state = next(iter(vae.optimizers["opt"].state.values()))
    assert int(state["step"]) == 4 and ctx.curves[-1]["step"] == 4


def _resolve(method="glo-mse-pca", n=10_000, **kw):
    spec_kw = {k: kw.pop(k) for k in ("profile",) if k in kw}
    return resolve(RunSpec("celeba64", **spec_kw, overrides=Overrides(**kw)), method, n, 64)


def test_paper_profile_trains_the_papers_step_count_on_any_subset():
    assert PAPER_STEPS == 31_800  # 25 epochs x ceil(162,770 / 128)
    for n in (10_000, 162_770, 500):
        cfg = _resolve(n=n, profile="paper")
        assert cfg.model.steps == PAPER_STEPS and cfg.model.batch_size == 128
        per_epoch = n // 128 + (n % 128 >= 2)
        assert cfg.model.epochs == -(-PAPER_STEPS // per_epoch)
    assert _resolve("pca", profile="paper").model.d == 256  # PCA has no step budget
    assert _resolve(profile="paper", epochs=3).model.steps == 0  # --epochs asks for epochs


def test_steps_override_turns_the_cpu_plateau_off_and_says_how_the_last_epoch_ends():
    cpu = _resolve()
    assert cpu.model.steps == 0 and cpu.model.plateau > 0
    cfg = _resolve(steps=31_800)
    assert cfg.model.steps == 31_800 and cfg.model.plateau == 0.0
    assert cfg.model.epochs == 203  # 157 steps an epoch at batch 64
    assert any("203 epochs of 157 steps, the last one partial (86 of its 157" in n
               for n in cfg.notes)
    assert _resolve(steps=1000, plateau=0.02).model.plateau == 0.02  # explicit: kept
    gan = _resolve("gan-mse", steps=500)
    assert gan.model.steps == 500
    with pytest.raises(BenchError, match="not both"):
        _resolve(steps=10, epochs=2)


def test_steps_is_recorded_and_changes_the_run_id(tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"

    def run(*extra):
        r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "vae-mse",
                                      "--out", str(out), "--cache-dir", str(cache), "--quiet",
                                      "--eval-train-n", "8", "--eval-test-n", "8", *extra])
        assert r.exit_code == 0, r.output

    run("--steps", "5")
    run("--steps", "6")
    dirs = sorted((out / "lfw25").iterdir())
    assert len(dirs) == 2
    cfgs = [json.loads((d / "config.json").read_text())["config"] for d in dirs]
    assert sorted(c["model"]["steps"] for c in cfgs) == [5, 6]
    for d, c in zip(dirs, cfgs, strict=True):
        curves = (d / "curves.csv").read_text().splitlines()
        step_col = curves[0].split(",").index("step")
        assert int(curves[-1].split(",")[step_col]) == c["model"]["steps"]


def test_gan_real_label_is_the_discriminators_target_for_real_images(faces):
    """--set real_label=0.9 (one-sided label smoothing): D's loss on the first step is
    BCE(D(real), 0.9) + BCE(D(fake), 0), computed here from D's logits before that step."""
    import torch.nn.functional as F

    from bench.core.trainer import Batch

    for target in (1.0, 0.9):
        torch.manual_seed(0)
        gan = GANModel(GANSettings(d=8, batch_size=32, ngf=8, ndf=8, real_label=target), SHAPE)
        gan.optimizers = gan.make_optimizers()
        gan.train_nets = gan.nets()
        idx = torch.arange(32)
        x = faces.batch(idx)
        gen = torch.Generator().manual_seed(5)
        z = torch.randn(32, 8, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            d_real = gan.discriminator(x).float()
            d_fake = gan.discriminator(gan.generator(z)).float()
        want = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, target))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        out = gan.train_step(Batch(idx, x, gen, 0), RunContext(None, quiet=True))
        assert float(out["loss_d"]) == pytest.approx(float(want), rel=1e-5), target
