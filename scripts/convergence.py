"""Convergence of the trained families on one dataset, from a run store: training loss
against steps and wall time, PCA's train MSE as the line to beat, and where an MSE-trained
family's curve would cross it if its tail went on as a power law.

    python scripts/convergence.py --runs /work/conv/store --dataset celeba64 --out docs/convergence

writes <out>.png (two panels: loss vs step, loss vs wall time, log scales) and <out>.json
(every curve with its run id, config, code version and data fingerprint, the fits and the
projected crossings). Wall time per epoch comes from the run's log.txt timestamps (1 s
resolution). The projection is an extrapolation, labelled so: log(loss) fitted linear in
log(step) over the last half of the epochs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.convergence import summarize_run  # noqa: E402
from bench.io import atomic_write_json  # noqa: E402
from bench.store import find_runs, load_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "convergence")
    args = ap.parse_args()
    runs = [load_run(p) for p in find_runs(args.runs)]
    runs = [r for r in runs if r["config"]["config"]["dataset"] == args.dataset
            and r["status"].get("state") == "complete"]
    pca = [r["metrics"]["train"]["mse"] for r in runs if r["config"]["config"]["method"] == "pca"]
    target = float(np.mean(pca)) if pca else None
    out = {"dataset": args.dataset, "pca_train_mse": target, "units": "[-1, 1] pixels",
           "curves": {}}
    for r in runs:
        cfg = r["config"]["config"]
        if cfg["family"] == "pca":
            continue
        c = summarize_run(r, target)
        if c is None:
            out.setdefault("skipped", []).append(f"{cfg['method']}: no reconstruction loss "
                                                 f"during training")
            continue
        entry = {**c, "run": Path(r["path"]).name, "method": cfg["method"], "seed": cfg["seed"],
                 "model": cfg["model"], "code": r["config"]["code"],
                 "data_fingerprint": r["config"]["data"]["fingerprint"],
                 "train_mse": r["metrics"]["train"]["mse"],
                 "codes": {k: v for k, v in r["metrics"].get("codes", {}).items()
                           if k != "spectrum_init"}}
        out["curves"][f"{cfg['method']} seed {cfg['seed']}"] = entry
    atomic_write_json(args.out.with_suffix(".json"), out)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), dpi=100)
    for label, e in out["curves"].items():
        if e["loss_is_mse"]:
            axes[0].plot(e["step"], e["loss"], label=label)
            secs = [(s, v) for s, v in zip(e["seconds"], e["loss"], strict=True) if s is not None]
            if secs:
                axes[1].plot(*zip(*secs, strict=True), label=label)
        rel = np.asarray(e["loss"]) / e["loss"][0]
        axes[2].plot(np.asarray(e["epoch"]) + 1, rel, label=label)
    for ax, xl in zip(axes[:2], ("step", "wall seconds (this 2-core CPU)"), strict=True):
        if target is not None:
            ax.axhline(target, color="k", linestyle="--", linewidth=1, label="PCA train MSE")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labels would overlap
        ax.set_xlabel(xl)
        ax.set_ylabel("GLO-MSE training loss (MSE, [-1, 1] pixels)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("training loss / first epoch's (own units)")
    axes[2].grid(alpha=0.3, which="both")
    axes[2].legend(fontsize=7)
    fig.suptitle(f"Convergence on {args.dataset}")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(json.dumps({k: {"train_mse": v["train_mse"], "last_loss": v["loss"][-1],
                          "epochs": len(v["loss"]),
                          "projected_step_reaching_pca": v.get("projected_step")}
                      for k, v in out["curves"].items()}, indent=1))


if __name__ == "__main__":
    main()
