"""The DCGAN baseline as a family of the benchmark: Table 1's two GAN rows (one GAN, inverted
with MSE or with Lap1) and its cpu-profile scale."""

from __future__ import annotations

from typing import Any

from baselines.dcgan.model import GANModel
from baselines.dcgan.settings import GANSettings
from bench.core.family import Family
from bench.core.inversion import InversionSettings
from bench.core.profile import CPU_BATCH, CPU_GAN_EPOCHS


def cpu_profile(resolution: int) -> dict[str, Any]:
    # the GAN stays 32 wide at 128 px: 16 wide, D wins within 25 steps and G's output never
    # leaves the flat grey of its initialisation (train MSE 0.30 after 10 epochs against 0.047
    # at 32 wide; docs/gan128.md). So at 128 px the GAN's generator is wider than GLO's and
    # the VAE's, which learn at 16; the difference favours the GAN. Its adversarial losses do
    # not plateau, so it trains a fixed number of epochs.
    width = 32
    return {"epochs": CPU_GAN_EPOCHS, "batch_size": CPU_BATCH, "ngf": width, "ndf": width,
            "invert": InversionSettings(steps=150, lr=0.1, restarts=2)}


FAMILY = Family(
    name="gan", settings=GANSettings, model=GANModel,
    methods={"gan-mse": {"loss": "mse"}, "gan-lap1": {"loss": "lap1"}},
    cpu_profile=cpu_profile,
    small=GANSettings(d=8, epochs=3, batch_size=32, ngf=8, ndf=8,
                      invert=InversionSettings(steps=5, lr=0.1, restarts=2, batch_size=16)),
    # the inversion loss and steps: GAN-Lap1 reuses GAN-MSE's training
    eval_only=("loss", "invert"),
)
