"""The model contract as executable checks (in the spirit of scikit-learn's check_estimator).

A model family (bench.config.families) joins the benchmark only when it passes every check here;
tests/test_conformance.py runs them over every registered family, and fails for a family
declared without small settings (``Family.small``).

- ``check_outputs``: shapes, dtypes and ranges of reconstruct / reconstruct_train / latents /
  decode / sample;
- ``check_state_dict_round_trip``: model.pt's state, saved and loaded into a fresh model
  (weights_only), gives the same reconstructions and samples;
- ``check_determinism``: the same seed trains to bitwise the same state; another seed not;
- ``check_resume_after_kill``: a fit killed right after a checkpoint, then resumed in the
  same folder, ends bitwise where an uninterrupted fit ends (families with a training loop).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from bench.config.families import FAMILIES
from bench.core.context import RunContext
from bench.core.model import Model, TrainData
from bench.core.trainer import Trainable

#: settings small enough to train in seconds on 80 32x32 faces, yet exercising every part:
#: each family's own (bench.core.family.Family.small); a family without them is not run
SMALL_SETTINGS = {name: family.small for name, family in FAMILIES.items() if family.small is not None}

Factory = Callable[[], Model]


class Killed(Exception):
    """Stands for SIGKILL in check_resume_after_kill: nothing after it runs."""


class _KillAfterCheckpoint(RunContext):
    def __init__(self, *args, kill_epoch: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kill_epoch = kill_epoch

    def save_checkpoint(self, state, final: bool = False) -> bool:
        wrote = super().save_checkpoint(state, final)
        if wrote and self.curves and self.curves[-1].get("epoch") == self.kill_epoch:
            raise Killed
        return wrote


def _fitted(make: Factory, data: TrainData, seed: int = 0, path: Path | None = None) -> Model:
    model = make()
    model.fit(data, RunContext(path, seed=seed, quiet=True))
    return model


def _tensors(state: dict, prefix: str = "") -> dict[str, Tensor]:
    out = {}
    for k, v in state.items():
        if isinstance(v, Tensor):
            out[prefix + k] = v
        elif isinstance(v, dict):
            out.update(_tensors(v, f"{prefix}{k}."))
    return out


def assert_same_state(a: dict, b: dict) -> None:
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys(), (sorted(ta), sorted(tb))
    for k in ta:
        assert torch.equal(ta[k], tb[k]), f"{k} differs"


def check_outputs(make: Factory, data: TrainData) -> None:
    model = _fitted(make, data)
    c, h, w = data.shape
    n = 6
    x = data.batch(torch.arange(n))
    for name, (x_hat, z) in {"reconstruct": model.reconstruct(x),
                             "reconstruct_train": model.reconstruct_train(torch.arange(n))}.items():
        assert x_hat.shape == (n, c, h, w), f"{name}: images {tuple(x_hat.shape)}"
        assert x_hat.dtype == torch.float32, f"{name}: {x_hat.dtype}"
        assert bool(torch.isfinite(x_hat).all()), name
        if model.bounded_output:
            assert float(x_hat.min()) >= -1 - 1e-5 and float(x_hat.max()) <= 1 + 1e-5, name
        assert z.ndim == 2 and z.shape[0] == n and bool(torch.isfinite(z).all()), name
    z = model.latents()
    assert z.shape[0] == len(data) and z.ndim == 2 and bool(torch.isfinite(z).all())
    decoded = model.decode(z[:n])
    assert decoded.shape == (n, c, h, w)
    samples = model.sample(5, torch.Generator().manual_seed(0))
    assert samples.shape == (5, c, h, w) and bool(torch.isfinite(samples).all())
    if model.bounded_output:
        assert float(samples.min()) >= -1 - 1e-5 and float(samples.max()) <= 1 + 1e-5
    assert float(samples.std()) > 0, "samples are all the same"


def check_state_dict_round_trip(make: Factory, data: TrainData) -> None:
    model = _fitted(make, data)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    fresh = make()
    fresh.train_data = data
    fresh.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    x = data.batch(torch.arange(6))
    assert torch.equal(model.reconstruct(x)[0], fresh.reconstruct(x)[0])
    assert torch.equal(model.reconstruct_train(torch.arange(6))[0],
                       fresh.reconstruct_train(torch.arange(6))[0])
    g = torch.Generator
    assert torch.equal(model.sample(4, g().manual_seed(1)), fresh.sample(4, g().manual_seed(1)))


def check_determinism(make: Factory, data: TrainData) -> None:
    """Same seed, same state; for a family trained by random steps, another seed differs
    (PCA's exact solver has no randomness to seed)."""
    a, b = _fitted(make, data, 3), _fitted(make, data, 3)
    assert_same_state(a.state_dict(), b.state_dict())
    if isinstance(a, Trainable):
        ta, to = _tensors(a.state_dict()), _tensors(_fitted(make, data, 4).state_dict())
        assert any(not torch.equal(ta[k], to[k]) for k in ta), "another seed trained the same model"


def check_resume_after_kill(make: Factory, data: TrainData, folder: Path) -> None:
    """Killed right after epoch 1's checkpoint, then resumed: bitwise the uninterrupted fit."""
    model = make()
    assert isinstance(model, Trainable), "only families with a training loop resume"
    killed_dir = folder / "killed"
    try:
        model.fit(data, _KillAfterCheckpoint(killed_dir, seed=0, quiet=True, kill_epoch=1))
    except Killed:
        pass
    else:
        raise AssertionError("the fit was never killed: it trains fewer than 3 epochs?")
    resumed = make()
    ctx = RunContext(killed_dir, seed=0, quiet=True)
    resumed.fit(data, ctx)
    ctx.close()
    log = (killed_dir / "log.txt").read_text()
    assert "resuming from" in log and "(epoch 1)" in log, log[-500:]
    straight = _fitted(make, data, 0, folder / "straight")
    assert_same_state(resumed.state_dict(), straight.state_dict())
    x = data.batch(torch.arange(6))
    assert torch.equal(resumed.reconstruct(x)[0], straight.reconstruct(x)[0])
