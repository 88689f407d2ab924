"""Does the GAN plateau? Its reconstruction MSE over training on real CelebA-64.

The GAN's adversarial losses do not fall to a plateau, so the cpu profile trains it a fixed
number of epochs. This measures what Table 1 scores instead: after every epoch of the cpu
profile's GAN (seed 0, the 10,000 shared CelebA training images at 64 px), the same N
training images are inverted with the generator frozen, with MSE and (every ``--ratio-every``
epochs) with the default Lap1, exactly as the evaluation does. The trainer resumes each epoch from the last
one's checkpoint, so the run is the one a single ``fit`` of that many epochs trains.

Each epoch's numbers are stored as they come (with code version, data fingerprint and every
setting) in docs/gan_curve.json; rerun the same command to resume after a kill. ``--plot``
draws docs/gan_curve.png from that file and trains nothing.

    python scripts/gan_curve.py --data-root ../shared/data --store S --epochs 20 --n 128 \
        --ratio-every 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.config import resolve  # noqa: E402
from bench.context import RunContext  # noqa: E402
from bench.data import get_dataset, load_split  # noqa: E402
from bench.evaluate import eval_indices, measure  # noqa: E402
from bench.io import atomic_write_json  # noqa: E402
from bench.losses import DEFAULT_LAP1, LAP1_VARIANTS, ReconLoss  # noqa: E402
from bench.model import TrainData  # noqa: E402
from bench.provenance import code_version  # noqa: E402
from bench.spec import RunSpec  # noqa: E402
from bench.trainer import StopRule  # noqa: E402

OUT = ROOT / "docs" / "gan_curve.json"


def plateau_epoch(mses: list[float], rule: StopRule) -> int | None:
    """The first epoch (1-based) after which ``rule`` would have stopped on this curve."""
    return next((k for k in range(1, len(mses) + 1) if rule.should_stop(mses[:k])), None)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    per_epoch = set()
    for key, entry in results.items():
        rows = entry["epochs"]
        per_epoch.add(rows[0]["step"] // rows[0]["epoch"])
        ax.plot([r["epoch"] for r in rows], [r["mse"] for r in rows], "o-", ms=3,
                label=f"{key}: MSE inversion")
        lap = [r for r in rows if "mse_lap1_inverted" in r]
        ax.plot([r["epoch"] for r in lap], [r["mse_lap1_inverted"] for r in lap], "s--", ms=4,
                label=f"{key}: {entry['lap1']} Lap1 inversion")
        if entry.get("plateau_epoch_1pct"):
            ax.axvline(entry["plateau_epoch_1pct"], color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"epoch ({', '.join(map(str, sorted(per_epoch)))} steps each)")
    ax.set_ylabel("train MSE per pixel, [-1, 1] pixels")
    ax.set_title("GAN reconstruction MSE over training (generator frozen, Adam inversion)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    from baselines.dcgan import GANModel

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="celeba64")
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--store", type=Path, help="run folder (checkpoints)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--n", type=int, default=256, help="training images inverted each epoch")
    p.add_argument("--ratio-every", type=int, default=0,
                   help="also invert with the default Lap1 after epoch 1 and every this many")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--plot", action="store_true", help="only draw the figure from --out")
    args = p.parse_args()
    if args.plot:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return
    if args.store is None:
        p.error("--store is required to train")
    split = load_split(get_dataset(args.dataset), "train", args.data_root, None,
                       log=lambda m: None)
    data = TrainData.from_array(np.asarray(split.images))
    idx = eval_indices(len(data), args.n)
    config = resolve(RunSpec(args.dataset, seed=0), "gan-mse", len(data), data.shape[-1])
    key = f"{args.dataset}_seed0_n{args.n}"
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    entry = results.setdefault(key, {"epochs": []})
    source = code_version()["source_sha256"]  # of bench/, baselines/, glo/
    if entry["epochs"] and entry.get("code", {}).get("source_sha256") != source:
        sys.exit(f"{args.out}: {key} was measured by another code version; move it away first")
    entry.update(code=code_version(), fingerprint=split.fingerprint, seed=0, n=args.n,
                 settings={k: str(v) for k, v in asdict(config.model).items()},
                 lap1=DEFAULT_LAP1)
    ctx = RunContext(args.store, seed=0, quiet=True)
    model = GANModel(config.model, data.shape)
    mse_loss, lap_loss = model.loss_fn, ReconLoss(LAP1_VARIANTS[DEFAULT_LAP1])
    for epoch in range(len(entry["epochs"]) + 1, args.epochs + 1):
        model.settings = replace(config.model, epochs=epoch)
        t = time.time()
        model.fit(data, ctx)  # resumes from the previous epoch's checkpoint
        fit_s = time.time() - t
        row = {"epoch": epoch, "step": ctx.curves[-1]["step"], "fit_s": round(fit_s, 1)}
        t = time.time()
        model.loss_fn = mse_loss
        row["mse"] = float(measure(model, split.images, idx, LAP1_VARIANTS[DEFAULT_LAP1].lap,
                                   train=False).mse.mean())
        ratio = args.ratio_every > 0 and (epoch == 1 or epoch % args.ratio_every == 0)
        if ratio:
            model.loss_fn = lap_loss
            row["mse_lap1_inverted"] = float(
                measure(model, split.images, idx, LAP1_VARIANTS[DEFAULT_LAP1].lap,
                        train=False).mse.mean())
            row["ratio"] = row["mse_lap1_inverted"] / row["mse"]
        row["eval_s"] = round(time.time() - t, 1)
        entry["epochs"].append(row)
        mses = [r["mse"] for r in entry["epochs"]]
        entry["plateau_epoch_1pct"] = plateau_epoch(mses, StopRule(len(mses), 0.01, 2))
        atomic_write_json(args.out, results)
        print(f"epoch {epoch}: MSE {row['mse']:.5f}"
              + (f", Lap1-inverted {row['mse_lap1_inverted']:.5f} (ratio {row['ratio']:.3f})"
                 if ratio else "") + f"; fit {fit_s:.0f} s, eval {row['eval_s']:.0f} s",
              flush=True)
    ctx.close()


if __name__ == "__main__":
    main()
