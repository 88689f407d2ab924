"""GLO: one learnable code per training image, trained jointly with a DCGAN generator.

Loss reduction: the mean over the batch of each image's per-pixel loss (MSE, or Lap1
with "mean" reduction) -- Lua Torch's sizeAverage default, which the paper's code used.
Under it the paper's learning rates (SGD, 1 for the generator, 10 for the codes) train;
the codes then move slowly (their gradient carries a 1/batch factor), which is why PCA
initialisation matters so much. Only the batch's code rows are touched by a step, and
each is projected onto the unit ball right after it: z / max(||z||_2, 1). After training,
batch-norm statistics are recomputed over all codes for the final weights (see
bench.nets.recalibrate_batchnorm).

Under torch.distributed the code table is sharded with the data: each rank holds the
codes of its own block of images (``self.codes`` rows lo..hi), the generator is wrapped
in DistributedDataParallel (only its gradients are all-reduced), and a code's step is
scaled by 1/world so that it equals the single-process step on the global batch mean.
The full table is gathered for checkpoints (resumable at any world size) and at the end.
"""

from __future__ import annotations

import torch
from torch import Tensor

from baselines.pca.model import PCAModel
from bench.config import GLOSettings, PCASettings
from bench.context import RunContext
from bench.inversion import invert, project_unit_ball
from bench.losses import ReconLoss
from bench.model import Model, TrainData
from bench.nets import Generator, dcgan_init, place, recalibrate_batchnorm


class GLOModel(Model):
    settings: GLOSettings

    def __init__(self, settings: GLOSettings, shape, device: str = "cpu") -> None:
        super().__init__(settings, shape, device)
        c, h, _ = shape
        self.generator = place(Generator(settings.d, c, h, settings.ngf), self.device)
        self.loss_fn = ReconLoss(settings.loss).to(self.device)
        self.codes = torch.zeros(0, settings.d, device=self.device)
        self._gauss: tuple[Tensor, Tensor] | None = None

    # --- initial codes -----------------------------------------------------------------
    def initial_codes(self, data: TrainData, run: RunContext) -> Tensor:
        """Codes of this rank's block of images (all images with one process)."""
        d = self.settings.d
        lo, hi = run.dist.block(len(data))
        if self.settings.init == "random":
            z = torch.randn(len(data), d, generator=torch.Generator().manual_seed(run.seed))[lo:hi]
        elif self.settings.init == "pca":
            pca = PCAModel(PCASettings(d=d), self.shape)
            pca.fit(data, RunContext(None, seed=run.seed, quiet=True, dist=run.dist))
            z = torch.cat([pca.whitened(c).cpu() for c in data.chunks(4096, lo, hi)])
            if z.shape[1] < d:  # fewer components than d (tiny data): pad with zeros
                z = torch.cat([z, z.new_zeros(z.shape[0], d - z.shape[1])], 1)
        else:
            raise ValueError(f"unknown GLO init {self.settings.init!r}: random or pca")
        return project_unit_ball(z).to(self.device)

    # --- training ------------------------------------------------------------------------
    def fit(self, data: TrainData, run: RunContext) -> None:
        s = self.settings
        self.train_data = data
        torch.manual_seed(run.seed)
        dcgan_init(self.generator)
        opt = torch.optim.SGD(self.generator.parameters(), lr=s.lr_g)
        dist = run.dist
        lo, hi = dist.block(len(data))
        state = run.load_checkpoint()
        if state is not None:
            self.generator.load_state_dict(state["generator"])
            opt.load_state_dict(state["opt"])
            self.codes = state["codes"][lo:hi].to(self.device)
            start = state["epoch"] + 1
        else:
            self.codes = self.initial_codes(data, run)
            start = 0
        net = dist.wrap(self.generator)
        lr_z = s.lr_z / dist.world  # DDP averages G's gradients over ranks; match it for z
        n, step = len(data), start * ((len(data) + s.batch_size - 1) // s.batch_size)
        self.generator.train()
        for epoch in range(start, s.epochs):
            total, count = 0.0, 0
            for idx in data.epoch_batches(s.batch_size, run.epoch_generator(epoch), dist):
                x = data.batch(idx)
                rows = idx - lo
                z = self.codes[rows].clone().requires_grad_(True)
                with run.autocast():
                    loss = self.loss_fn(net(z), x).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                total += run.check_finite(loss, step) * idx.numel()
                count += idx.numel()
                opt.step()
                with torch.no_grad():
                    self.codes[rows] = project_unit_ball(z - lr_z * z.grad)
                step += 1
            run.record(epoch=epoch, loss=total / max(count, 1), step=step)
            run.save_checkpoint(
                lambda epoch=epoch: {"generator": self.generator.state_dict(),
                                     "opt": opt.state_dict(), "epoch": epoch,
                                     "codes": dist.all_gather_rows(self.codes).cpu()},
                final=epoch == s.epochs - 1)
        self.codes = dist.all_gather_rows(self.codes)  # every rank: the full table, in order
        recalibrate_batchnorm(self.generator, (self.codes[b:b + s.batch_size]
                                               for b in range(0, n, s.batch_size)
                                               if min(s.batch_size, n - b) >= 2))
        self._gauss = None

    # --- the interface ---------------------------------------------------------------------
    def decode(self, codes: Tensor) -> Tensor:
        self.generator.eval()
        with torch.no_grad():
            return self.generator(codes.to(self.device)).float()

    def reconstruct_train(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        z = self.codes[idx.to(self.device)]
        return self.decode(z), z

    def gaussian(self) -> tuple[Tensor, Tensor]:
        """Mean and Cholesky factor of a full-covariance Gaussian fitted to the codes."""
        if self._gauss is None:
            z = self.codes.double().cpu()
            mu = z.mean(0)
            cov = torch.cov(z.T) + 1e-6 * torch.eye(z.shape[1], dtype=torch.float64)
            self._gauss = (mu, torch.linalg.cholesky(cov))
        return self._gauss

    def sample_codes(self, n: int, generator: torch.Generator) -> Tensor:
        mu, chol = self.gaussian()
        eps = torch.randn(n, mu.shape[0], generator=generator, dtype=torch.float64)
        return (mu + eps @ chol.T).float().to(self.device)

    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Held-out images: fresh codes, generator frozen, same loss and projection; restarts
        start from the Gaussian fitted to the training codes."""
        inv = self.settings.invert
        out, z, _ = invert(self.generator, x.to(self.device), self.loss_fn,
                           lambda m, g: self.sample_codes(m, g), project_unit_ball,
                           steps=inv.steps, lr=inv.lr, restarts=inv.restarts,
                           batch_size=inv.batch_size, seed=1)
        return out, z

    def latents(self) -> Tensor:
        return self.codes

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.decode(project_unit_ball(self.sample_codes(n, generator)))

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(), "codes": self.codes.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.codes = state["codes"].to(self.device)
        self._gauss = None
