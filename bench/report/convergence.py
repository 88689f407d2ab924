"""How far a run is from converged, read from what it stored: its per-epoch training loss
(curves.csv) and its log's timestamps.

A report uses this to say why a claim fails: whether each family's loss had stopped falling
(the plateau rule: less than 1% better per epoch, two epochs in a row), and, for the
MSE-trained GLO rows whose training loss is a per-pixel MSE like PCA's, where the curve would
reach PCA's train MSE if its tail went on as a power law (log loss linear in log step, fitted
over the last half of the epochs). The projection is an extrapolation and is labelled so.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bench.core.trainer import StopRule
from bench.runs.progress import epoch_seconds
from bench.runs.store import find_runs, load_run
from bench.runtime.io import atomic_write_json, save_figure

PLATEAU_REL = 0.01  # "plateaued": the epoch loss improved by less than this ...


PLATEAU_EPOCHS = 2  # ... this many epochs in a row


def curve(run_path: Path) -> dict | None:
    """The run's per-epoch training loss (epoch, step, loss, seconds), or None when it has no
    reconstruction loss (the GAN logs its discriminator's and generator's losses)."""
    path = Path(run_path)
    if not (path / "curves.csv").is_file():
        return None
    with (path / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    if not rows or "loss" not in rows[0]:
        return None
    secs = epoch_seconds(path / "log.txt") if (path / "log.txt").is_file() else {}
    return {"epoch": [int(r["epoch"]) for r in rows], "step": [int(r["step"]) for r in rows],
            "loss": [float(r["loss"]) for r in rows],
            "seconds": [secs.get(int(r["epoch"])) for r in rows]}


GAN_COLUMNS = ("d_real", "d_fake", "fake_std", "real_std")


GAN_SMOOTH = 3  # epochs averaged at each end of the last quarter: an epoch's D means are noisy


def gan_curve(run_path: Path) -> dict | None:
    """A GAN run's adversarial balance per epoch from its curves.csv (epoch means of the
    generator steps): D's mean probability on real and on generated images, and the pixel std
    of a generated batch against a real one; None for a run that logs no such columns."""
    path = Path(run_path) / "curves.csv"
    if not path.is_file():
        return None
    with path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows or any(k not in rows[0] for k in GAN_COLUMNS):
        return None
    out: dict = {"epoch": [int(r["epoch"]) for r in rows], "step": [int(r["step"]) for r in rows]}
    for k in GAN_COLUMNS:
        out[k] = [float(r[k]) for r in rows]
    return out


def std_ratio(c: dict) -> np.ndarray:
    """Per epoch, the pixel std of a generated batch over a real batch's (1: as varied)."""
    return np.asarray(c["fake_std"]) / np.maximum(np.asarray(c["real_std"]), 1e-12)


def trained_gan_curve(run: dict) -> dict | None:
    """``gan_curve`` of a run as ``bench.store.load_run`` returns it, None where the run
    reused another's training (GAN-Lap1 inverting GAN-MSE's generator: a copy of its curve)."""
    if run["metrics"].get("timing", {}).get("training_reused_from"):
        return None
    return gan_curve(Path(run["path"]))


def gan_balance(c: dict) -> dict:
    """What a GAN's curve says about who is winning: at the last epoch, D(real), D(fake) and
    the generated / real pixel std; the std ratio's peak and its step; and D's margin
    (D(real) - D(fake), mean of GAN_SMOOTH epochs) at the start and the end of the last quarter
    of the steps. A margin near 1 from the start with a small std ratio: G never started; a
    margin that grows while the std ratio falls: D is gaining (watch for collapse)."""
    ratio = std_ratio(c)
    margin = np.asarray(c["d_real"]) - np.asarray(c["d_fake"])
    steps = np.asarray(c["step"])
    start = int(np.searchsorted(steps, steps[-1] * 0.75))  # first epoch of the last quarter
    start = min(start, len(steps) - 1)
    peak = int(np.argmax(ratio))
    return {"step": int(steps[-1]), "d_real": c["d_real"][-1], "d_fake": c["d_fake"][-1],
            "std_ratio": float(ratio[-1]), "std_ratio_peak": float(ratio[peak]),
            "std_ratio_peak_step": int(steps[peak]),
            "margin_quarter_start": float(margin[start:start + GAN_SMOOTH].mean()),
            "margin_end": float(margin[-GAN_SMOOTH:].mean())}


def plot_gan_curves(curves: dict[str, dict], out_base: Path, title: str) -> list[Path]:
    """D(real) and D(fake) against the generator step on one panel, the generated / real pixel
    std on the other (1: as varied as the data). Written as PNG and PDF."""
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), dpi=100)
    draw_gan_balance(axes[0], axes[1], curves)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_base)


