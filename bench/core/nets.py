"""The DCGAN generator and discriminator body (Radford et al. 2016), one definition for all.

The generator serves GLO, the GAN and the VAE decoder; the discriminator body serves the
GAN's discriminator and the VAE encoder. 32 px: 3 up-sampling blocks after the 4x4 seed,
64 px: 4, 128 px: 5 (one more block); widths halve from ngf * 2^(blocks-1) down to ngf.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _blocks(resolution: int) -> int:
    if resolution not in (32, 64, 128):
        raise ValueError(f"DCGAN nets support 32, 64 or 128 px, not {resolution}")
    return int(math.log2(resolution)) - 2


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights N(0, 0.02), batch-norm scale N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def reset_parameters(module: nn.Module) -> None:
    """PyTorch's default initialisation of every layer that has one (what a freshly built
    layer holds), drawn from the current RNG state."""
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


class Generator(nn.Module):
    def __init__(self, d: int, channels: int, resolution: int, ngf: int = 64) -> None:
        super().__init__()
        n = _blocks(resolution)
        width = ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(d, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)
        ]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.d = d
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], self.d, 1, 1))


class DiscriminatorBody(nn.Module):
    """Strided convs down to a width x 4 x 4 feature map (no final classifier)."""

    def __init__(self, channels: int, resolution: int, ndf: int = 64) -> None:
        super().__init__()
        n = _blocks(resolution)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(n - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.net = nn.Sequential(*layers)
        self.out_channels = width
        dcgan_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, ndf: int = 64) -> None:
        super().__init__()
        self.body = DiscriminatorBody(channels, resolution, ndf)
        self.head = nn.Conv2d(self.body.out_channels, 1, 4, 1, 0, bias=False)
        dcgan_init(self.head)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x)).flatten()


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, batches) -> None:
    """Recompute batch-norm running statistics as the plain average over ``batches`` for the
    module's current weights. GLO's generator moves fast (SGD, lr 1), so the usual running
    average (momentum 0.1) lags behind the final weights; eval mode would then normalise
    with stale statistics."""
    bns = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    was_training = module.training
    module.train()
    for batch in batches:
        module(batch)
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    module.train(was_training)


def place(module: nn.Module, device: torch.device) -> nn.Module:
    """On ``device``, in channels_last (NHWC) layout: faster convolutions on GPUs (tensor
    cores) and on CPUs too (oneDNN): on a 2-core AVX2 CPU, fp32, 64 px, batch 64, ngf 32,
    a generator training step 388 -> 442 img/s, a discriminator step 458 -> 681, an
    inversion step 611 -> 756 (docs/performance.md)."""
    return module.to(device).to(memory_format=torch.channels_last)
