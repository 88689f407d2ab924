"""A GAN's reconstruction MSE over training, from `bench eval-cost` readings of its checkpoints.

A GAN has no reconstruction loss while it trains: how well its generator can reconstruct the
training images is known only by inverting it. ``bench eval-cost RUN --checkpoint
KEPT.pt --against PCA_RUN --json R.json`` gives one such reading (the MSE of the first N
images the evaluation scores, and a finished run's MSE on the same images); this collects the
readings of one run, checks that they scored the same images with the same inversion, and
puts them beside the run's adversarial balance (curves.csv):

    bench gan-readings RUN_DIR READING.json ... --out docs/celeba128/gan_readings

It writes OUT.json (each reading's epoch, step, MSE, ratios, seconds an image, with the run,
its code version and the readings' files) and OUT.png / .pdf: the MSE ratio to each
``--against`` run over the generator steps (the paper's GAN-MSE / PCA at 128 px, 2.0x, and a
2.5x line drawn), D(real) and D(fake), and the generated / real pixel std. A reading of
another run, other images or another inversion is refused, naming the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.report.convergence import draw_gan_balance, gan_curve
from bench.runtime.io import atomic_write_json, save_figure


def load_readings(run: Path, files: list[Path]) -> list[dict]:
    """The readings sorted by epoch; each must be of ``run``, on the same images, with the
    same inversion settings and precision (else SystemExit naming the file)."""
    readings, first = [], None
    for f in files:
        try:
            r = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise SystemExit(f"{f}: not a readable `bench eval-cost` JSON ({type(e).__name__}); "
                             "pass the files its --json wrote") from None
        if r.get("run") != run.name:
            raise SystemExit(f"{f}: a reading of {r.get('run')}, not {run.name}; pass that run's "
                             "readings only")
        if "timed_indices" not in r or r.get("checkpoint_epoch") is None:
            raise SystemExit(f"{f}: no timed_indices / checkpoint_epoch (a `bench eval-cost` "
                             "reading older than 2026-12-04, of other images); leave it out")
        key = (r["timed_indices"], r.get("invert"), r.get("precision"))
        if first is None:
            first = (f, key)
        elif key != first[1]:
            raise SystemExit(f"{f}: other images, inversion or precision than {first[0]}; "
                             "readings compare only on the same images and settings")
        readings.append({**r, "file": str(f)})
    epochs = [r["checkpoint_epoch"] for r in readings]
    if len(set(epochs)) != len(epochs):
        raise SystemExit(f"two readings of one epoch among {[str(f) for f in files]}; keep one")
    return sorted(readings, key=lambda r: r["checkpoint_epoch"])


def collect(run: Path, files: list[Path]) -> dict:

    readings = load_readings(run, files)
    curve = gan_curve(run)
    if curve is None:
        raise SystemExit(f"{run}: no GAN curves.csv (d_real, d_fake, ...); pass a GAN run folder")
    step_of = dict(zip(curve["epoch"], curve["step"], strict=True))
    out = []
    for r in readings:
        epoch = r["checkpoint_epoch"]
        if epoch not in step_of:
            raise SystemExit(f"{r['file']}: epoch {epoch} is not in {run / 'curves.csv'}")
        out.append({"epoch": epoch, "step": step_of[epoch], "mse": r["mse_of_timed"],
                    "images": r["images_timed"], "seconds_per_image": r["seconds_per_image"],
                    "against": {a["method"]: {"run": a["run"], "mse": a["mse_on_timed"],
                                              "ratio": a["ratio"]} for a in r.get("against", [])},
                    "code": r.get("code"), "cpu": r.get("cpu"), "file": r["file"]})
    config = json.loads((run / "config.json").read_text())
    return {"run": run.name, "method": config["config"]["method"],
            "dataset": config["config"]["dataset"], "code": config.get("code"),
            "units": "MSE per pixel, [-1, 1] pixels, on the first N training images the "
                     "evaluation scores",
            "readings": out, "curve": curve}


def plot(data: dict, out_base: Path) -> list[Path]:
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), dpi=100)
    methods = list(dict.fromkeys(m for r in data["readings"] for m in r["against"]))
    for m in methods:
        pts = [(r["step"], r["against"][m]["ratio"]) for r in data["readings"] if m in r["against"]]
        axes[0].plot(*zip(*pts, strict=True), marker="o", label=f"MSE / {m}'s")
    if methods:
        axes[0].axhline(2.0, color="k", linestyle=":", linewidth=1,
                        label="the paper's GAN-MSE / PCA at 128 px")
        axes[0].axhline(2.5, color="k", linestyle="--", linewidth=1, label="2.5x")
        axes[0].set_ylabel("reconstruction MSE ratio, same images")
    else:
        axes[0].plot([r["step"] for r in data["readings"]], [r["mse"] for r in data["readings"]],
                     marker="o", label="MSE")
        axes[0].set_ylabel("MSE")
    axes[0].set_xlabel("generator step")
    axes[0].grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    draw_gan_balance(axes[1], axes[2], {data["method"]: data["curve"]})
    n = data["readings"][0]["images"] if data["readings"] else 0
    fig.suptitle(f"{data['method']} on {data['dataset']} over training ({n} scored training "
                 f"images a reading; {data['run']})")
    fig.tight_layout()
    return save_figure(fig, out_base)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="bench gan-readings", description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="the GAN run folder (config.json, curves.csv)")
    p.add_argument("readings", type=Path, nargs="+", help="`bench eval-cost --json` files of it")
    p.add_argument("--out", type=Path, required=True, help="base path: OUT.json, OUT.png/.pdf")
    a = p.parse_args(argv)

    data = collect(a.run, a.readings)
    atomic_write_json(a.out.with_suffix(".json"), data)
    plot(data, a.out)
    for r in data["readings"]:
        ratios = ", ".join(f"{m} {v['ratio']:.2f}x" for m, v in r["against"].items())
        print(f"epoch {r['epoch']:>4} step {r['step']:>6,}: MSE {r['mse']:.5f}"
              + (f" ({ratios})" if ratios else ""))
    print(f"-> {a.out.with_suffix('.json')}, {a.out.with_suffix('.png')}")
    return data


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
