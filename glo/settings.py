"""GLO's settings: the paper's SGD rates (1 for the generator, 10 for the codes), d = 256,
the loss, the code initialisation and the generator's weight initialisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.core.inversion import InversionSettings
from bench.core.losses import LossSpec


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
    # the generator's initial weights: DCGAN's N(0, 0.02) (Radford et al.; the suite's), or
    # "default", PyTorch's own per-layer initialisation, drawn from the run's seed
    weight_init: Literal["dcgan", "default"] = "dcgan"
