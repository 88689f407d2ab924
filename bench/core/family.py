"""What a model family declares to join the benchmark: its settings dataclass, its model class
(the contract in bench.core.model), the methods (Table-1 rows) it provides, its cpu-profile
scale and small settings for the conformance checks.

The four built-in families declare one each (glo/family.py, baselines/*/family.py); a package
outside this repository declares one under the ``glo_bench.families`` entry-point group and is
then run, reported and checked like them (bench.config.families)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.core.model import Model


def _same_everywhere(resolution: int) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Family:
    #: the family's name as stored in every run's config ("glo", "gan", ...)
    name: str
    #: a frozen dataclass of the family's settings: `--set KEY=VALUE` reaches its fields
    settings: type
    #: the model class: ``model(settings, (C, H, W), device)`` (bench.core.model.Model)
    model: type[Model]
    #: method name -> settings that differ from the family's defaults ({} for one plain row);
    #: a "loss" of "mse" or "lap1" becomes a LossSpec (with the run's Lap1 variant)
    methods: Mapping[str, Mapping[str, Any]]
    #: the cpu profile's settings at a resolution (the paper profile uses the dataclass's)
    cpu_profile: Callable[[int], dict[str, Any]] = _same_everywhere
    #: settings that train in seconds on 80 32x32 images, for bench.runs.conformance
    small: Any = None
    #: settings fields that change only the evaluation, not the training (a run differing from
    #: a finished sibling only in these reuses its training: bench.runs.reuse)
    eval_only: tuple[str, ...] = field(default=())
