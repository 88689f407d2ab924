"""Building and loading models: a run's config -> its model, a stored run -> its trained model.

The families are imported (bench.config.families) before the code version is taken here: a
long run never imports model code later than it hashed it (an edit made while it runs cannot
slip in).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.config.families import FAMILIES
from bench.config.resolve import config_from_dict
from bench.config.settings import RunConfig
from bench.core.model import Model
from bench.runs.provenance import code_version
from bench.runtime.io import load_tensors

#: family name -> its model class (bench.config.families knows the families)
MODELS: dict[str, type[Model]] = {name: family.model for name, family in FAMILIES.items()}
CODE_AT_IMPORT = code_version()


def build_model(config: RunConfig, shape: tuple[int, int, int], device: str | None = None) -> Model:
    """The configured model on ``device`` (default: the config's; under torch.distributed
    each rank passes its own GPU)."""
    if config.family not in MODELS:
        raise ValueError(f"unknown model family {config.family!r}")
    model = MODELS[config.family](config.model, shape, device or config.device)
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
