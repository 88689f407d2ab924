"""How long a run's evaluation will take, measured before it happens.

A GAN run's evaluation inverts every scored image (hours at 128 px on a CPU), and in code
older than the evaluation journal it must finish in one process. This times the run's own
reconstruction of images it has not stored codes for (the GAN: its latent inversion; GLO:
code inversion with the generator frozen; the VAE: its encoder) with the model of its latest
checkpoint (ckpt/last.pt, else model.pt), on the first N of the training images its evaluation
will score (bench.evaluate.eval_indices), and projects the evaluation's reconstructions at
that rate:

    bench eval-cost RUN_DIR [--images 64] [--against DONE_RUN ...] [--checkpoint FILE]
                            [--json OUT.json]

It also says how good those reconstructions are so far: their MSE, and with ``--against``
(repeatable) a finished run's MSE on the same images, from its per_image.npz (a store's run
folder or a bundle's), and the ratio: e.g. how far an unfinished GAN is from PCA.

Run it with the code that will evaluate, e.g. from a pinned worktree:
``cd ~/glo-bench-runs/code-COMMIT && python -m bench eval-cost RUN_DIR``. It uses
the run's own config (precision, inversion steps and restarts), data and seed; a training
run beside it makes the timing meaningless (pause it). An early-trained generator can stop
its images sooner or later than the final one: the projection is an estimate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.config.resolve import config_from_dict
from bench.core.context import RunContext
from bench.core.model import TrainData, to_float
from bench.core.trainer import Trainable
from bench.data import get_dataset, load_split
from bench.eval.evaluate import eval_indices
from bench.runs.provenance import code_version
from bench.runs.registry import build_model
from bench.runtime.io import atomic_write_json, load_tensors
from bench.runtime.machine import cpu_info


def inverted_images(family: str, ev, n_train: int, n_test: int) -> tuple[int, str]:
    """How many images the evaluation reconstructs the costly way, and which: each split's
    scored images as the evaluation chooses them (bench.evaluate.eval_indices)."""

    if ev.heldout and not ev.heldout_n:
        raise SystemExit(f"the run scores every image of {ev.heldout}: pass --eval-images N "
                         "to project for N reconstructions")
    train, test = eval_indices(n_train, ev.train_n).size, eval_indices(n_test, ev.test_n).size
    held = ev.heldout_n if ev.heldout else 0
    if family == "glo":  # training images keep their stored codes; the codes check re-inverts
        # as many of them as there are test images, at most codes_check_n (bench.evaluate)
        return test + held + min(ev.codes_check_n, test), "test + held-out + codes check"
    return train + test + held, "train + test + held-out"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="bench eval-cost", description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a run folder (its config.json and ckpt/last.pt)")
    p.add_argument("--images", type=int, default=64, help="training images to time (default 64)")
    p.add_argument("--eval-images", type=int, default=None,
                   help="project for this many reconstructions instead of the config's counts")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--against", type=Path, action="append", default=[],
                   help="a finished run (its per_image.npz) to compare the timed images' MSE with")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="this run's checkpoint to load instead of its latest (e.g. a copy of "
                        "ckpt/last.pt kept from an earlier epoch), a training checkpoint or a "
                        "model.pt")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    a = p.parse_args(argv)



    cfg_path = a.run / "config.json"
    if not cfg_path.is_file():
        raise SystemExit(f"{cfg_path}: no such file; pass a run folder (the one with config.json)")
    info = json.loads(cfg_path.read_text())
    config = config_from_dict({**info["config"], "device": "cpu"})
    if a.checkpoint is not None:
        if not a.checkpoint.is_file():
            raise SystemExit(f"{a.checkpoint}: no such file; --checkpoint takes a checkpoint of "
                             f"{a.run.name} (ckpt/last.pt or a copy of it, or model.pt)")
        ckpt = a.checkpoint
    else:
        ckpt = next((f for f in (a.run / "ckpt" / "last.pt", a.run / "model.pt") if f.is_file()),
                    None)
    if ckpt is None:
        raise SystemExit(f"{a.run}: neither ckpt/last.pt nor model.pt; nothing trained to time yet")
    split = load_split(get_dataset(config.dataset), "train", a.data_root, a.cache_dir,
                       log=lambda m: None)
    if not info["data"]["fingerprint"].startswith(split.fingerprint):
        raise SystemExit(f"{a.run} was trained on other data than {config.dataset} here "
                         f"(fingerprint {info['data']['fingerprint'][:16]}, found "
                         f"{split.fingerprint[:16]}): pass its --data-root")
    images = np.asarray(split.images)[: config.subset or None]
    model = build_model(config, tuple(images.shape[1:]))
    if not isinstance(model, Trainable):
        raise SystemExit(f"{a.run}: a {config.family} run; its evaluation is a projection, "
                         "nothing to time")
    state = load_tensors(ckpt, ckpt, map_location="cpu")
    data = TrainData.from_array(images)
    model.train_data, model.precision = data, config.precision
    if "epoch" not in state:  # the final model: nets plus what the family adds (GLO's codes)
        model.load_state_dict(state)
    else:  # a training checkpoint: nets, then the family's own state as a resume loads it
        for name, net in model.nets().items():
            if name not in state:
                raise SystemExit(f"{ckpt}: no {name!r} weights; not a checkpoint of a "
                                 f"{config.method} run like {a.run.name}")
            net.load_state_dict(state[name])
        model.load_extra_state(state, data, RunContext(None, seed=config.seed,
                                                       precision=config.precision, quiet=True))
    timed = eval_indices(len(images), config.eval.train_n)[: a.images]
    n = len(timed)
    x = to_float(torch.from_numpy(np.array(images[timed])))
    start = time.perf_counter()
    x_hat, _ = model.reconstruct(x)
    seconds = time.perf_counter() - start
    if a.eval_images is not None:
        count, which = a.eval_images, "--eval-images"
    else:
        count, which = inverted_images(config.family, config.eval, len(images),
                                       int(info["data"]["test_count"]))
    per_image = seconds / n
    mse = float(((x_hat.float().cpu() - x) ** 2).mean())
    against = [_against(run, config.dataset, timed, mse) for run in a.against]
    result = {
        "run": a.run.name, "method": config.method, "checkpoint": _shown(ckpt, a.run),
        "checkpoint_epoch": state.get("epoch"), "precision": config.precision,
        "invert": (dataclasses.asdict(config.model.invert)
                   if dataclasses.is_dataclass(getattr(config.model, "invert", None)) else None),
        "images_timed": n, "seconds": round(seconds, 2), "seconds_per_image": per_image,
        "timed_indices": timed.tolist(), "mse_of_timed": mse, "against": against,
        "eval_reconstructions": count, "which": which,
        "projected_eval_s": per_image * count,
        "code": code_version(), "cpu": cpu_info()["model"],
        "threads": torch.get_num_threads(),
    }
    print(f"{a.run.name} ({config.method}, {_shown(ckpt, a.run)}, epoch "
          f"{state.get('epoch')}, {config.precision}): {n} images in {seconds:.1f} s, "
          f"{per_image:.2f} s an image; the evaluation's {count:,} reconstructions ({which}): "
          f"about {per_image * count / 3600:.2f} h on this machine ({result['cpu']}, "
          f"{result['threads']} threads; code {result['code'].get('git_commit', '?')[:7]})")
    for c in against:
        print(f"  MSE on those {n} images: {mse:.5f}, {c['method']} ({c['run']}) {c['mse_on_timed']:.5f}: "
              f"{c['ratio']:.2f}x")
    if a.json is not None:
        atomic_write_json(a.json, result)
    return result


def _shown(ckpt: Path, run: Path) -> str:
    """The checkpoint as the run's relative path where it is inside the run, else as given."""
    try:
        return str(ckpt.resolve().relative_to(run.resolve()))
    except ValueError:
        return str(ckpt)


def _against(run: Path, dataset: str, timed, mse: float) -> dict:
    """A finished run's mean training MSE on the timed images, from its per_image.npz."""

    path = run / "per_image.npz"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; --against takes a finished run's folder")
    config = json.loads((run / "config.json").read_text())["config"]
    if config["dataset"] != dataset:
        raise SystemExit(f"{run}: a {config['dataset']} run, not {dataset}; pass a run of the "
                         "same dataset")
    with np.load(path) as f:
        by_index = dict(zip(f["train_index"].tolist(), f["train_mse"].tolist(), strict=True))
    missing = [int(i) for i in timed if int(i) not in by_index]
    if missing:
        raise SystemExit(f"{path} has no score for training image(s) {missing[:5]}: its evaluation "
                         "scored other images; pass a run of the same dataset and train_n")
    theirs = float(np.mean([by_index[int(i)] for i in timed]))
    return {"run": run.name, "method": config["method"], "mse_on_timed": theirs, "ratio": mse / theirs}


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
