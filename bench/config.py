"""Run configuration: the nine Table-1 methods, per-model settings, profiles, run ids.

A run is fully described by a RunConfig. Its id is a hash of the resolved config, the
data fingerprint and the code version, so a finished run is found again (and skipped)
exactly when nothing that could change its numbers has changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import subprocess
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bench.losses import LapSettings, LossSpec

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
PROFILES = ("cpu", "paper")


@dataclass(frozen=True)
class InversionSettings:
    """Optimise codes with the generator frozen (Adam), keeping each image's best restart."""

    steps: int = 500
    lr: float = 0.1
    restarts: int = 2
    batch_size: int = 256


@dataclass(frozen=True)
class PCASettings:
    d: int = 256
    solver: str = "auto"  # auto | exact | streaming
    oversample: int = 0  # extra columns in the range finder; 0: as many as d (l = 2d)
    power_iters: int = 10
    chunk_rows: int = 2048


@dataclass(frozen=True)
class GLOSettings:
    d: int = 256
    epochs: int = 25
    batch_size: int = 128
    lr_g: float = 1.0  # SGD, generator (paper)
    lr_z: float = 10.0  # SGD, codes (paper)
    loss: LossSpec = LossSpec("lap1")
    init: str = "pca"  # random | pca
    ngf: int = 64
    invert: InversionSettings = InversionSettings(steps=500, lr=0.05, restarts=2)


@dataclass(frozen=True)
class GANSettings:
    d: int = 256
    epochs: int = 25
    batch_size: int = 128
    lr: float = 2e-4  # Adam, both nets (Radford et al.)
    beta1: float = 0.5
    ngf: int = 64
    ndf: int = 64
    loss: LossSpec = LossSpec("mse")  # the inversion loss: Table 1's "GAN, MSE" / "GAN, Lap1"
    invert: InversionSettings = InversionSettings()


@dataclass(frozen=True)
class VAESettings:
    d: int = 256
    epochs: int = 25
    batch_size: int = 128
    lr: float = 1e-3  # Adam
    loss: LossSpec = LossSpec("mse")
    kl_weight: float = 1.0  # per image: loss_mean * C*H*W + kl_weight * KL
    ngf: int = 64
    ndf: int = 64


FAMILY_SETTINGS = {"pca": PCASettings, "glo": GLOSettings, "gan": GANSettings, "vae": VAESettings}
ModelSettings = PCASettings | GLOSettings | GANSettings | VAESettings


@dataclass(frozen=True)
class EvalSettings:
    train_n: int | None = None  # images of each split measured (seeded subset); None: all
    test_n: int | None = None
    heldout: str | None = None  # a dataset measured as held-out (e.g. lfw64 for celeba64)
    heldout_n: int | None = None
    lap: LapSettings = LapSettings()
    n_samples: int = 64


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    method: str
    family: str
    model: ModelSettings
    seed: int = 0
    profile: str = "cpu"
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    subset: int | None = None  # first N training images only
    eval: EvalSettings = field(default_factory=EvalSettings)
    min_steps: int = 0  # epochs raised so tiny datasets still get this many steps
    world_size: int = 1  # processes training it (torch.distributed); part of the run's identity
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        m = self.model
        parts = [f"d={m.d}"]
        for name in ("epochs", "batch_size", "ngf"):
            if hasattr(m, name):
                parts.append(f"{name}={getattr(m, name)}")
        return ", ".join(parts)


def _profile_defaults(family: str, profile: str, resolution: int) -> dict[str, Any]:
    """Settings that differ between the paper's scale and a 2-core laptop CPU."""
    if profile == "paper":
        return {}
    width = 32 if resolution <= 64 else 16
    cpu = {
        "pca": {},
        "glo": {"epochs": 10, "batch_size": 64, "ngf": width,
                "invert": InversionSettings(steps=150, lr=0.05, restarts=2)},
        "gan": {"epochs": 10, "batch_size": 64, "ngf": width, "ndf": width,
                "invert": InversionSettings(steps=150, lr=0.1, restarts=2)},
        "vae": {"epochs": 10, "batch_size": 64, "ngf": width, "ndf": width},
    }
    return cpu[family]


