"""DCGAN (Radford et al.) with Adam latent inversion: Table 1's GAN rows."""

from baselines.dcgan.family import FAMILY
from baselines.dcgan.model import GANModel
from baselines.dcgan.settings import GANSettings

__all__ = ["FAMILY", "GANModel", "GANSettings"]
