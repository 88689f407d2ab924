"""Writing a run's files into its folder in the store (rank 0 only), each atomically:
config.json before training, then grids, codes, per-image metrics, model.pt and metrics.json,
and last the status that says complete."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.config.settings import RunConfig
from bench.eval.evaluate import Evaluation, image_grid, interleave
from bench.runs.store import RunDir
from bench.runtime.distributed import Dist
from bench.runtime.io import atomic_save_npy, atomic_write, atomic_write_json
from bench.runtime.machine import environment

UNITS = ("pixels scaled to [-1, 1]; MSE = mean squared error per pixel; Lap1 = "
         "sum_j weight_base^j * |L_j diff|_1 (level_norm, see metrics.json 'lap')")


def save_png(path: Path, array: np.ndarray) -> None:
    """A uint8 H x W (x C) array as a PNG, written atomically."""

    img = Image.fromarray(array)
    atomic_write(path, lambda f: img.save(f, format="PNG"))


def write_config(run: RunDir, config: RunConfig, data, n_train_used: int, code: dict,
                 dist: Dist) -> None:
    """config.json (the resolved config, data fingerprint, code version, environment) and the
    status 'running'; ``data`` is the plan's RunData."""
    train = data.train
    atomic_write_json(run.path / "config.json", {
        "config": config.to_dict(), "run_id": run.path.name, "code": code,
        "data": {"fingerprint": data.fingerprint, "dataset": data.dataset.describe(),
                 "train": {k: train.manifest[k] for k in ("count", "crop", "fingerprint_method")},
                 "train_used": n_train_used, "test_count": int(data.test.images.shape[0]),
                 "skipped_corrupt": len(train.manifest.get("skipped", []))},
        "environment": {**environment(config.device),
                        "distributed": {"world_size": dist.world, "backend": dist.backend}},
        "units": UNITS,
    })
    run.set_status("running", pid=os.getpid())


def write_evaluation(path: Path, ev: Evaluation) -> None:
    """Reconstruction grids, samples, the codes of the scored training images (z.npy) and
    the per-image metrics."""
    for name, res in ev.splits.items():
        save_png(path / "grids" / f"recon_{name}.png",
                 image_grid(interleave(res.originals, res.recons)))
    save_png(path / "grids" / "samples.png", image_grid([ev.samples.cpu()], nrow=8))
    atomic_save_npy(path / "z.npy", ev.splits["train"].codes.numpy())
    atomic_write(path / "per_image.npz", lambda f: np.savez(f, **ev.per_image))


def write_result(run: RunDir, model_state: dict, metrics: dict) -> None:
    """model.pt and metrics.json, then (only then) the status 'complete'."""
    atomic_write(run.path / "model.pt", lambda f: torch.save(model_state, f))
    atomic_write_json(run.path / "metrics.json", metrics)
    run.set_status("complete", fit_s=metrics["timing"]["fit_s"])
