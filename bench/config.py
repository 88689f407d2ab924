"""Run configuration: the nine Table-1 methods, per-model settings, profiles, run ids.

A run is fully described by a RunConfig. Its id is a hash of the resolved config, the
data fingerprint and the code version, so a finished run is found again (and skipped)
exactly when nothing that could change its numbers has changed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from bench.context import default_precision
from bench.errors import BenchError
from bench.losses import DEFAULT_LAP1, LAP1_VARIANTS, LapSettings, LossSpec
from bench.overrides import EVAL_PREFIX, set_path, typed
from bench.spec import RunSpec

# Table 1's rows, in the paper's order: method -> (model family, settings that differ).
METHODS: dict[str, tuple[str, dict[str, str]]] = {
    "pca": ("pca", {}),
    "gan-mse": ("gan", {"loss": "mse"}),
    "gan-lap1": ("gan", {"loss": "lap1"}),
    "vae-mse": ("vae", {"loss": "mse"}),
    "vae-lap1": ("vae", {"loss": "lap1"}),
    "glo-mse-random": ("glo", {"loss": "mse", "init": "random"}),
    "glo-mse-pca": ("glo", {"loss": "mse", "init": "pca"}),
    "glo-lap1-random": ("glo", {"loss": "lap1", "init": "random"}),
    "glo-lap1-pca": ("glo", {"loss": "lap1", "init": "pca"}),
}
TABLE1_METHODS: tuple[str, ...] = tuple(METHODS)
ALL = 0  # an eval count meaning: every image of the split
PROFILES = ("cpu", "paper")


@dataclass(frozen=True)
class InversionSettings:
    """Optimise codes with the generator frozen (Adam), keeping each image's best restart."""

    steps: int = 500
    lr: float = 0.1
    restarts: int = 2
    batch_size: int = 256
    # after this fraction of the steps only each image's best restart goes on (1.0: all do)
    keep_best_after: float = 0.25
    # an image stops once its loss falls by less than this fraction over 10 steps (0: never)
    converged_rel: float = 1e-3


@dataclass(frozen=True)
class PCASettings:
    d: int = 256
    solver: Literal["auto", "exact", "streaming"] = "auto"
    oversample: int = 0  # extra columns in the range finder; 0: as many as d (l = 2d)
    power_iters: int = 10
    chunk_rows: int = 2048


@dataclass(frozen=True)
class GLOSettings:
    d: int = 256
    epochs: int = 25
    steps: int = 0  # > 0: train exactly this many SGD steps (epochs follow; see StopRule)
    batch_size: int = 128
    lr_g: float = 1.0  # SGD, generator (paper)
    lr_z: float = 10.0  # SGD, codes (paper)
    plateau: float = 0.0  # > 0: stop early once the epoch loss improves by less (relative)
    patience: int = 2  # ... this many epochs in a row (bench.trainer.StopRule)
    loss: LossSpec = LossSpec("lap1")
    init: Literal["random", "pca"] = "pca"
    ngf: int = 64
    invert: InversionSettings = InversionSettings(steps=500, lr=0.05, restarts=2)


@dataclass(frozen=True)
class GANSettings:
    d: int = 256
    epochs: int = 25
    steps: int = 0  # > 0: exactly this many generator steps (one D step each)
    batch_size: int = 128
    lr: float = 2e-4  # Adam, both nets (Radford et al.)
    beta1: float = 0.5
    ngf: int = 64
    ndf: int = 64
    # the discriminator's target for real images: 1.0 (DCGAN), or e.g. 0.9 for one-sided
    # label smoothing (Salimans et al. 2016), which keeps D from saturating
    real_label: float = 1.0
    loss: LossSpec = LossSpec("mse")  # the inversion loss: Table 1's "GAN, MSE" / "GAN, Lap1"
    invert: InversionSettings = InversionSettings()


