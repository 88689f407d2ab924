"""The one interface the harness sees: fit, reconstruct, latents, sample (and decode).

The harness never asks which model it holds. PCA reconstructs by projection, the VAE by
its encoder mean, GLO and the GAN by optimising codes with the generator frozen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from bench.core.precision import autocast
from bench.runtime.distributed import SINGLE, Dist

if TYPE_CHECKING:  # the contract names the harness's RunContext; it imports this module
    from bench.core.context import RunContext


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of n images (one process): a last batch of one image is
    dropped, as bench.model.TrainData.epoch_batches does (batch norm needs two)."""
    return n // batch_size + (1 if n % batch_size >= 2 else 0)


def to_float(images_u8: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (the paper's pixel range)."""
    return images_u8.float().div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats -> uint8 [0, 255] on the CPU, the inverse of to_float (clamped: PCA's
    reconstructions can leave the range)."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


@dataclass
class TrainData:
    """Training images as one uint8 tensor (N x C x H x W) on the training device."""

    images: Tensor

    @classmethod
    def from_array(cls, array: np.ndarray, device: str | torch.device = "cpu") -> TrainData:
        return cls(torch.from_numpy(np.array(array, dtype=np.uint8, copy=True)).to(device))

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def batch(self, idx: Tensor) -> Tensor:
        return to_float(self.images[idx.to(self.images.device)])

    def epoch_batches(self, batch_size: int, generator: torch.Generator, dist: Dist = SINGLE):
        """Index batches of one epoch in the order ``generator`` draws; a last batch of one
        image is dropped (batch norm needs two).

        Under torch.distributed each rank draws only from its own block of images, in
        batches of about batch_size / world; every rank takes the same number of steps
        (collectives must pair up), so a rank with one image fewer has batches one smaller.
        """
        if not dist.enabled:
            perm = torch.randperm(len(self), generator=generator).to(self.images.device)
            for start in range(0, len(self), batch_size):
                idx = perm[start:start + batch_size]
                if idx.numel() >= 2:
                    yield idx
            return
        lo, hi = dist.block(len(self))
        local_batch = max(1, batch_size // dist.world)
        steps = -(-dist.max_block(len(self)) // local_batch)
        perm = lo + torch.randperm(hi - lo, generator=generator)
        yield from (idx.to(self.images.device) for idx in torch.tensor_split(perm, steps))

    def steps_per_epoch(self, batch_size: int, dist: Dist = SINGLE) -> int:
        """How many batches epoch_batches yields (the same on every rank)."""
        if not dist.enabled:
            return steps_per_epoch(len(self), batch_size)
        return -(-dist.max_block(len(self)) // max(1, batch_size // dist.world))

    def chunks(self, size: int, lo: int = 0, hi: int | None = None):
        """Images lo..hi (default: all) as float chunks of at most ``size`` rows."""
        hi = len(self) if hi is None else hi
        for start in range(lo, hi, size):
            yield to_float(self.images[start:min(start + size, hi)])


class Model(ABC):
    """Base of the four model packages."""

    #: whether reconstructions and samples lie in [-1, 1] (a tanh output); PCA's linear
    #: reconstructions are not clamped, as in the paper's PCA row
    bounded_output: bool = True

    def __init__(self, settings, shape: tuple[int, int, int], device: str = "cpu") -> None:
        self.settings = settings
        self.shape = shape
        self.device = torch.device(device)
        self.train_data: TrainData | None = None
        self.precision = "fp32"  # the trainer sets the run's; build_model the config's

    def autocast(self):
        """The precision the model trains and inverts in (bf16 autocast, or nothing)."""
        return autocast(self.precision, self.device)

    @abstractmethod
    def fit(self, data: TrainData, run: RunContext) -> None:
        """Train on ``data``; checkpoint through ``run``; resume from its checkpoint if any."""

    @abstractmethod
    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(x_hat, codes) for any images x in [-1, 1] (held-out ones too)."""

    def reconstruct_train(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """(x_hat, codes) for training images by index; GLO overrides with its learned codes."""
        assert self.train_data is not None, "fit() first"
        return self.reconstruct(self.train_data.batch(idx).to(self.device))

    def diagnostics(self, images_u8, indices: np.ndarray, check_n: int,
                    check_loss: str = "own") -> dict:
        """Family-specific checks of a trained model on its scored training images (GLO: did
        the codes move, are they optimal; ``check_loss``: re-invert with the model's own loss
        or with "mse"); stored as metrics.json's "codes". None by default."""
        return {}

    @abstractmethod
    def latents(self) -> Tensor:
        """N x d codes of the whole training set."""

    @abstractmethod
    def decode(self, codes: Tensor) -> Tensor:
        """Images in [-1, 1] from codes."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n new images in [-1, 1]."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Everything needed to reconstruct and sample again (saved as model.pt)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """The inverse of state_dict (a stored run's model.pt)."""
