"""How far a GLO generator's MSE moves from one training step to the next.

A GLO run is scored with the generator and codes of its last step. If a single SGD step (the
generator's rate is 1) moves the generator's error a lot, that last state is a draw from a
wide distribution and two seeds can differ by more than their training curves do. This
measures the width: from one of a run's checkpoints (ckpt/last.pt or ckpt/prev.pt) it trains
on with the run's own code (the model's ``train_step``), precision, seed and data order for
the next epoch, and after every step takes the MSE, and the training loss, of the generator
as training uses it (train mode: batch statistics) on fixed scored training images with their
current codes:

    PYTHONPATH=~/glo-bench-runs/code-b4f6f8d python scripts/glo_step_noise.py RUN_DIR \
        [--checkpoint prev.pt] [--images 640] [--steps N] [--data-root DIR] [--json OUT.json]

Printed: the value at the checkpoint, the median and the 10th/90th percentile over the steps,
and the change made by the epoch's last batch when it is smaller than the others (10,000
images in batches of 64 end every epoch with one of 16). Nothing is written to the run.

Its sibling is `bench codes-gap RUN` (bench/codegap.py): the same exact replay from ckpt/prev.pt,
splitting the logged-loss vs stored-code gap per image into the step and the later drift. This
script repeats codegap's checkpoint restore because it must also run on the report's pinned tree
(b4f6f8d), which has codes-gap but no shared restore to call; once the pin moves, this belongs in
codes-gap as an option over that one restore.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a GLO run folder with ckpt/")
    p.add_argument("--checkpoint", default="last.pt", help="file in RUN/ckpt (default last.pt)")
    p.add_argument("--images", type=int, default=640,
                   help="fixed scored training images to measure on, in batches of the run's size")
    p.add_argument("--steps", type=int, default=0, help="steps to take (default: one epoch)")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None, help="write the result here too")
    a = p.parse_args(argv)

    import numpy as np
    import torch

    from bench.config.resolve import config_from_dict
    from bench.core.context import RunContext
    from bench.core.losses import mse_per_image
    from bench.core.model import TrainData
    from bench.core.trainer import Batch, Trainable
    from bench.data.cache import load_split
    from bench.data.sources import get_dataset
    from bench.runs.registry import build_model
    from bench.runtime.io import load_tensors

    run = a.run
    info = json.loads((run / "config.json").read_text())
    config = config_from_dict({**info["config"], "device": "cpu"})
    if config.family != "glo":
        raise SystemExit(f"{run}: a {config.family} run; this measures GLO runs")
    ckpt = run / "ckpt" / a.checkpoint
    if not ckpt.is_file():
        raise SystemExit(f"{ckpt}: no such checkpoint (a finished run keeps ckpt/last.pt and "
                         "prev.pt in its store; a bundle has none)")
    meta = info["data"]["dataset"]
    shape = (meta["channels"], meta["resolution"], meta["resolution"])
    split = load_split(get_dataset(meta["name"]), "train", a.data_root, cache_dir=a.cache_dir,
                       log=lambda m: print(m, file=sys.stderr))
    data = TrainData.from_array(np.asarray(split.images)[: info["data"]["train_used"]])
    model = build_model(config, shape)
    assert isinstance(model, Trainable)
    ctx = RunContext(None, seed=config.seed, precision=config.precision, quiet=True)
    state = load_tensors(ckpt, ckpt, map_location="cpu")
    model.train_data, model.precision = data, config.precision
    model.optimizers = model.make_optimizers()
    nets = model.nets()
    for name, net in nets.items():
        net.load_state_dict(state[name])
        net.train()
    for name, opt in model.optimizers.items():
        opt.load_state_dict(state[name])
    model.load_extra_state(state, data, ctx)
    model.train_nets = nets
    gen_net = nets["generator"]
    bs = config.model.batch_size

    with np.load(run / "per_image.npz") as f:
        scored = torch.from_numpy(f["train_index"][: a.images])
    fixed = list(scored.split(bs))
    fixed_x = [data.batch(r) for r in fixed]

    def measure() -> tuple[float, float]:
        with torch.no_grad(), ctx.autocast():
            outs = [gen_net(model.codes[r]) for r in fixed]
            mse = torch.cat([mse_per_image(o, x) for o, x in zip(outs, fixed_x, strict=True)])
            loss = torch.cat([model.loss_fn(o, x).float() for o, x in zip(outs, fixed_x, strict=True)])
        return float(mse.mean()), float(loss.mean())

    epoch = int(state["epoch"]) + 1
    gen = ctx.epoch_generator(epoch)
    mse, loss, sizes = [], [], []
    m, lo = measure()
    mse.append(m)
    loss.append(lo)
    step = epoch * data.steps_per_epoch(bs)
    for idx in data.epoch_batches(bs, gen):
        if a.steps and len(sizes) >= a.steps:
            break
        model.train_step(Batch(idx, data.batch(idx), gen, step), ctx)
        step += 1
        sizes.append(int(idx.numel()))
        m, lo = measure()
        mse.append(m)
        loss.append(lo)
    steps = np.asarray(mse[1:])
    result = {
        "run": run.name, "method": config.method, "seed": config.seed,
        "precision": config.precision, "checkpoint": a.checkpoint,
        "checkpoint_epoch": int(state["epoch"]), "epoch_replayed": epoch,
        "images": int(scored.numel()), "batch_sizes": sizes,
        "mse_at_checkpoint": mse[0], "loss_at_checkpoint": loss[0],
        "mse_median": float(np.median(steps)), "mse_p10": float(np.percentile(steps, 10)),
        "mse_p90": float(np.percentile(steps, 90)), "mse_min": float(steps.min()),
        "mse_max": float(steps.max()), "loss_median": float(np.median(loss[1:])),
        "mse_after_step": mse[1:], "loss_after_step": loss[1:],
    }
    if len(sizes) >= 2 and sizes[-1] < bs:
        result["last_batch"] = {"images": sizes[-1], "mse_before": mse[-2], "mse_after": mse[-1]}
    print(f"{run.name} ({config.method}, seed {config.seed}, {config.precision}): {a.checkpoint} "
          f"(after epoch {state['epoch']}), then {len(sizes)} steps of epoch {epoch}; MSE of "
          f"{result['images']} scored training images, train mode")
    print(f"  at the checkpoint {mse[0]:.5f}; over the steps median {result['mse_median']:.5f}, "
          f"p10-p90 {result['mse_p10']:.5f}-{result['mse_p90']:.5f}, "
          f"min-max {result['mse_min']:.5f}-{result['mse_max']:.5f}")
    if "last_batch" in result:
        lb = result["last_batch"]
        print(f"  the epoch's last batch ({lb['images']} images): {lb['mse_before']:.5f} -> "
              f"{lb['mse_after']:.5f}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