@dataclass(frozen=True)
class VAESettings:
    d: int = 256
    epochs: int = 25
    steps: int = 0  # > 0: exactly this many Adam steps
    batch_size: int = 128
    lr: float = 1e-3  # Adam
    loss: LossSpec = LossSpec("mse")
    kl_weight: float = 1.0  # per image: loss_mean * C*H*W + kl_weight * KL
    plateau: float = 0.0  # as GLOSettings.plateau
    patience: int = 2
    ngf: int = 64
    ndf: int = 64


FAMILY_SETTINGS = {"pca": PCASettings, "glo": GLOSettings, "gan": GANSettings, "vae": VAESettings}
ModelSettings = PCASettings | GLOSettings | GANSettings | VAESettings


@dataclass(frozen=True)
class EvalSettings:
    train_n: int = ALL  # images of each split measured (a seeded subset); ALL (0): every one
    test_n: int = ALL
    heldout: str | None = None  # a dataset measured as held-out (e.g. lfw64 for celeba64)
    heldout_n: int = ALL
    lap: LapSettings = LapSettings()
    n_samples: int = 64
    # sample quality (FID/KID/precision-recall, only when the Inception weights are present):
    # this many samples against as many test images (ALL: as many as the test split has),
    # and as many scored training images' reconstructions against their originals
    fid_n: int = ALL
    # GLO: scored training images re-inverted with the generator frozen, to check the codes
    # (at most as many as test images scored)
    codes_check_n: int = 500
    # ... re-inverted with the model's own training loss, or with MSE
    codes_check_loss: Literal["own", "mse"] = "own"


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    method: str
    family: str
    model: ModelSettings
    seed: int = 0
    profile: str = "cpu"
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 (autocast; the default on CUDA and native-bf16 CPUs)
    subset: int | None = None  # first N training images only
    eval: EvalSettings = field(default_factory=EvalSettings)
    min_steps: int = 0  # epochs raised so tiny datasets still get this many steps
    world_size: int = 1  # processes training it (torch.distributed); part of the run's identity
    notes: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()  # the `--set KEY=VALUE` assignments applied to this run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        m = self.model
        parts = [f"d={m.d}"]
        for name in ("steps", "epochs", "batch_size", "ngf"):
            if getattr(m, name, 0):
                parts.append(f"{name}={getattr(m, name)}")
        return ", ".join(parts)


#: the cpu profile's stop rule for GLO and the VAE: the issue's "plateau" (< 1% better per
#: epoch), twice in a row, within at most this many epochs
CPU_PLATEAU = 0.01
CPU_MAX_EPOCHS = 60
CPU_PLATEAU_MIN_STEPS = 20  # fewer steps an epoch: the epoch loss is too noisy; fixed epochs
CPU_MIN_STEPS = 600  # epochs raised so tiny datasets still get this many steps
#: the GAN's fixed epochs: its adversarial losses do not plateau, but the MSE of its
#: reconstructions does; on the 10,000 shared CelebA-64 images it falls 4.7% per epoch over
#: epochs 6-10 and 1.2% over 11-20, the 1% rule first holds at epoch 16 (docs/gan_curve.json)
CPU_GAN_EPOCHS = 20
#: the paper's training budget in optimiser steps: 25 epochs of CelebA's 162,770 training
#: images in batches of 128 (1,272 steps an epoch). The paper profile trains this many steps
#: whatever the dataset's size, so a subset gets the paper's budget, not its epoch count.
PAPER_STEPS = 25 * math.ceil(162_770 / 128)  # 31,800


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of n images (one process): a last batch of one image is
    dropped, as bench.model.TrainData.epoch_batches does (batch norm needs two)."""
    return n // batch_size + (1 if n % batch_size >= 2 else 0)


#: `--set` keys that stand for a flag: set either way, they behave the same
SHORTHANDS = {"epochs": "epochs", "steps": "steps", "batch_size": "batch_size",
              "plateau": "plateau", "invert.steps": "invert_steps"}


def _profile_defaults(family: str, profile: str, resolution: int) -> dict[str, Any]:
    """Settings that differ between the paper's scale and a 2-core laptop CPU."""
    if profile == "paper":
        return {}
    width = 32 if resolution <= 64 else 16
    # the GAN stays 32 wide at 128 px: 16 wide, D wins within 25 steps and G's output never
    # leaves the flat grey of its initialisation (train MSE 0.30 after 10 epochs against 0.047
    # at 32 wide; docs/gan128.md). So at 128 px the GAN's generator is wider than GLO's and
    # the VAE's, which learn at 16; the difference favours the GAN.
    gan_width = 32
    # GLO and the VAE train to their plateau (docs/convergence.md): at most CPU_MAX_EPOCHS,
    # stopping once the epoch loss improves by less than 1% two epochs in a row; the GAN's
    # adversarial losses do not plateau, so it trains a fixed number of epochs
    to_plateau = {"epochs": CPU_MAX_EPOCHS, "plateau": CPU_PLATEAU}
    cpu = {
        "pca": {},
        "glo": {**to_plateau, "batch_size": 64, "ngf": width,
                "invert": InversionSettings(steps=150, lr=0.05, restarts=2)},
        "gan": {"epochs": CPU_GAN_EPOCHS, "batch_size": 64, "ngf": gan_width, "ndf": gan_width,
                "invert": InversionSettings(steps=150, lr=0.1, restarts=2)},
        "vae": {**to_plateau, "batch_size": 64, "ngf": width, "ndf": width},
    }
    return cpu[family]


