"""Generative Latent Optimization (Bojanowski, Joulin, Lopez-Paz, Szlam)."""

from glo.family import FAMILY
from glo.model import GLOModel
from glo.settings import GLOSettings

__all__ = ["FAMILY", "GLOModel", "GLOSettings"]
