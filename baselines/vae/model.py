"""VAE with the DCGAN discriminator body as encoder and the shared generator as decoder.

Per image: loss = recon_mean * (C*H*W) + kl_weight * KL(q(z|x) || N(0, I)), averaged over
the batch; recon_mean is the per-pixel MSE or Lap1 ("mean" reduction). For MSE this is a
Gaussian likelihood with variance 1/2 in the [-1, 1] pixel range.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bench.config import VAESettings
from bench.context import RunContext
from bench.losses import ReconLoss
from bench.model import Model, TrainData
from bench.nets import DiscriminatorBody, Generator, dcgan_init, place


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


class VAEModel(Model):
    settings: VAESettings

    def __init__(self, settings: VAESettings, shape, device: str = "cpu") -> None:
        super().__init__(settings, shape, device)
        c, h, _ = shape
        self.encoder = place(Encoder(c, h, settings.d, settings.ndf), self.device)
        self.decoder = place(Generator(settings.d, c, h, settings.ngf), self.device)
        self.loss_fn = ReconLoss(settings.loss).to(self.device)

    def parameters(self):
        return list(self.encoder.parameters()) + list(self.decoder.parameters())

    def fit(self, data: TrainData, run: RunContext) -> None:
        s = self.settings
        self.train_data = data
        torch.manual_seed(run.seed)
        dcgan_init(self.encoder)
        dcgan_init(self.decoder)
        opt = torch.optim.Adam(self.parameters(), lr=s.lr)
        start = 0
        state = run.load_checkpoint()
        if state is not None:
            self.encoder.load_state_dict(state["encoder"])
            self.decoder.load_state_dict(state["decoder"])
            opt.load_state_dict(state["opt"])
            start = state["epoch"] + 1
        n = len(data)
        encoder, decoder = run.dist.wrap(self.encoder), run.dist.wrap(self.decoder)
        pixels = float(torch.tensor(self.shape).prod())
        step = start * ((n + s.batch_size - 1) // s.batch_size)
        self.encoder.train()
        self.decoder.train()
        for epoch in range(start, s.epochs):
            gen = run.epoch_generator(epoch)
            sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
            batches = 0
            for idx in data.epoch_batches(s.batch_size, gen, run.dist):
                x = data.batch(idx)
                eps = torch.randn(idx.numel(), s.d, generator=gen).to(self.device)
                with run.autocast():
                    mu, logvar = encoder(x)
                    z = mu + eps * (0.5 * logvar.float()).exp()
                    recon = self.loss_fn(decoder(z), x)
                kl = 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).sum(1)
                loss = (recon * pixels + s.kl_weight * kl).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sums["loss"] += run.check_finite(loss, step)
                sums["recon"] += float(recon.detach().mean())
                sums["kl"] += float(kl.detach().mean())
                batches += 1
                step += 1
            run.record(epoch=epoch, step=step, **{k: v / max(batches, 1) for k, v in sums.items()})
            run.save_checkpoint({"encoder": self.encoder.state_dict(),
                                 "decoder": self.decoder.state_dict(), "opt": opt.state_dict(),
                                 "epoch": epoch}, final=epoch == s.epochs - 1)
        run.dist.broadcast_buffers(self.encoder)
        run.dist.broadcast_buffers(self.decoder)

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

    def state_dict(self) -> dict:
        return {"encoder": self.encoder.state_dict(), "decoder": self.decoder.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.decoder.load_state_dict(state["decoder"])
