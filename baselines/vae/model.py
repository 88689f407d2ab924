"""VAE with the DCGAN discriminator body as encoder and the shared generator as decoder.

Per image: loss = recon_mean * (C*H*W) + kl_weight * KL(q(z|x) || N(0, I)), averaged over
the batch; recon_mean is the per-pixel MSE or Lap1 ("mean" reduction). For MSE this is a
Gaussian likelihood with variance 1/2 in the [-1, 1] pixel range.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from baselines.vae.settings import VAESettings
from bench.core.context import RunContext
from bench.core.losses import ReconLoss
from bench.core.nets import DiscriminatorBody, Generator, dcgan_init, place
from bench.core.trainer import Batch, Trainable


class Encoder(nn.Module):
    def __init__(self, channels: int, resolution: int, d: int, ndf: int) -> None:
        super().__init__()
        self.body = DiscriminatorBody(channels, resolution, ndf)
        self.mean = nn.Conv2d(self.body.out_channels, d, 4, 1, 0)
        self.logvar = nn.Conv2d(self.body.out_channels, d, 4, 1, 0)
        dcgan_init(self.mean)
        dcgan_init(self.logvar)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(x)
        return self.mean(h).flatten(1), self.logvar(h).flatten(1).clamp(-30, 20)


class VAEModel(Trainable):
    settings: VAESettings

    def __init__(self, settings: VAESettings, shape, device: str = "cpu") -> None:
        super().__init__(settings, shape, device)
        c, h, _ = shape
        self.encoder = place(Encoder(c, h, settings.d, settings.ndf), self.device)
        self.decoder = place(Generator(settings.d, c, h, settings.ngf), self.device)
        self.loss_fn = ReconLoss(settings.loss).to(self.device)
        self.pixels = float(torch.tensor(self.shape).prod())

    def parameters(self):
        return list(self.encoder.parameters()) + list(self.decoder.parameters())

    # --- training (through bench.trainer.Trainer) ------------------------------------------
    def nets(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": torch.optim.Adam(self.parameters(), lr=self.settings.lr)}

    def objective(self, x: Tensor, eps: Tensor, run: RunContext) -> dict[str, Tensor]:
        """The negative ELBO per image, averaged over the batch, with one reparameterised
        sample z = mu + eps * sigma: recon_mean * (C*H*W) + kl_weight * KL(q(z|x) || N(0, I)),
        where recon_mean is the per-pixel loss ("mean" reduction) and KL the analytic Gaussian
        one, summed over the d code dimensions. Returns loss, recon (per image) and kl (per
        image)."""
        encoder, decoder = self.train_nets["encoder"], self.train_nets["decoder"]
        with run.autocast():
            mu, logvar = encoder(x)
            z = mu + eps * (0.5 * logvar.float()).exp()
            recon = self.loss_fn(decoder(z), x)
        mu, logvar = mu.float(), logvar.float()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        loss = (recon * self.pixels + self.settings.kl_weight * kl).mean()
        return {"loss": loss, "recon": recon, "kl": kl}

    def train_step(self, batch: Batch, run: RunContext) -> dict[str, Tensor]:
        s, x = self.settings, batch.x
        eps = torch.randn(batch.idx.numel(), s.d, generator=batch.generator).to(self.device)
        out = self.objective(x, eps, run)
        loss, recon, kl = out["loss"], out["recon"], out["kl"]
        opt = self.optimizers["opt"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), "recon": recon.detach().mean(), "kl": kl.detach().mean()}

    def encode(self, x: Tensor) -> Tensor:
        self.encoder.eval()
        with torch.no_grad():
            return self.encoder(x.to(self.device))[0].float()

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
