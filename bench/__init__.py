"""glo-bench: benchmark and reproduction suite for Generative Latent Optimization."""

__version__ = "0.1.0"
