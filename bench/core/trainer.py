"""The one training loop. GLO, the GAN and the VAE train through it; PCA keeps its streaming fit.

The trainer owns what every family would otherwise repeat: seeding and the order of weight
initialisation, the epoch loop and its data order, checkpoint/resume (nets, optimisers, the
family's own state, RNG, epoch, curves, the stop rule's state), precision (autocast), DDP
wrapping, divergence checks, progress and the stop rule (fixed epochs, or a plateau).

A family (a ``Trainable``) supplies only what is its own:

- ``nets()``: its trained modules by name, in initialisation order;
- ``make_optimizers()``: its optimisers by name;
- ``begin(data, run)``: state beyond the nets on a fresh start (GLO: the initial codes);
- ``train_step(batch, run)``: one batch; returns the values to log. Every key that starts
  with ``loss`` is checked for divergence (and averaged over ranks under torch.distributed);
- ``extra_state(run)`` / ``load_extra_state(state, data, run)``: what else a checkpoint holds;
- ``finish(data, run)``: after the last epoch (GLO: gather the codes, recalibrate batch norm).

Resume is exact: the data order and noise of an epoch depend only on (seed, epoch), and the
checkpoint carries the global RNG state, so a run killed after a checkpoint ends bitwise
where an uninterrupted one does (tests/test_conformance.py).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from bench.core.context import RunContext, progress_disabled
from bench.core.model import Model, TrainData
from bench.core.nets import dcgan_init, reset_parameters


@dataclass(frozen=True)
class StopRule:
    """Train ``epochs`` epochs, or a budget of ``steps`` optimiser steps, or fewer: with
    ``plateau`` > 0, stop once the monitored epoch loss improved by less than ``plateau``
    (relative, e.g. 0.01 = 1%) ``patience`` epochs in a row.

    With ``steps`` > 0 the budget decides: ceil(steps / steps_per_epoch) epochs, the last
    one partial -- it draws its full shuffled order and trains on the first batches only,
    so the first k steps of any epoch are the same whatever the budget. ``epochs`` is
    ignored then (bench.config.resolve sets it to that count for the record)."""

    epochs: int
    plateau: float = 0.0
    patience: int = 2
    steps: int = 0

    def epochs_for(self, per_epoch: int) -> int:
        """How many epochs (the last possibly partial) this rule trains."""
        return math.ceil(self.steps / max(per_epoch, 1)) if self.steps else self.epochs

    def should_stop(self, history: list[float]) -> bool:
        if self.plateau <= 0 or len(history) <= self.patience:
            return False
        recent = history[-(self.patience + 1):]
        for before, after in zip(recent[:-1], recent[1:], strict=True):
            if not (math.isfinite(before) and before > 0):
                return False
            if (before - after) / before >= self.plateau:
                return False
        return True


@dataclass
class Batch:
    """One training batch as a family's step sees it."""

    idx: Tensor  # indices into the training set (global, on the data's device)
    x: Tensor  # the images, float in [-1, 1]
    generator: torch.Generator  # the epoch's generator: noise drawn from it is replayed on resume
    step: int  # global step number


class Trainable(Model):
    """A model family trained by gradient steps through the one Trainer."""

    #: the curve key the plateau rule watches (None: this family has no such loss)
    monitor: str | None = "loss"
    #: epoch values are means over "batches", or over "images" (weighted by batch size)
    curve_weighting: str = "batches"
    #: nets whose batch-norm buffers stay per rank under torch.distributed (not broadcast)
    local_buffer_nets: tuple[str, ...] = ()

    optimizers: dict[str, torch.optim.Optimizer]
    train_nets: dict[str, nn.Module]  # the nets as train_step should call them (DDP-wrapped)

    @abstractmethod
    def nets(self) -> dict[str, nn.Module]:
        """The trained modules by name, in initialisation order."""

    @abstractmethod
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Fresh optimisers by name (their state is checkpointed under these names)."""

    @abstractmethod
    def train_step(self, batch: Batch, run: RunContext) -> dict[str, Tensor | float]:
        """One optimisation step on ``batch``; the values to log for it."""

    def stop_rule(self) -> StopRule:
        s = self.settings
        return StopRule(s.epochs, getattr(s, "plateau", 0.0), getattr(s, "patience", 2),
                        getattr(s, "steps", 0))

    def init_weights(self) -> None:
        """Called right after seeding, before the optimisers exist: DCGAN's initialisation, or,
        where the settings say ``weight_init="default"``, PyTorch's own for every layer, drawn
        afresh from the run's seed."""
        default = getattr(self.settings, "weight_init", "dcgan") == "default"
        for net in self.nets().values():
            if default:
                reset_parameters(net)
            else:
                dcgan_init(net)

    def begin(self, data: TrainData, run: RunContext) -> None:
        """A fresh start (no checkpoint): state beyond the nets and optimisers."""

    def extra_state(self, run: RunContext) -> dict:
        """What a checkpoint holds besides nets, optimisers, epoch, RNG and curves."""
        return {}

    def load_extra_state(self, state: dict, data: TrainData, run: RunContext) -> None:
        """The inverse of extra_state, on resume."""

    def finish(self, data: TrainData, run: RunContext) -> None:
        """After the last epoch. Default: every rank takes rank 0's batch-norm statistics."""
        for name, net in self.nets().items():
            if name not in self.local_buffer_nets:
                run.dist.broadcast_buffers(net)

    def fit(self, data: TrainData, run: RunContext) -> None:
        Trainer(run).fit(self, data)

    # model.pt: the nets plus whatever the family adds
    def model_extra_state(self) -> dict:
        return {}

    def load_model_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {**{name: net.state_dict() for name, net in self.nets().items()},
                **self.model_extra_state()}

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.nets().items():
            net.load_state_dict(state[name])
        self.load_model_extra_state(state)