def draw_gan_balance(d_ax, std_ax, curves: dict[str, dict]) -> None:
    """Onto two matplotlib axes: each curve's D(real) (solid) and D(fake) (dashed) against the
    generator step, and its generated / real pixel std with the data's own (1) dotted."""
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib.pyplot as plt

    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, c) in enumerate(curves.items()):
        colour = palette[i % len(palette)]
        d_ax.plot(c["step"], c["d_real"], color=colour, label=f"{label}: D(real)")
        d_ax.plot(c["step"], c["d_fake"], color=colour, linestyle="--", label=f"{label}: D(fake)")
        std_ax.plot(c["step"], std_ratio(c), color=colour, label=label)
    d_ax.set_ylim(0, 1)
    d_ax.set_ylabel("D's mean probability 'real' (epoch mean)")
    std_ax.axhline(1.0, color="k", linestyle=":", linewidth=1, label="as varied as the data")
    std_ax.set_ylim(bottom=0)
    std_ax.set_ylabel("pixel std of a generated batch / a real batch")
    for ax in (d_ax, std_ax):
        ax.set_xlabel("generator step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)


def improvements(loss: list[float]) -> list[float]:
    """Each epoch's relative improvement over the previous epoch's loss."""
    return [(a - b) / abs(a) if a else 0.0 for a, b in zip(loss[:-1], loss[1:], strict=False)]


def tail_improvement(step: list[int], loss: list[float], frac: float = 0.25) -> float | None:
    """The loss's relative fall over the last ``frac`` of the steps trained (from the epoch
    nearest that point to the last): a step budget's measure of "still falling", where a
    long run's per-epoch improvement is small whether or not its loss has levelled off."""
    if len(step) < 3:
        return None
    i = int(np.argmin(np.abs(np.asarray(step, float) - (1 - frac) * step[-1])))
    i = min(i, len(step) - 2)
    return (loss[i] - loss[-1]) / abs(loss[i]) if loss[i] else None


def plateaued(loss: list[float], rel: float = PLATEAU_REL, epochs: int = PLATEAU_EPOCHS) -> bool:
    """True when each of the last ``epochs`` epochs improved the loss by less than ``rel``:
    the trainer's own plateau rule (``--plateau rel``) would have stopped here."""

    return StopRule(len(loss), plateau=rel, patience=epochs).should_stop(list(loss))


def power_fit(step: list[int], loss: list[float]) -> dict | None:
    """log(loss) = a + k log(step) fitted over the last half of the epochs (at least 4)."""
    n = len(step)
    if n < 4:
        return None
    s = np.log(np.asarray(step[n // 2:], float))
    v = np.log(np.asarray(loss[n // 2:], float))
    k, a = np.polyfit(s, v, 1)
    return {"a": float(a), "k": float(k), "epochs_fitted": n - n // 2}


def crossing(fit: dict | None, target: float) -> float | None:
    """The step at which the fitted power law reaches ``target``; None when it never does
    (the loss is not falling)."""
    if fit is None or fit["k"] > -1e-6 or target <= 0:
        return None
    with np.errstate(over="ignore"):
        step = float(np.exp((np.log(target) - fit["a"]) / fit["k"]))
    return step if np.isfinite(step) else None


def trains_on_mse(config: dict) -> bool:
    """Whether a run's training loss is a per-pixel MSE, comparable with PCA's train MSE: only
    GLO-MSE's is (the VAE's is reconstruction x C H W + KL; a Lap1 row's is Lap1)."""
    return config["family"] == "glo" and config["model"].get("loss", {}).get("name") == "mse"


def summarize_run(run: dict, target: float | None) -> dict | None:
    """``summarize`` for a run as ``bench.store.load_run`` returns it."""
    return summarize(Path(run["path"]), target, trains_on_mse(run["config"]["config"]))


def summarize(run_path: Path, target: float | None, loss_is_mse: bool) -> dict | None:
    """One run's convergence: its curve, last improvement, plateau verdict and, when its
    training loss is an MSE and ``target`` (PCA's train MSE) is given, the projected step."""
    c = curve(run_path)
    if c is None:
        return None
    imp = improvements(c["loss"])
    out = {**c, "last_improvement": imp[-1] if imp else None,
           "tail_improvement": tail_improvement(c["step"], c["loss"]),
           "plateaued": plateaued(c["loss"]), "loss_is_mse": loss_is_mse}
    if loss_is_mse and target is not None:
        fit = power_fit(c["step"], c["loss"])
        out["fit"] = fit
        out["target"] = target
        out["projected_step"] = crossing(fit, target)
    return out


def plot_curves(curves: dict[str, dict], target: float | None, out_base: Path,
                title: str) -> list[Path]:
    """Training loss against step: MSE-trained curves on one log-log panel with PCA's train
    MSE and each fit's extrapolation (dotted); every curve relative to its first epoch on the
    other. Written as PNG and PDF."""
    # deferred: matplotlib (about a second to import) only where a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker


    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), dpi=100)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = list(dict.fromkeys(c.get("method", label) for label, c in curves.items()))
    seeds = list(dict.fromkeys(c.get("seed", 0) for c in curves.values()))
    dashes = ("-", "--", "-.")
    for label, c in curves.items():
        # one colour per method, one line style per seed (a dotted line is an extrapolation)
        style = {"color": palette[groups.index(c.get("method", label)) % len(palette)],
                 "linestyle": dashes[seeds.index(c.get("seed", 0)) % len(dashes)]}
        if c.get("loss_is_mse"):
            (line,) = axes[0].plot(c["step"], c["loss"], label=label, **style)
            reach = c.get("projected_step")
            fit = c.get("fit")
            if fit is not None:
                end = reach if reach is not None else c["step"][-1] * 10
                end = min(end, c["step"][-1] * 100)
                xs = np.geomspace(c["step"][-1], max(end, c["step"][-1] * 1.01), 30)
                axes[0].plot(xs, np.exp(fit["a"] + fit["k"] * np.log(xs)), linestyle=":",
                             color=line.get_color(), linewidth=1)
        axes[1].plot(np.asarray(c["epoch"]) + 1, np.asarray(c["loss"]) / c["loss"][0],
                     label=label, **style)
    if target is not None:
        axes[0].axhline(target, color="k", linestyle="--", linewidth=1, label="PCA train MSE")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("training MSE, [-1, 1] pixels (dotted: power-law extrapolation)")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("training loss / first epoch's (each in its own units)")
    for ax in axes:
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, out_base)


def export_curves(runs_dir: Path, dataset: str, out_base: Path) -> dict:
    """`bench curves`: every complete trained run of ``dataset`` in the store, its curve (with
    wall seconds per epoch from its log), plateau verdict and, for GLO-MSE, the power-law fit
    and projected crossing of PCA's train MSE (the mean over PCA's runs), with its run id,
    settings, code version and data fingerprint: <out_base>.json, and the curves' figure as
    <out_base>.png / .pdf; a GAN's adversarial balance (gan_curve, gan_balance) under "gan",
    its figure <out_base>_gan.png / .pdf."""

    runs = [load_run(p) for p in find_runs(runs_dir)]
    runs = [r for r in runs if r["config"].get("config", {}).get("dataset") == dataset
            and r["status"].get("state") == "complete" and r["metrics"]]
    pca = [r["metrics"]["train"]["mse"] for r in runs if r["config"]["config"]["method"] == "pca"]
    target = float(np.mean(pca)) if pca else None
    out: dict = {"dataset": dataset, "pca_train_mse": target, "units": "[-1, 1] pixels",
                 "curves": {}, "gan": {}, "skipped": []}
    for r in runs:
        cfg = r["config"]["config"]
        if cfg["family"] == "pca":
            continue
        c = summarize_run(r, target)
        if c is None:
            g = trained_gan_curve(r)
            if g is not None:
                out["gan"][f"{cfg['method']} seed {cfg['seed']}"] = {
                    **g, "balance": gan_balance(g), "run": Path(r["path"]).name,
                    "method": cfg["method"], "seed": cfg["seed"], "model": cfg["model"],
                    "code": r["config"]["code"],
                    "data_fingerprint": r["config"]["data"]["fingerprint"],
                    "train_mse": r["metrics"]["train"]["mse"]}
            else:
                reused = r["metrics"].get("timing", {}).get("training_reused_from")
                out["skipped"].append(f"{cfg['method']}: " + (
                    f"reuses {reused}'s training" if reused
                    else "no reconstruction loss during training"))
            continue
        out["curves"][f"{cfg['method']} seed {cfg['seed']}"] = {
            **c, "run": Path(r["path"]).name, "method": cfg["method"], "seed": cfg["seed"],
            "model": cfg["model"], "code": r["config"]["code"],
            "data_fingerprint": r["config"]["data"]["fingerprint"],
            "train_mse": r["metrics"]["train"]["mse"],
            "codes": {k: v for k, v in r["metrics"].get("codes", {}).items()
                      if k != "spectrum_init"}}
    out_base = Path(out_base)
    atomic_write_json(out_base.with_suffix(".json"), out)
    if out["curves"]:
        plot_curves(out["curves"], target, out_base, f"Convergence on {dataset}")
    if out["gan"]:
        plot_gan_curves(out["gan"], out_base.with_name(out_base.name + "_gan"),
                        f"GAN training on {dataset}")
    return out
