"""Where a GLO run's reconstruction error lies, and which loss term drives its generator.

For each run folder: its generator decodes its stored codes for the run's scored training
images (per_image.npz), and the error is split into each image's mean colour (the per-channel
mean of the error), chroma (what differs between R, G and B) and the rest; the spread across
channels and the overall std of the output against the images'. Then, on 4 batches of 64
training images with their codes (batch norm in train mode, as in training), the gradient
norm over the generator's parameters of each term of `--lap1 paper` (PAPER_LAP1_WEIGHT x the
fine-weighted pyramid, and 1 x MSE). docs/budget.md's table on GLO with the paper's Lap1
comes from this. Usage:
    python scripts/glo_colour.py RUN_DIR [RUN_DIR ...] --data-root ../shared/data [--json OUT]
tests/test_convergence.py runs it on a small GLO run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bench.core.losses import LAP1_VARIANTS, Lap1, mse_per_image
from bench.core.model import to_float
from bench.data import get_dataset, load_split
from bench.runs.provenance import code_version
from bench.runs.registry import load_model
from bench.runtime.io import atomic_write_json

LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def _images(u8, idx: np.ndarray) -> torch.Tensor:
    return to_float(torch.from_numpy(np.array(u8[idx])))


def error_split(model, u8, idx: np.ndarray) -> dict[str, float]:
    idx = np.sort(idx)
    x = _images(u8, idx)
    with torch.no_grad():
        rec = model.reconstruct_train(torch.from_numpy(idx))
        xh = (rec[0] if isinstance(rec, tuple) else rec).float()
    err = xh - x
    mse = err.pow(2).mean().item()
    out = {"mse": mse, "n": len(idx),
           "mean_colour_share": err.mean(dim=(2, 3)).pow(2).mean().item() / mse,
           "std_output": xh.std().item(), "std_images": x.std().item(),
           "chroma_share": None, "channel_spread_output": None, "channel_spread_images": None}
    if x.shape[1] == 3:  # RGB: what differs between the channels (grey images have none)
        luma = (err * LUMA).sum(1, keepdim=True)
        out.update(chroma_share=(err - luma).pow(2).mean().item() / mse,
                   channel_spread_output=xh.std(1).mean().item(),
                   channel_spread_images=x.std(1).mean().item())
    return out


def gradient_norms(model, u8, batches: int = 4, batch: int = 64) -> dict[str, float]:
    paper = LAP1_VARIANTS["paper"]
    fine = Lap1(paper.lap)
    terms = {"paper_fine_term": lambda a, y: paper.lap1_weight * fine(a, y),
             "mse_term": lambda a, y: paper.mse_weight * mse_per_image(a, y)}
    g, z_all = model.generator, model.latents().float()
    g.train()
    batch = min(batch, len(z_all))
    batches = min(batches, len(z_all) // batch)
    sums = dict.fromkeys(terms, 0.0)
    for b in range(batches):
        idx = np.arange(b * batch, (b + 1) * batch)
        x, z = _images(u8, idx), z_all[idx]
        for name, term in terms.items():
            g.zero_grad()
            term(g(z), x).mean().backward()
            sums[name] += torch.sqrt(sum(p.grad.pow(2).sum() for p in g.parameters())).item()
    g.eval()
    norms = {k: v / batches for k, v in sums.items()}
    norms["ratio"] = norms["paper_fine_term"] / norms["mse_term"]
    return norms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    for run in args.runs:
        model, config, info = load_model(run)
        if config.family != "glo":
            raise SystemExit(f"{run}: a {config.family} run; this looks at GLO runs only")
        split = load_split(get_dataset(config.dataset), "train", args.data_root, args.cache_dir,
                           log=lambda _m: None)
        idx = np.load(run / "per_image.npz")["train_index"]
        row = {"run": run.name, "method": config.method, "loss": info["config"]["model"]["loss"],
               "run_code": info["code"], "data_fingerprint": info["data"]["fingerprint"],
               **error_split(model, split.images, idx), **gradient_norms(model, split.images)}
        rows.append(row)
        colour = ("" if row["chroma_share"] is None else
                  f", chroma share {row['chroma_share']:.2f}; R/G/B spread "
                  f"{row['channel_spread_output']:.3f} (images {row['channel_spread_images']:.3f})")
        print(f"{run.name}: MSE {row['mse']:.5f} on {row['n']} scored training images; "
              f"mean-colour share {row['mean_colour_share']:.2f}{colour}; std "
              f"{row['std_output']:.3f} (images {row['std_images']:.3f}); gradient "
              f"{LAP1_VARIANTS['paper'].lap1_weight:g} x fine / MSE {row['ratio']:.1f}")
    if args.json is not None:
        atomic_write_json(args.json, {"runs": rows, "script_code": code_version()})


if __name__ == "__main__":
    main()
