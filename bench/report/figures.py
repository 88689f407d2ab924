"""The report's figures that load models and data: reconstruction and sample grids, Figure 1's
spectra, interpolations, walks and code arithmetic, scaled up by a whole factor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.data import get_dataset, load_split
from bench.data.cache import split_names
from bench.eval.evaluate import image_grid
from bench.eval.figures import arithmetic, interpolations, principal_walks
from bench.runs.artifacts import save_png
from bench.runs.registry import load_model

GRID_NAMES = ("recon_train", "recon_test", "recon_heldout", "samples")
#: a bundled run's figures (bench.report.bundle), drawn when it was bundled: grid -> file
FIGURES = "figures.json"


GRID_WIDTH = 560  # px: grids are scaled up by a whole factor (no smoothing) to about this width


def _display_width(path: Path) -> int:
    """The grid's width scaled up by the whole factor that brings it to about GRID_WIDTH
    pixels (at most 8x; a grid already that wide keeps its size)."""

    with Image.open(path) as im:
        return im.width * max(1, min(8, GRID_WIDTH // max(1, im.width)))


def make_figures(run: dict, out: Path, data_root: Path | None, dataset: str) -> dict[str, str]:
    """Interpolations, principal walks and arithmetic for one run; returns grid -> file.
    A bundled run (bench.bundle) has no model: its figures, drawn by this function when it was
    bundled, are copied instead."""


    path = Path(run["path"])
    method = run["config"]["config"]["method"]
    if not (path / "model.pt").is_file() or not (path / "z.npy").is_file():
        return bundled_figures(path, out) or {}  # a bundle: drawn when it was bundled
    model, _cfg, _info = load_model(path)
    z = torch.from_numpy(np.load(path / "z.npy"))
    files = {}
    grids = {"interp": interpolations(model, z), "walks": principal_walks(model, z)}
    for name, rows in grids.items():
        save_png(out / "grids" / f"{method}_{name}.png", image_grid(rows))
        files[name] = f"grids/{method}_{name}.png"
    ds = get_dataset(dataset)
    if hasattr(ds, "attributes") and data_root is not None:
        header, attrs = ds.attributes(data_root)
        if header:
            train = load_split(ds, "train", data_root, None, log=lambda m: None)
            names = split_names(ds, data_root, train) or []
            idx = np.load(path / "per_image.npz")["train_index"]
            mat = np.stack([attrs.get(names[i], np.zeros(len(header), np.int8)) for i in idx])
            arith = arithmetic(model, z, mat, header)
            if arith is not None:
                save_png(out / "grids" / f"{method}_arith.png", image_grid([arith["row"]]))
                files["arith"] = f"grids/{method}_arith.png"
                files["arith_sizes"] = json.dumps(arith["sizes"])
    return files


def bundled_figures(path: Path, out: Path) -> dict[str, str] | None:
    """A bundled run's pre-drawn figures copied into the report folder ``out``, as
    make_figures returns them; None when ``path`` is not a bundle with figures."""
    try:
        files = json.loads((Path(path) / FIGURES).read_text())
    except (FileNotFoundError, ValueError):
        return None
    for rel in files.values():
        if rel.endswith(".png"):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(path) / rel, out / rel)
    return files
