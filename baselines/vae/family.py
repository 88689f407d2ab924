"""The VAE baseline as a family of the benchmark: Table 1's two VAE rows (MSE or Lap1
reconstruction term) and its cpu-profile scale."""

from __future__ import annotations

from typing import Any

from baselines.vae.model import VAEModel
from baselines.vae.settings import VAESettings
from bench.core.family import Family
from bench.core.profile import CPU_BATCH, TO_PLATEAU, cpu_width


def cpu_profile(resolution: int) -> dict[str, Any]:
    width = cpu_width(resolution)
    return {**TO_PLATEAU, "batch_size": CPU_BATCH, "ngf": width, "ndf": width}


FAMILY = Family(
    name="vae", settings=VAESettings, model=VAEModel,
    methods={"vae-mse": {"loss": "mse"}, "vae-lap1": {"loss": "lap1"}},
    cpu_profile=cpu_profile,
    small=VAESettings(d=8, epochs=3, batch_size=32, ngf=8, ndf=8),
)
