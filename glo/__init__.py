"""Generative Latent Optimization (Bojanowski, Joulin, Lopez-Paz, Szlam)."""

from glo.model import GLOModel

__all__ = ["GLOModel"]
