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

import numpy as np
import torch
from torch import Tensor, nn

from bench.core.context import RunContext
from bench.core.inversion import invert, project_unit_ball
from bench.core.losses import LossSpec, ReconLoss, mse_per_image
from bench.core.model import TrainData, to_float
from bench.core.nets import Generator, place, recalibrate_batchnorm
from bench.core.pca import PCASettings, fit_pca
from bench.core.spectrum import spectrum
from bench.core.trainer import Batch, Trainable
from glo.settings import GLOSettings


class GLOModel(Trainable):
    settings: GLOSettings
    curve_weighting = "images"  # the epoch loss is the mean over its images

    def __init__(self, settings: GLOSettings, shape, device: str = "cpu") -> None:
        super().__init__(settings, shape, device)
        c, h, _ = shape
        self.generator = place(Generator(settings.d, c, h, settings.ngf), self.device)
        self.loss_fn = ReconLoss(settings.loss).to(self.device)
        self.codes = torch.zeros(0, settings.d, device=self.device)
        self.codes_init: Tensor | None = None  # the codes before training (diagnostics)
        self._gauss: tuple[Tensor, Tensor] | None = None
        self._lo = 0  # first training index of this rank's block of codes

    # --- initial codes -----------------------------------------------------------------
    def initial_codes(self, data: TrainData, run: RunContext) -> Tensor:
        """Codes of this rank's block of images (all images with one process)."""
        d = self.settings.d
        lo, hi = run.dist.block(len(data))
        if self.settings.init == "random":
            z = torch.randn(len(data), d, generator=torch.Generator().manual_seed(run.seed))[lo:hi]
        elif self.settings.init == "pca":
            pca = fit_pca(data, PCASettings(d=d), run.seed, run.dist)
            z = torch.cat([pca.whitened(c).cpu() for c in data.chunks(4096, lo, hi)])
            if z.shape[1] < d:  # fewer components than d (tiny data): pad with zeros
                z = torch.cat([z, z.new_zeros(z.shape[0], d - z.shape[1])], 1)
        else:
            raise ValueError(f"unknown GLO init {self.settings.init!r}: random or pca")
        return project_unit_ball(z).to(self.device)

    # --- training (through bench.trainer.Trainer) ------------------------------------------
    def nets(self) -> dict[str, nn.Module]:
        return {"generator": self.generator}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": torch.optim.SGD(self.generator.parameters(), lr=self.settings.lr_g)}

    def begin(self, data: TrainData, run: RunContext) -> None:
        self._lo = run.dist.block(len(data))[0]
        self.codes = self.initial_codes(data, run)
        self.codes_init = self.codes.clone()

    def extra_state(self, run: RunContext) -> dict:
        state = {"codes": run.dist.all_gather_rows(self.codes).cpu()}
        if self.codes_init is not None:
            state["codes_init"] = run.dist.all_gather_rows(self.codes_init).cpu()
        return state

    def load_extra_state(self, state: dict, data: TrainData, run: RunContext) -> None:
        self._lo, hi = run.dist.block(len(data))
        self.codes = state["codes"][self._lo:hi].to(self.device)
        init = state.get("codes_init")  # absent in checkpoints written before it was kept
        self.codes_init = None if init is None else init[self._lo:hi].to(self.device)

    def train_step(self, batch: Batch, run: RunContext) -> dict[str, Tensor]:
        rows = batch.idx - self._lo
        z = self.codes[rows].clone().requires_grad_(True)
        with run.autocast():
            loss = self.loss_fn(self.train_nets["generator"](z), batch.x).mean()
        opt = self.optimizers["opt"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lr_z = self.settings.lr_z / run.dist.world  # DDP averages G's gradients; match it for z
        with torch.no_grad():
            self.codes[rows] = project_unit_ball(z - lr_z * z.grad)
        return {"loss": loss.detach()}

    def finish(self, data: TrainData, run: RunContext) -> None:
        s, n = self.settings, len(data)
        self.codes = run.dist.all_gather_rows(self.codes)  # every rank: the full table, in order
        if self.codes_init is not None:
            self.codes_init = run.dist.all_gather_rows(self.codes_init)
        self._lo = 0
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

    def diagnostics(self, images_u8, indices: np.ndarray, check_n: int,
                    check_loss: str = "own") -> dict:
        """Did the codes move, and are they optimal for the final generator? Cosine of each
        scored training image's code to its initial value, and the MSE of its stored code
        beside the MSE of the same image re-inverted with the generator frozen (the first
        ``check_n`` scored images; with the training loss, or with MSE for ``check_loss``
        "mse"); "converged" when stored is within 10% of re-inverted."""
        idx = torch.from_numpy(np.asarray(indices))
        out: dict = {}
        if self.codes_init is not None:
            z, z0 = self.codes[idx.to(self.device)].double(), self.codes_init[idx.to(self.device)].double()
            cos = torch.nn.functional.cosine_similarity(z, z0, dim=1)
            moved = (z - z0).norm(dim=1) / z0.norm(dim=1).clamp_min(1e-12)
            out.update(cosine_to_init_mean=float(cos.mean()), cosine_to_init_min=float(cos.min()),
                       relative_change_mean=float(moved.mean()),
                       spectrum_init=spectrum(z0.float().cpu()))
        else:
            out["cosine_to_init_mean"] = None
            out["note"] = "initial codes unknown (resumed from a checkpoint that did not keep them)"
        check = idx[:check_n]
        if check.numel():
            x = to_float(torch.as_tensor(np.asarray(images_u8[check.numpy()]))).to(self.device)
            stored = mse_per_image(self.decode(self.codes[check.to(self.device)]), x)
            loss_fn = self.loss_fn if check_loss == "own" else ReconLoss(LossSpec(check_loss)).to(self.device)
            again = mse_per_image(self._invert(x, loss_fn)[0], x)
            out.update(check_n=int(check.numel()), check_loss=check_loss,
                       stored_mse=float(stored.mean()),
                       reinverted_mse=float(again.mean()),
                       converged=bool(stored.mean() <= 1.1 * again.mean()))
        return out

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
        return self._invert(x, self.loss_fn)

    def _invert(self, x: Tensor, loss_fn: nn.Module) -> tuple[Tensor, Tensor]:
        inv = self.settings.invert
        out, z, _ = invert(self.generator, x.to(self.device), loss_fn,
                           lambda m, g: self.sample_codes(m, g), project_unit_ball,
                           steps=inv.steps, lr=inv.lr, restarts=inv.restarts,
                           batch_size=inv.batch_size, seed=1, keep_best_after=inv.keep_best_after,
                           converged_rel=inv.converged_rel, autocast=self.autocast)
        return out, z

    def latents(self) -> Tensor:
        return self.codes

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.decode(project_unit_ball(self.sample_codes(n, generator)))

    def model_extra_state(self) -> dict:
        return {"codes": self.codes.cpu()}

    def load_model_extra_state(self, state: dict) -> None:
        self.codes = state["codes"].to(self.device)
        self._gauss = None
