"""Model family name -> class. The only place the harness names the four packages."""

from __future__ import annotations

from bench.config import RunConfig
from bench.model import Model


def build_model(config: RunConfig, shape: tuple[int, int, int]) -> Model:
    if config.family == "pca":
        from baselines.pca import PCAModel as cls
    elif config.family == "gan":
        from baselines.dcgan import GANModel as cls
    elif config.family == "vae":
        from baselines.vae import VAEModel as cls
    elif config.family == "glo":
        from glo import GLOModel as cls
    else:
        raise ValueError(f"unknown model family {config.family!r}")
    return cls(config.model, shape, config.device)
