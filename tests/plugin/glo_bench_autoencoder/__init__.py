"""A deterministic autoencoder (DCGAN encoder body + the shared DCGAN generator), trained with
Adam on MSE: a small model family that joins glo-bench from outside, through the
``glo_bench.families`` entry point, with one method, ``ae-mse``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bench.core.context import RunContext
from bench.core.family import Family
from bench.core.losses import LossSpec, ReconLoss
from bench.core.nets import DiscriminatorBody, Generator, place
from bench.core.trainer import Batch, Trainable


@dataclass(frozen=True)
class AESettings:
    d: int = 256
    epochs: int = 25
    steps: int = 0
    batch_size: int = 128
    lr: float = 1e-3
    loss: LossSpec = LossSpec("mse")
    ngf: int = 64
    ndf: int = 64


class Encoder(nn.Module):
    def __init__(self, channels: int, resolution: int, d: int, ndf: int) -> None:
        super().__init__()
        self.body = DiscriminatorBody(channels, resolution, ndf)
        self.head = nn.Conv2d(self.body.out_channels, d, 4, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x)).flatten(1)


class AutoencoderModel(Trainable):
    settings: AESettings

    def __init__(self, settings: AESettings, shape, device: str = "cpu") -> None:
        super().__init__(settings, shape, device)
        c, h, _ = shape
        self.encoder = place(Encoder(c, h, settings.d, settings.ndf), self.device)
        self.decoder = place(Generator(settings.d, c, h, settings.ngf), self.device)
        self.loss_fn = ReconLoss(settings.loss).to(self.device)

    def nets(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {"opt": torch.optim.Adam(params, lr=self.settings.lr)}

    def train_step(self, batch: Batch, run: RunContext) -> dict[str, Tensor]:
        enc, dec = self.train_nets["encoder"], self.train_nets["decoder"]
        with run.autocast():
            loss = self.loss_fn(dec(enc(batch.x)), batch.x).mean()
        opt = self.optimizers["opt"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    def encode(self, x: Tensor) -> Tensor:
        self.encoder.eval()
        with torch.no_grad():
            return self.encoder(x.to(self.device)).float()

    def decode(self, codes: Tensor) -> Tensor:
        self.decoder.eval()
        with torch.no_grad():
            return self.decoder(codes.to(self.device)).float()

    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor]:
        codes = self.encode(x)
        return self.decode(codes), codes

    def latents(self) -> Tensor:
        assert self.train_data is not None
        return torch.cat([self.encode(c) for c in self.train_data.chunks(1024)])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.decode(torch.randn(n, self.settings.d, generator=generator))


FAMILY = Family(
    name="autoencoder", settings=AESettings, model=AutoencoderModel,
    methods={"ae-mse": {"loss": "mse"}},
    cpu_profile=lambda resolution: {"batch_size": 64, "ngf": 32, "ndf": 32},
    small=AESettings(d=8, epochs=3, batch_size=32, ngf=8, ndf=8),
)
