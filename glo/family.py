"""GLO as a family of the benchmark: Table 1's four GLO rows (MSE or Lap1 training, random or
PCA codes) and its cpu-profile scale."""

from __future__ import annotations

from typing import Any

from bench.core.family import Family
from bench.core.inversion import InversionSettings
from bench.core.losses import LossSpec
from bench.core.profile import CPU_BATCH, TO_PLATEAU, cpu_width
from glo.model import GLOModel
from glo.settings import GLOSettings


def cpu_profile(resolution: int) -> dict[str, Any]:
    return {**TO_PLATEAU, "batch_size": CPU_BATCH, "ngf": cpu_width(resolution),
            "invert": InversionSettings(steps=150, lr=0.05, restarts=2)}


FAMILY = Family(
    name="glo", settings=GLOSettings, model=GLOModel,
    methods={"glo-mse-random": {"loss": "mse", "init": "random"},
             "glo-mse-pca": {"loss": "mse", "init": "pca"},
             "glo-lap1-random": {"loss": "lap1", "init": "random"},
             "glo-lap1-pca": {"loss": "lap1", "init": "pca"}},
    cpu_profile=cpu_profile,
    small=GLOSettings(d=8, epochs=3, batch_size=32, ngf=8, loss=LossSpec("lap1"), init="pca",
                      invert=InversionSettings(steps=5, lr=0.05, restarts=2, batch_size=16)),
    # the inversion of held-out images only: GLO's training ignores it
    eval_only=("invert",),
)