def resolve(spec: RunSpec, method: str, n_train: int, resolution: int, *,
            d: int | None = None, world_size: int = 1) -> RunConfig:
    """Fully resolve one method's settings from the spec: the method's variant, the profile's
    defaults, then the spec's overrides (each change for a small dataset noted)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; Table 1's are: {', '.join(METHODS)}")
    family, variant = METHODS[method]
    device, ov = spec.device, spec.overrides
    sets = typed(ov.sets, family)  # `--set` keys of this family, typed
    # recorded typed (lr_z=10 and 10.0 are one run); the flags' keys are not: --set steps=N
    # and --steps N are the same run
    applied = tuple(f"{k}={v}" for k, v in sets.items() if k not in SHORTHANDS)
    # the keys the flags stand for behave exactly like them (and win over them)
    ov = replace(ov, **{name: sets.pop(key) for key, name in SHORTHANDS.items() if key in sets})
    profile = spec.profile or ("paper" if device.startswith("cuda") else "cpu")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: {', '.join(PROFILES)}")
    notes = []
    n_used = min(n_train, ov.subset) if ov.subset else n_train
    values: dict[str, Any] = _profile_defaults(family, profile, resolution)
    lap1 = ov.lap1 or DEFAULT_LAP1
    if lap1 not in LAP1_VARIANTS:
        raise ValueError(f"unknown Lap1 variant {lap1!r}: {', '.join(LAP1_VARIANTS)}")
    if "loss" in variant:
        values["loss"] = LAP1_VARIANTS[lap1] if variant["loss"] == "lap1" else LossSpec(variant["loss"])
    if "init" in variant:
        values["init"] = variant["init"]
    if d is None:
        d = 256
        if n_used // 4 < 256 and "d" not in sets:
            d = max(8, n_used // 4)
            notes.append(f"d={d}: 256 capped at N_train/4 = {n_used}/4 for a small dataset")
    values["d"] = d
    names = _field_names(family)
    if ov.epochs is not None and ov.steps:
        raise BenchError("give --epochs or --steps, not both (a step budget decides the epochs)")
    if profile == "paper" and "steps" in names and ov.epochs is None:
        values["steps"] = PAPER_STEPS
    for name in ("epochs", "steps", "batch_size", "plateau"):
        if getattr(ov, name) is not None and name in names:
            values[name] = getattr(ov, name)
    if ov.invert_steps is not None and "invert" in names:
        base = values.get("invert", FAMILY_SETTINGS[family]().invert)
        values["invert"] = replace(base, steps=ov.invert_steps)
    model = FAMILY_SETTINGS[family](**values)
    for key, value in sets.items():
        if not key.startswith(EVAL_PREFIX):
            model = set_path(model, key, value)
    min_steps = 0
    budget = getattr(model, "steps", 0)
    if budget < 0:
        raise BenchError(f"--steps must be >= 0 (0: train by epochs), not {budget}")
    if budget:
        # a step budget: the epochs follow from it (the last one partial), and the plateau
        # stop is off unless asked for explicitly (then the budget is the most it trains)
        per_epoch = max(1, steps_per_epoch(n_used, model.batch_size))
        epochs = math.ceil(budget / per_epoch)
        rest = budget - (epochs - 1) * per_epoch
        notes.append(f"steps {budget}: {epochs} epochs of {per_epoch} steps"
                     + ("" if rest == per_epoch else
                        f", the last one partial ({rest} of its {per_epoch} batches)"))
        model = replace(model, epochs=epochs)
        if getattr(model, "plateau", 0.0) and ov.plateau is None:
            model = replace(model, plateau=0.0)
    elif profile == "cpu" and family != "pca":
        min_steps = CPU_MIN_STEPS
        per_epoch = math.ceil(n_used / model.batch_size)
        if model.epochs * per_epoch < min_steps and ov.epochs is None:
            new_epochs = math.ceil(min_steps / per_epoch)
            notes.append(f"epochs {model.epochs} -> {new_epochs} so that a small dataset "
                         f"still gets >= {min_steps} steps")
            model = replace(model, epochs=new_epochs)
        if getattr(model, "plateau", 0.0) and ov.plateau is None and per_epoch < CPU_PLATEAU_MIN_STEPS:
            notes.append(f"plateau stop off: an epoch of {per_epoch} steps is too noisy to judge "
                         f"a plateau by (< {CPU_PLATEAU_MIN_STEPS}); {model.epochs} fixed epochs")
            model = replace(model, plateau=0.0)
    precision = spec.precision or default_precision(device)

    def count(asked: int | None, cpu_default: int) -> int:
        if asked is not None:
            return asked
        return cpu_default if profile == "cpu" else ALL

    ev = EvalSettings(train_n=count(spec.eval_train_n, 1000), test_n=count(spec.eval_test_n, 500),
                      heldout=spec.heldout, heldout_n=300 if profile == "cpu" else ALL,
                      lap=LAP1_VARIANTS[lap1].lap,
                      fid_n=count(spec.eval_fid_n, 500))
    for key, value in sets.items():
        if key.startswith(EVAL_PREFIX):
            ev = set_path(ev, key[len(EVAL_PREFIX):], value)
    if world_size > 1 and family != "pca":
        notes.append(f"{world_size} processes: each rank trains on its own block of images in "
                     f"batches of about {model.batch_size}/{world_size} (batch-norm statistics "
                     f"per rank); gradients are averaged across ranks")
    return RunConfig(dataset=spec.dataset, method=method, family=family, model=model,
                     seed=spec.seed, profile=profile, device=device, precision=precision,
                     subset=ov.subset, eval=ev, min_steps=min_steps, world_size=world_size,
                     notes=tuple(notes), overrides=applied)


def _field_names(family: str) -> set[str]:
    return {f.name for f in fields(FAMILY_SETTINGS[family])}


def _build(cls, values: dict[str, Any]):
    """A settings dataclass from its asdict() form, nested settings included."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in values:
            continue
        v = values[f.name]
        if f.name == "loss" and isinstance(v, dict):
            v = LossSpec(**{**v, "lap": LapSettings(**v.get("lap", {}))})
        elif f.name == "lap" and isinstance(v, dict):
            v = LapSettings(**v)
        elif f.name == "invert" and isinstance(v, dict):
            v = InversionSettings(**v)
        elif f.name in ("notes", "overrides") and isinstance(v, list):
            v = tuple(v)
        kwargs[f.name] = v
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from config.json's "config" entry."""
    model = _build(FAMILY_SETTINGS[values["family"]], values["model"])
    ev = _build(EvalSettings, values.get("eval", {}))
    rest = {k: v for k, v in values.items() if k not in ("model", "eval")}
    return _build(RunConfig, {**rest, "model": model, "eval": ev})
