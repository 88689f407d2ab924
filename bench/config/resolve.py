"""Resolving a request into one run's configuration: the method's settings from its family,
the profile's scale (the paper's, or the cpu profile's), then the flags and `--set` values;
the paper's step budget; and a RunConfig rebuilt from a run's config.json.

A run is fully described by a RunConfig. Its id is a hash of the resolved config, the data
fingerprint and the code version (bench.runs.provenance), so a finished run is found again
(and skipped) exactly when nothing that could change its numbers has changed.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import Any

from bench.config.families import FAMILIES, FAMILY_SETTINGS, METHODS
from bench.config.overrides import EVAL_PREFIX, set_path, typed
from bench.config.settings import ALL, PROFILES, EvalSettings, RunConfig
from bench.config.spec import RunSpec
from bench.core.inversion import InversionSettings
from bench.core.losses import DEFAULT_LAP1, LAP1_VARIANTS, LapSettings, LossSpec
from bench.core.model import steps_per_epoch
from bench.core.precision import default_precision
from bench.runtime.errors import BenchError

CPU_PLATEAU_MIN_STEPS = 20  # fewer steps an epoch: the epoch loss is too noisy; fixed epochs


CPU_MIN_STEPS = 600  # epochs raised so tiny datasets still get this many steps


#: the paper's training budget in optimiser steps: 25 epochs of CelebA's 162,770 training
#: images in batches of 128 (1,272 steps an epoch). The paper profile trains this many steps
#: whatever the dataset's size, so a subset gets the paper's budget, not its epoch count.
PAPER_STEPS = 25 * math.ceil(162_770 / 128)  # 31,800


#: `--set` keys that stand for a flag: set either way, they behave the same
SHORTHANDS = {"epochs": "epochs", "steps": "steps", "batch_size": "batch_size",
              "plateau": "plateau", "invert.steps": "invert_steps"}


def profile_defaults(family: str, profile: str, resolution: int) -> dict[str, Any]:
    """Settings that differ between the paper's scale and a 2-core laptop CPU: the family's
    own cpu profile (bench.core.family.Family.cpu_profile); none at the paper's scale."""
    if profile == "paper":
        return {}
    return FAMILIES[family].cpu_profile(resolution)


def resolve(spec: RunSpec, method: str, n_train: int, resolution: int, *,
            d: int | None = None, world_size: int = 1) -> RunConfig:
    """Fully resolve one method's settings from the spec: the method's variant, the profile's
    defaults, then the spec's overrides (each change for a small dataset noted)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; the known ones are: {', '.join(METHODS)}")
    family, variant = METHODS[method]
    device, ov = spec.device, spec.overrides
    sets = typed(ov.sets, family)  # `--set` keys of this family, typed
    # recorded typed (lr_z=10 and 10.0 are one run) and by key (the keys are distinct, so
    # their order changes nothing: --set a=1 --set b=2 and --set b=2 --set a=1 are one run);
    # the flags' keys are not: --set steps=N and --steps N are the same run
    applied = tuple(f"{k}={v}" for k, v in sorted(sets.items()) if k not in SHORTHANDS)
    # the keys the flags stand for behave exactly like them (and win over them)
    ov = replace(ov, **{name: sets.pop(key) for key, name in SHORTHANDS.items() if key in sets})
    profile = spec.profile or ("paper" if device.startswith("cuda") else "cpu")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: {', '.join(PROFILES)}")
    notes = []
    n_used = min(n_train, ov.subset) if ov.subset else n_train
    values: dict[str, Any] = profile_defaults(family, profile, resolution)
    lap1 = ov.lap1 or DEFAULT_LAP1
    if lap1 not in LAP1_VARIANTS:
        raise ValueError(f"unknown Lap1 variant {lap1!r}: {', '.join(LAP1_VARIANTS)}")
    for key, value in variant.items():  # the method's settings (Table 1: loss, init)
        if key == "loss" and isinstance(value, str):
            value = LAP1_VARIANTS[lap1] if value == "lap1" else LossSpec(value)
        values[key] = value
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
