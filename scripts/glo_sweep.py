"""Two GLO sweeps on real CelebA-64 (cpu profile, PCA init, seed 0), each number stored with
its code version, data fingerprint and every setting in docs/glo_sweep/*.json:

- ``lr-z``: the codes' SGD learning rate (the paper: 10), GLO-MSE-PCA. Do the stored codes lag
  the generator because their steps are too short (their gradient carries 1/batch)?
- ``lap-weight``: GLO-PCA trained with w x Lap1 (the paper's fine-weighted pyramid) + 1 x MSE.
  The GAN ratio depends only on alpha = 1/w (docs/lap1.md: alpha 0.1 gives 1.58); this sets
  the overall scale SGD sees, so the MSE term trains as in GLO-MSE.

Every trained image's train MSE is scored on the cpu profile's 1,000 training images; the
code check (bench GLO diagnostics) re-inverts 300 of them with the generator frozen, with MSE.

    python scripts/glo_sweep.py lr-z --data-root ../shared/data --store S --values 0 10 30 100 640
    python scripts/glo_sweep.py lap-weight --data-root ../shared/data --store S --values 10 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.config import resolve  # noqa: E402
from bench.context import RunContext  # noqa: E402
from bench.data import get_dataset, load_split  # noqa: E402
from bench.evaluate import eval_indices, measure  # noqa: E402
from bench.io import atomic_write_json  # noqa: E402
from bench.losses import LAP1_VARIANTS, LapSettings, LossSpec, ReconLoss  # noqa: E402
from bench.model import TrainData  # noqa: E402
from bench.provenance import code_version  # noqa: E402
from bench.spec import RunSpec  # noqa: E402

OUT = ROOT / "docs" / "glo_sweep"


def main() -> None:
    from glo import GLOModel

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sweep", choices=("lr-z", "lap-weight"))
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--values", type=float, nargs="+", required=True)
    p.add_argument("--epochs", type=int, default=8)
    args = p.parse_args()
    out = OUT / f"{args.sweep}.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    split = load_split(get_dataset("celeba64"), "train", args.data_root, None, log=lambda m: None)
    data = TrainData.from_array(np.asarray(split.images))
    idx = eval_indices(len(data), 1000)
    for value in args.values:
        key = f"{value:g}"
        if key in results:
            continue
        if args.sweep == "lr-z":
            config = resolve(RunSpec("celeba64", seed=0), "glo-mse-pca", len(data), 64)
            settings = replace(config.model, lr_z=value, epochs=args.epochs)
        else:
            config = resolve(RunSpec("celeba64", seed=0), "glo-lap1-pca", len(data), 64)
            # value x (fine + MSE / value): the MSE term trains exactly as GLO-MSE's loss
            spec = LossSpec("lap1+mse", mse_weight=1.0, lap1_weight=value,
                            lap=LAP1_VARIANTS["paper"].lap)
            settings = replace(config.model, loss=spec, epochs=args.epochs)
        run_dir = args.store / f"{args.sweep}_{key}"
        run_dir.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(run_dir, seed=0, quiet=True)
        torch.manual_seed(0)
        model = GLOModel(settings, data.shape)
        t = time.time()
        model.fit(data, ctx)
        fit_s = time.time() - t
        mse = measure(model, split.images, idx, LapSettings(), train=True).mse
        model.loss_fn = ReconLoss(LossSpec("mse"))  # the code check re-inverts with MSE
        diag = model.diagnostics(data.images, idx, 300)
        diag.pop("spectrum_init", None)
        results[key] = {"train_mse": float(mse.mean()), "fit_s": round(fit_s, 1), "diag": diag,
                        "curve": [c.get("loss") for c in ctx.curves], "code": code_version(),
                        "fingerprint": split.fingerprint, "seed": 0,
                        "settings": {k: str(v) for k, v in asdict(settings).items()}}
        if args.sweep == "lap-weight":
            results[key].update(lap_weight=value, mse_weight=1.0)
        print(f"{args.sweep} {key}: train MSE {results[key]['train_mse']:.5f}, stored codes "
              f"{diag['stored_mse']:.5f}, re-inverted {diag['reinverted_mse']:.5f}, cosine to "
              f"init {diag['cosine_to_init_mean']:.4f}", flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out, results)
        ctx.close()


if __name__ == "__main__":
    main()
