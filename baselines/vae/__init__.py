"""A VAE with DCGAN encoder and decoder: Table 1's VAE rows."""

from baselines.vae.family import FAMILY
from baselines.vae.model import VAEModel
from baselines.vae.settings import VAESettings

__all__ = ["FAMILY", "VAEModel", "VAESettings"]