def resolve(dataset: str, method: str, n_train: int, resolution: int, *, seed: int = 0,
            profile: str | None = None, device: str = "cpu", epochs: int | None = None,
            batch_size: int | None = None, subset: int | None = None, d: int | None = None,
            precision: str | None = None, heldout: str | None = None,
            train_n: int | None = -1, test_n: int | None = -1,
            invert_steps: int | None = None, world_size: int = 1) -> RunConfig:
    """Fully resolve a run's settings from the method name, profile and overrides."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; Table 1's are: {', '.join(METHODS)}")
    family, variant = METHODS[method]
    profile = profile or ("paper" if device.startswith("cuda") else "cpu")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: {', '.join(PROFILES)}")
    notes = []
    n_used = min(n_train, subset) if subset else n_train
    values: dict[str, Any] = _profile_defaults(family, profile, resolution)
    if "loss" in variant:
        values["loss"] = LossSpec(variant["loss"])
    if "init" in variant:
        values["init"] = variant["init"]
    if d is None:
        d = 256
        if n_used // 4 < 256:
            d = max(8, n_used // 4)
            notes.append(f"d={d}: 256 capped at N_train/4 = {n_used}/4 for a small dataset")
    values["d"] = d
    if epochs is not None and "epochs" in _field_names(family):
        values["epochs"] = epochs
    if batch_size is not None and "batch_size" in _field_names(family):
        values["batch_size"] = batch_size
    if invert_steps is not None and "invert" in _field_names(family):
        base = values.get("invert", FAMILY_SETTINGS[family]().invert)
        values["invert"] = replace(base, steps=invert_steps)
    model = FAMILY_SETTINGS[family](**values)
    min_steps = 0
    if profile == "cpu" and family != "pca":
        min_steps = 600
        steps = model.epochs * math.ceil(n_used / model.batch_size)
        if steps < min_steps and epochs is None:
            new_epochs = math.ceil(min_steps / math.ceil(n_used / model.batch_size))
            notes.append(f"epochs {model.epochs} -> {new_epochs} so that a small dataset "
                         f"still gets >= {min_steps} steps")
            model = replace(model, epochs=new_epochs)
    if precision is None:
        precision = "bf16" if device.startswith("cuda") else "fp32"
    if train_n == -1:
        train_n = 1000 if profile == "cpu" else None
    if test_n == -1:
        test_n = 500 if profile == "cpu" else None
    ev = EvalSettings(train_n=train_n, test_n=test_n, heldout=heldout,
                      heldout_n=300 if profile == "cpu" else None)
    if world_size > 1 and family != "pca":
        notes.append(f"{world_size} processes: each rank trains on its own block of images in "
                     f"batches of about {model.batch_size}/{world_size} (batch-norm statistics "
                     f"per rank); gradients are averaged across ranks")
    return RunConfig(dataset=dataset, method=method, family=family, model=model, seed=seed,
                     profile=profile, device=device, precision=precision, subset=subset,
                     eval=ev, min_steps=min_steps, world_size=world_size, notes=tuple(notes))


def _field_names(family: str) -> set[str]:
    return {f.name for f in fields(FAMILY_SETTINGS[family])}


_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def code_version() -> dict[str, str]:
    """Package version, a hash of the model/harness sources, and the git commit if any.
    Computed once per process: the code that was imported is the code that runs."""
    from bench import __version__

    h = hashlib.sha256()
    for pkg in ("bench", "baselines", "glo"):
        for p in sorted((_ROOT / pkg).rglob("*.py")):
            h.update(p.relative_to(_ROOT).as_posix().encode())
            h.update(p.read_bytes())
    out = {"version": __version__, "source_sha256": h.hexdigest()[:16]}
    try:
        commit = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5)
        if commit.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(_ROOT), "status", "--porcelain", "--",
                                    "bench", "baselines", "glo"], capture_output=True, text=True,
                                   timeout=5)
            out["git_commit"] = commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def run_id(config: RunConfig, data_fingerprint: str, code: dict[str, str]) -> str:
    payload = json.dumps({"config": config.to_dict(), "data": data_fingerprint,
                          "code": {k: code[k] for k in ("version", "source_sha256")}},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


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
        elif f.name == "notes" and isinstance(v, list):
            v = tuple(v)
        kwargs[f.name] = v
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from config.json's "config" entry."""
    model = _build(FAMILY_SETTINGS[values["family"]], values["model"])
    ev = _build(EvalSettings, values.get("eval", {}))
    rest = {k: v for k, v in values.items() if k not in ("model", "eval")}
    return _build(RunConfig, {**rest, "model": model, "eval": ev})
