"""The DCGAN baseline's settings: Adam 2e-4, beta1 0.5 (Radford et al.), and its inversion."""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.inversion import InversionSettings
from bench.core.losses import LossSpec


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
