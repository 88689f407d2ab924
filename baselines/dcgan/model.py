"""DCGAN (Radford et al. 2016) with reconstructions by batched Adam latent inversion.

Prior z ~ N(0, I_d). Inversion (Bora et al. 2017 style) starts each restart from the
prior and keeps codes inside the prior's range by projecting them, after each step, onto
the ball that holds 99.9% of the prior's mass (radius: chi_d quantile 0.999).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.stats import chi
from torch import Tensor

from bench.config import GANSettings
from bench.context import RunContext
from bench.inversion import invert, project_ball
from bench.losses import ReconLoss
from bench.model import Model, TrainData
from bench.nets import Discriminator, Generator, dcgan_init, place

PRIOR_MASS = 0.999


class GANModel(Model):
    settings: GANSettings

    def __init__(self, settings: GANSettings, shape, device: str = "cpu") -> None:
        super().__init__(settings, shape, device)
        c, h, _ = shape
        self.generator = place(Generator(settings.d, c, h, settings.ngf), self.device)
        self.discriminator = place(Discriminator(c, h, settings.ndf), self.device)
        self.loss_fn = ReconLoss(settings.loss).to(self.device)
        self.radius = float(chi.ppf(PRIOR_MASS, settings.d))
        self._latents: Tensor | None = None

    def fit(self, data: TrainData, run: RunContext) -> None:
        s = self.settings
        self.train_data = data
        torch.manual_seed(run.seed)
        dcgan_init(self.generator)
        dcgan_init(self.discriminator)
        betas = (s.beta1, 0.999)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=s.lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=s.lr, betas=betas)
        start = 0
        state = run.load_checkpoint()
        if state is not None:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            start = state["epoch"] + 1
        n = len(data)
        # under torch.distributed both nets are DDP-wrapped; D's batch-norm buffers are its
        # own per rank (broadcasting them between D's forwards would break its backward)
        generator = run.dist.wrap(self.generator)
        discriminator = run.dist.wrap_local_buffers(self.discriminator)
        step = start * ((n + s.batch_size - 1) // s.batch_size)
        self.generator.train()
        self.discriminator.train()
        for epoch in range(start, s.epochs):
            gen = run.epoch_generator(epoch)
            sums = {"loss_d": 0.0, "loss_g": 0.0, "d_real": 0.0, "d_fake": 0.0}
            batches = 0
            for idx in data.epoch_batches(s.batch_size, gen, run.dist):
                real = data.batch(idx)
                z = torch.randn(idx.numel(), s.d, generator=gen).to(self.device)
                with run.autocast():
                    fake = generator(z)
                    d_real = discriminator(real).float()
                    d_fake = discriminator(fake.detach()).float()
                    loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                              + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                with run.autocast():
                    d_gen = discriminator(fake).float()
                    loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                sums["loss_d"] += run.check_finite(loss_d, step)
                sums["loss_g"] += run.check_finite(loss_g, step)
                sums["d_real"] += float(torch.sigmoid(d_real.detach()).mean())
                sums["d_fake"] += float(torch.sigmoid(d_fake.detach()).mean())
                batches += 1
                step += 1
            run.record(epoch=epoch, step=step, **{k: v / max(batches, 1) for k, v in sums.items()})
            run.save_checkpoint({"generator": self.generator.state_dict(),
                                 "discriminator": self.discriminator.state_dict(),
                                 "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                                 "epoch": epoch}, final=epoch == s.epochs - 1)
        run.dist.broadcast_buffers(self.generator)

    def decode(self, codes: Tensor) -> Tensor:
        self.generator.eval()
        with torch.no_grad():
            return self.generator(codes.to(self.device)).float()

    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor]:
        inv = self.settings.invert
        d = self.settings.d
        out, z, _ = invert(self.generator, x.to(self.device), self.loss_fn,
                           lambda m, g: torch.randn(m, d, generator=g), project_ball(self.radius),
                           steps=inv.steps, lr=inv.lr, restarts=inv.restarts,
                           batch_size=inv.batch_size, seed=1)
        return out, z

    def latents(self) -> Tensor:
        """Codes of the whole training set, by inversion (costly; cached)."""
        assert self.train_data is not None
        if self._latents is None:
            self._latents = torch.cat([self.reconstruct(c.to(self.device))[1]
                                       for c in self.train_data.chunks(1024)])
        return self._latents

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.decode(torch.randn(n, self.settings.d, generator=generator))

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(),
                "discriminator": self.discriminator.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