class Trainer:
    """Runs a Trainable's epochs under one RunContext (see the module docstring)."""

    def __init__(self, run: RunContext) -> None:
        self.run = run

    def fit(self, model: Trainable, data: TrainData) -> None:
        run, dist = self.run, self.run.dist
        model.train_data = data
        model.precision = run.precision
        torch.manual_seed(run.seed)
        model.init_weights()
        model.optimizers = model.make_optimizers()
        nets = model.nets()
        rule = model.stop_rule()
        batch_size = model.settings.batch_size
        state = run.load_checkpoint()
        if state is not None:
            for name, net in nets.items():
                net.load_state_dict(state[name])
            for name, opt in model.optimizers.items():
                opt.load_state_dict(state[name])
            model.load_extra_state(state, data, run)
            start, stopped = state["epoch"] + 1, bool(state.get("stopped", False))
        else:
            model.begin(data, run)
            start, stopped = 0, False
        model.train_nets = {name: (dist.wrap_local_buffers(net) if name in model.local_buffer_nets
                                   else dist.wrap(net)) for name, net in nets.items()}
        for net in nets.values():
            net.train()
        if rule.plateau > 0 and model.monitor is None:
            run.log(f"note: plateau stop does not apply to {type(model).__name__} (no monitored "
                    f"loss): it trains the full {rule.epochs} epochs")
            rule = StopRule(rule.epochs, steps=rule.steps)
        history = [row[model.monitor] for row in run.curves
                   if model.monitor is not None and model.monitor in row]
        per_epoch = data.steps_per_epoch(batch_size, dist)
        n_epochs = rule.epochs_for(per_epoch)
        step = start * per_epoch
        epochs = range(start, n_epochs) if not stopped else range(0)
        bar = tqdm(epochs, total=n_epochs, initial=start, unit="epoch", leave=False,
                   desc=type(model).__name__, disable=progress_disabled(run.quiet))
        for epoch in bar:
            gen = run.epoch_generator(epoch)
            sums: dict[str, float] = {}
            weight = 0
            for idx in data.epoch_batches(batch_size, gen, dist):
                if rule.steps and step >= rule.steps:
                    break  # the budget ends inside this (last) epoch
                values = model.train_step(Batch(idx, data.batch(idx), gen, step), run)
                w = idx.numel() if model.curve_weighting == "images" else 1
                for key, value in values.items():
                    v = run.check_finite(value, step) if key.startswith("loss") else float(value)
                    sums[key] = sums.get(key, 0.0) + v * w
                weight += w
                step += 1
            means = {k: v / max(weight, 1) for k, v in sums.items()}
            run.record(epoch=epoch, step=step, **means)
            if model.monitor is not None:
                history.append(means[model.monitor])
            stopped = rule.should_stop(history)
            if stopped:
                run.log(f"plateau: {model.monitor} improved < {rule.plateau:.2%} per epoch for "
                        f"{rule.patience} epochs; stopping after epoch {epoch + 1} of {n_epochs}")
            final = stopped or epoch == n_epochs - 1
            bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()}, refresh=False)
            run.save_checkpoint(
                lambda epoch=epoch, stopped=stopped: {
                    **{n: net.state_dict() for n, net in nets.items()},
                    **{n: opt.state_dict() for n, opt in model.optimizers.items()},
                    **model.extra_state(run), "epoch": epoch, "stopped": stopped},
                final=final)
            if stopped:
                break
        bar.close()
        model.finish(data, run)
