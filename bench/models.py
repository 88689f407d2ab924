"""Model family name -> class. The only place the harness names the four packages."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bench.config import RunConfig, config_from_dict
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


def load_model(run_dir: Path, device: str = "cpu") -> tuple[Model, RunConfig, dict]:
    """A stored run's trained model (from model.pt), its config, and config.json."""
    info = json.loads((Path(run_dir) / "config.json").read_text())
    config = config_from_dict({**info["config"], "device": device})
    dataset = info["data"]["dataset"]
    shape = (dataset["channels"], dataset["resolution"], dataset["resolution"])
    model = build_model(config, shape)
    model.load_state_dict(torch.load(Path(run_dir) / "model.pt", map_location=device,
                                     weights_only=False))
    return model, config, info
