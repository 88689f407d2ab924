"""The VAE baseline's settings: Adam 1e-3, DCGAN encoder and decoder, KL weight 1."""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.losses import LossSpec


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
