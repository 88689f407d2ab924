"""Model family name -> class. The only place the harness names the four packages.

All four are imported here, up front, together with the code version: a long run never
imports model code later than it hashed it (an edit made while it runs cannot slip in).
"""

from __future__ import annotations

import json
from pathlib import Path

from baselines.dcgan import GANModel
from baselines.pca import PCAModel
from baselines.vae import VAEModel
from bench.config import RunConfig, config_from_dict
from bench.io import load_tensors
from bench.model import Model
from bench.provenance import code_version
from glo import GLOModel

FAMILIES: dict[str, type[Model]] = {"pca": PCAModel, "gan": GANModel, "vae": VAEModel,
                                    "glo": GLOModel}
CODE_AT_IMPORT = code_version()


def build_model(config: RunConfig, shape: tuple[int, int, int], device: str | None = None) -> Model:
    """The configured model on ``device`` (default: the config's; under torch.distributed
    each rank passes its own GPU)."""
    if config.family not in FAMILIES:
        raise ValueError(f"unknown model family {config.family!r}")
    model = FAMILIES[config.family](config.model, shape, device or config.device)
    model.precision = config.precision
    return model


def load_model(run_dir: Path, device: str = "cpu") -> tuple[Model, RunConfig, dict]:
    """A stored run's trained model (from model.pt), its config, and config.json."""
    info = json.loads((Path(run_dir) / "config.json").read_text())
    config = config_from_dict({**info["config"], "device": device})
    dataset = info["data"]["dataset"]
    shape = (dataset["channels"], dataset["resolution"], dataset["resolution"])
    model = build_model(config, shape)
    path = Path(run_dir) / "model.pt"
    model.load_state_dict(load_tensors(path, path, map_location=device))
    return model, config, info
