"""PCA, Table 1's linear baseline, behind the model contract: codes by projection onto the
top-d principal directions (bench.core.pca fits them)."""

from __future__ import annotations

import torch
from torch import Tensor

from bench.core.context import RunContext
from bench.core.model import Model, TrainData
from bench.core.pca import PCAFit, PCASettings, fit_pca


class PCAModel(Model):
    settings: PCASettings
    bounded_output = False  # a linear projection: reconstructions are not clamped

    def fit(self, data: TrainData, run: RunContext) -> None:
        self.train_data = data
        self.pca = fit_pca(data, self.settings, run.seed, run.dist)
        run.log(f"PCA: {self.pca.components.shape[1]} components ({self.pca.solver} solver), "
                f"explained variance {self.pca.explained_ratio:.4f}")
        run.record(epoch=0, explained_variance=self.pca.explained_ratio)

    def _to(self, t: Tensor, like: Tensor) -> Tensor:
        return t.to(like.device)

    def encode(self, x: Tensor) -> Tensor:
        return self.pca.encode(x)

    def decode(self, codes: Tensor) -> Tensor:
        flat = codes @ self._to(self.pca.components, codes).T + self._to(self.pca.mean, codes)
        return flat.view(-1, *self.shape)

    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor]:
        codes = self.encode(x)
        return self.decode(codes), codes

    def latents(self) -> Tensor:
        assert self.train_data is not None
        return torch.cat([self.encode(c) for c in self.train_data.chunks(4096)])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        std = self.pca.explained_variance.sqrt()
        z = torch.randn(n, std.shape[0], generator=generator) * std
        return self.decode(z).clamp(-1, 1)

    def state_dict(self) -> dict:
        return {"pca": dict(vars(self.pca))}

    def load_state_dict(self, state: dict) -> None:
        self.pca = PCAFit(**state["pca"])
