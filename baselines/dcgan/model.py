"""DCGAN (Radford et al. 2016) with reconstructions by batched Adam latent inversion.

Prior z ~ N(0, I_d). Inversion (Bora et al. 2017 style) starts each restart from the
prior and keeps codes inside the prior's range by projecting them, after each step, onto
the ball that holds 99.9% of the prior's mass (radius: chi_d quantile 0.999).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.stats import chi
from torch import Tensor, nn

from baselines.dcgan.settings import GANSettings
from bench.core.context import RunContext
from bench.core.inversion import invert, no_param_grads, project_ball
from bench.core.losses import ReconLoss
from bench.core.nets import Discriminator, Generator, place
from bench.core.trainer import Batch, Trainable

PRIOR_MASS = 0.999


class GANModel(Trainable):
    settings: GANSettings
    monitor = None  # the adversarial losses do not fall to a plateau: fixed epochs
    # under torch.distributed D's batch-norm buffers stay per rank (broadcasting them between
    # D's two forwards would break its backward)
    local_buffer_nets = ("discriminator",)

    def __init__(self, settings: GANSettings, shape, device: str = "cpu") -> None:
        super().__init__(settings, shape, device)
        c, h, _ = shape
        self.generator = place(Generator(settings.d, c, h, settings.ngf), self.device)
        self.discriminator = place(Discriminator(c, h, settings.ndf), self.device)
        self.loss_fn = ReconLoss(settings.loss).to(self.device)
        self.radius = float(chi.ppf(PRIOR_MASS, settings.d))
        self._latents: Tensor | None = None

    # --- training (through bench.trainer.Trainer) ------------------------------------------
    def nets(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        s = self.settings
        betas = (s.beta1, 0.999)
        return {"opt_g": torch.optim.Adam(self.generator.parameters(), lr=s.lr, betas=betas),
                "opt_d": torch.optim.Adam(self.discriminator.parameters(), lr=s.lr, betas=betas)}

    def train_step(self, batch: Batch, run: RunContext) -> dict[str, Tensor]:
        generator, discriminator = self.train_nets["generator"], self.train_nets["discriminator"]
        real = batch.x
        z = torch.randn(batch.idx.numel(), self.settings.d, generator=batch.generator).to(self.device)
        with run.autocast():
            fake = generator(z)
            d_real = discriminator(real).float()
            d_fake = discriminator(fake.detach()).float()
            real_target = torch.full_like(d_real, self.settings.real_label)
            loss_d = (F.binary_cross_entropy_with_logits(d_real, real_target)
                      + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d, opt_g = self.optimizers["opt_d"], self.optimizers["opt_g"]
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # G's step needs D's gradient with respect to its input only: with D's weights frozen the
        # backward skips their gradients (which opt_d's zero_grad would throw away) and, under
        # DDP, their all-reduce (the bare module: its forward arms no reducer)
        with run.autocast(), no_param_grads(self.discriminator):
            d_gen = self.discriminator(fake).float()
            loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        # fake_std against real_std (pixel std of the batch) shows whether G has started: a GAN
        # whose D wins at once leaves G's output at the flat grey of its initialisation
        # (docs/gan128.md)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_real": torch.sigmoid(d_real.detach()).mean(),
                "d_fake": torch.sigmoid(d_fake.detach()).mean(),
                "fake_std": fake.detach().float().std(), "real_std": real.detach().float().std()}

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
                           batch_size=inv.batch_size, seed=1, keep_best_after=inv.keep_best_after,
                           converged_rel=inv.converged_rel, autocast=self.autocast)
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
