"""bench report: the run store -> Table 1, Figure 1 and the paper's figures, next to the
paper's own numbers, in one offline folder per dataset.

reports/<dataset>/ table1.{md,csv,tex}, figure1.{png,pdf}, grids/*.png, index.html, report.json
"""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.artifacts import save_png
from bench.bundle import bundled_figures, run_cpu
from bench.claims import Claim, claims_for, evaluate_claims, flatness, run_value
from bench.config import TABLE1_METHODS
from bench.convergence import (
    GAN_SMOOTH,
    PLATEAU_EPOCHS,
    PLATEAU_REL,
    gan_balance,
    plot_curves,
    plot_gan_curves,
    summarize_run,
    trained_gan_curve,
)
from bench.errors import BenchError
from bench.fidelity import missing_hint
from bench.io import atomic_write_json, atomic_write_text, safe_name
from bench.losses import lap1_variant_name
from bench.paper import METHOD_LABELS, PAPER_COLUMNS, paper_mse
from bench.related import load_related, related_folders, side_by_side
from bench.store import find_runs, load_run, updated_at

GRID_NAMES = ("recon_train", "recon_test", "recon_heldout", "samples")
GRID_WIDTH = 560  # px: grids are scaled up by a whole factor (no smoothing) to about this width

#: what each column of the page's tables measures (tooltips and the legend under each table)
COLUMN_HELP = {
    "Method": "Table-1 configuration: family, training or inversion loss, code initialisation",
    "train MSE (ours)": "mean squared error per pixel of the training images' reconstructions, "
                        "[-1, 1] pixel range (mean over seeds)",
    "CI / seed range": "95% bootstrap interval over the scored images (one seed), or min-max "
                       "over seeds (several)",
    "paper MSE": "the paper's Table 1 value for this dataset's column",
    "ours - paper": "our train MSE minus the paper's",
    "train Lap1": "Laplacian-pyramid L1 distance of the training reconstructions (settings "
                  "under the table)",
    "test MSE": "MSE per pixel of test images reconstructed with the trained model frozen",
    "held-out MSE": "MSE per pixel on another dataset's images (e.g. LFW for a CelebA model)",
    "codes: stored / re-inverted": "GLO only: train MSE of the stored codes (Table 1's protocol) "
                                   "and of the same images' codes re-inverted with the final "
                                   "generator frozen, on the first N scored training images "
                                   "(N in brackets; mean over seeds)",
    "seeds": "number of seeds averaged",
    "seed": "the run's seed",
    "cpu": "the CPU that produced the run's seconds, with its matrix flags (AMX and AVX512-BF16 "
           "change bf16's speed several-fold); 'where bundled' when the run predates recording "
           "it and its bundle's machine is shown",
    "FID": "Frechet Inception distance, samples vs test images (lower is better)",
    "KID x 1e3": "kernel Inception distance x 1000, mean +- std over subsets, samples vs test",
    "precision": "fraction of samples inside the test images' 3-NN feature manifold",
    "recall": "fraction of test images inside the samples' 3-NN feature manifold",
    "recon FID": "FID of training reconstructions vs their originals",
    "n": "samples / test images compared",
    "cosine to init": "mean cosine of each scored training image's final code to its initial "
                      "value (1: the code did not turn)",
    "relative change": "mean ||z - z_init|| / ||z_init||",
    "stored-code MSE": "train MSE (per pixel, [-1, 1]) of the learned codes, on the images "
                       "re-inverted",
    "re-inverted MSE": "train MSE of the same images when their codes are found again by "
                       "inversion with the final generator frozen",
    "codes converged": "stored-code MSE within 10% of the re-inverted MSE",
    "images": "scored training images re-inverted",
    "epochs": "epochs trained",
    "steps": "optimiser steps trained",
    "training loss": "what the curve measures (GLO-MSE: MSE per pixel, comparable with PCA's)",
    "last epoch": "relative improvement of the epoch loss in the last epoch",
    "last quarter": "relative change of the epoch loss over the last quarter of the steps "
                    "trained (a step budget's view: over hundreds of epochs each epoch "
                    "changes little even while the loss still falls)",
    "plateaued": f"the epoch loss improved by less than {PLATEAU_REL:.0%} in each of the last "
                 f"{PLATEAU_EPOCHS} epochs (what --plateau {PLATEAU_REL} stops on)",
    "power-law slope": "k in loss ~ step^k, fitted over the last half of the epochs (GLO-MSE)",
    "projected steps to PCA": "step at which the fitted power law reaches PCA's train MSE "
                              "(an extrapolation; never: the loss is not falling)",
    "x steps trained": "projected steps / steps trained",
    "generator steps": "generator steps trained (one discriminator step each)",
    "D(real) / D(fake)": "the discriminator's mean probability 'real' on real and on generated "
                         "images, mean over the last epoch's steps (0.5 / 0.5: D cannot tell)",
    "generated / real std": "pixel std of a generated batch over a real batch's, last epoch "
                            "(well below 1: G's images vary less than the data's)",
    "std ratio peak (step)": "the largest generated / real std of any epoch and its step",
    "D margin, last quarter": f"D(real) - D(fake) (mean of {GAN_SMOOTH} epochs) where the last "
                              "quarter of the steps starts and at its end: growing while the "
                              "std ratio falls, D is gaining on G",
}


@dataclass
class MethodRuns:
    method: str
    state: str = "missing"  # complete | diverged | failed | running | missing
    runs: list[dict] = field(default_factory=list)  # complete runs of one config, all seeds
    detail: str = ""


def _group_key(info: dict) -> str:
    """Runs that differ only in their seed: same config, code version and data."""
    cfg = info["config"]
    return json.dumps({"config": {k: v for k, v in cfg.get("config", {}).items() if k != "seed"},
                       "code": cfg.get("code", {}).get("source_sha256"),
                       "data": cfg.get("data", {}).get("fingerprint")}, sort_keys=True, default=str)


def collect(runs_dir: Path, dataset: str) -> dict[str, MethodRuns]:
    """Per Table-1 method: the complete runs of its newest (config, code, data) group, one per
    seed, else the state of its newest run."""
    by_method: dict[str, list[dict]] = {m: [] for m in TABLE1_METHODS}
    for run in find_runs(runs_dir):
        info = load_run(run)
        cfg = info["config"].get("config", {})
        if cfg.get("dataset") == dataset and cfg.get("method") in by_method:
            by_method[cfg["method"]].append(info)
    out = {}
    for method, infos in by_method.items():
        res = MethodRuns(method)
        complete = [i for i in infos if i["status"].get("state") == "complete" and i["metrics"]]
        if complete:
            groups: dict[str, list[dict]] = {}
            for i in complete:
                groups.setdefault(_group_key(i), []).append(i)
            newest = max(groups.values(), key=lambda g: max(updated_at(i) for i in g))
            res.state, res.runs = "complete", sorted(newest, key=lambda i: i["config"]["config"]["seed"])
        elif infos:
            latest = max(infos, key=updated_at)
            st = latest["status"]
            res.state = st.get("state", "unknown")
            if res.state == "diverged":
                res.detail = f"step {st.get('step')}, last finite loss {st.get('last_finite_loss')}"
            elif res.state == "failed":
                res.detail = str(st.get("error", ""))
        out[method] = res
    return out


def _mean(runs: list[dict], split: str, metric: str) -> float | None:
    vals = [r["metrics"].get(split, {}).get(metric) for r in runs]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def table1(dataset: str, results: dict[str, MethodRuns]) -> pd.DataFrame:
    rows = []
    for method in TABLE1_METHODS:
        res = results[method]
        paper = paper_mse(method, dataset)
        row = {"method": method, "label": METHOD_LABELS[method], "state": res.state,
               "train_mse": None, "train_mse_ci95": None, "paper_mse": paper, "diff": None,
               "train_lap1": None, "test_mse": None, "heldout_mse": None,
               "heldout_dataset": None, "codes_stored_mse": None, "codes_reinverted_mse": None,
               "codes_check_n": None, "seeds": len(res.runs), "detail": res.detail}
        if res.state == "complete":
            row["train_mse"] = _mean(res.runs, "train", "mse")
            row["train_lap1"] = _mean(res.runs, "train", "lap1")
            row["test_mse"] = _mean(res.runs, "test", "mse")
            row["heldout_mse"] = _mean(res.runs, "heldout", "mse")
            row["heldout_dataset"] = res.runs[0]["metrics"].get("heldout", {}).get("dataset")
            row["codes_stored_mse"] = _mean(res.runs, "codes", "stored_mse")
            row["codes_reinverted_mse"] = _mean(res.runs, "codes", "reinverted_mse")
            row["codes_check_n"] = res.runs[0]["metrics"].get("codes", {}).get("check_n")
            if len(res.runs) == 1:
                row["train_mse_ci95"] = res.runs[0]["metrics"]["train"].get("mse_ci95")
            else:
                per_seed = [r["metrics"]["train"]["mse"] for r in res.runs]
                row["train_mse_ci95"] = [float(np.min(per_seed)), float(np.max(per_seed))]
            if paper is not None and row["train_mse"] is not None:
                row["diff"] = row["train_mse"] - paper
            if not all(r["metrics"]["train"].get("mse_finite", True) for r in res.runs):
                row["detail"] = "non-finite per-image values"
        rows.append(row)
    return pd.DataFrame(rows)


def _absent(v) -> bool:
    """None, or the NaN a DataFrame puts in a missing row's cell."""
    return v is None or (isinstance(v, float) and np.isnan(v))


def _fmt(v, digits: int = 5, signed: bool = False) -> str:
    if _absent(v):
        return "-"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _display_rows(df: pd.DataFrame) -> list[dict]:
    out = []
    for r in df.to_dict("records"):
        if r["state"] == "complete":
            ours = "nan" if r["train_mse"] is None or np.isnan(r["train_mse"]) else _fmt(r["train_mse"])
        else:
            ours = r["state"]
        if r["state"] != "missing" and r["detail"]:
            ours += f" ({r['detail']})"
        ci = r.get("train_mse_ci95")
        ci_text = f"[{ci[0]:.5f}, {ci[1]:.5f}]" if isinstance(ci, list | tuple) and len(ci) == 2 \
            and all(isinstance(v, float) and np.isfinite(v) for v in ci) else "-"
        out.append({"Method": r["label"], "train MSE (ours)": ours, "CI / seed range": ci_text,
                    "paper MSE": _fmt(r["paper_mse"], 4), "ours - paper": _fmt(r["diff"], 4, True),
                    "train Lap1": _fmt(r["train_lap1"]), "test MSE": _fmt(r["test_mse"]),
                    "held-out MSE": _fmt(r["heldout_mse"]) + (f" ({r['heldout_dataset']})"
                                                             if isinstance(r["heldout_dataset"], str) else ""),
                    "codes: stored / re-inverted": "-" if _absent(r.get("codes_reinverted_mse"))
                    else f"{_fmt(r['codes_stored_mse'])} / {_fmt(r['codes_reinverted_mse'])} "
                         f"({int(r['codes_check_n'])})",
                    "seeds": str(r["seeds"])})
    return out


def to_markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(r[k] for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_latex(rows: list[dict], caption: str) -> str:
    keys = list(rows[0])
    esc = lambda s: s.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")  # noqa: E731
    body = "\n".join(" & ".join(esc(r[k]) for k in keys) + r" \\" for r in rows)
    return ("\\begin{table}\n\\centering\n\\begin{tabular}{l" + "r" * (len(keys) - 1) + "}\n"
            + " & ".join(esc(k) for k in keys) + " \\\\\n\\hline\n" + body
            + "\n\\end{tabular}\n\\caption{" + esc(caption) + "}\n\\end{table}\n")


def to_text(rows: list[dict]) -> str:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    line = lambda r: "  ".join(r[k].ljust(widths[k]) for k in keys)  # noqa: E731
    return "\n".join([line({k: k for k in keys})] + [line(r) for r in rows])


def quality_rows(results: dict[str, MethodRuns]) -> tuple[list[dict], dict | None]:
    """The sample-quality table (first seed's run) and the settings it was measured with;
    "not computed" where a run has no torch-fidelity numbers."""
    rows, settings = [], None
    for method, res in results.items():
        if res.state != "complete":
            continue
        fid = res.runs[0]["metrics"].get("fidelity")
        row = {"Method": METHOD_LABELS[method]}
        if not fid:
            row.update({k: "not computed" for k in ("FID", "KID x 1e3", "precision", "recall",
                                                   "recon FID", "n")})
        else:
            settings = settings or fid.get("settings")
            s = fid["samples_vs_test"]
            r = fid.get("train_recons_vs_originals", {})
            row.update({"FID": _fmt(s["fid"], 2),
                        "KID x 1e3": f"{1e3 * s['kid_mean']:.2f} +- {1e3 * s['kid_std']:.2f}",
                        "precision": _fmt(s.get("precision"), 3),
                        "recall": _fmt(s.get("recall"), 3),
                        "recon FID": _fmt(r.get("fid"), 2),
                        "n": f"{s['n_generated']}/{s['n_reference']}"})
        rows.append(row)
    return rows, settings


def quality_note(rows: list[dict], settings: dict | None) -> str:
    """One line under the sample-quality table: the settings, or why nothing was computed."""
    if settings is None:
        return missing_hint() + "." if rows else ""
    note = (f"{settings['library']}, feature extractor {settings['feature_extractor']} "
            f"(pool {settings['feature_layer']}-d, weights {settings['weights_file']}, SHA-256 "
            f"{settings['weights_sha256'][:16]}...), KID {settings['kid_subsets']} subsets, "
            f"precision/recall k={settings['prc_neighborhood']}.")
    if not settings.get("standard_weights"):
        note += (" These are NOT torch-fidelity's standard Inception weights: the numbers are "
                 "not comparable with published FIDs.")
    if any(r["FID"] == "not computed" for r in rows):
        note += " Some runs have none: " + missing_hint() + "."
    return note


def code_rows(results: dict[str, MethodRuns]) -> list[dict]:
    """GLO's code diagnostics, one row per run (every seed): did the codes move from their
    initial value, and are they as good as codes re-inverted with the final generator."""
    rows = []
    for method, res in results.items():
        for run in res.runs:
            c = run["metrics"].get("codes")
            if not c:
                continue
            cos = c.get("cosine_to_init_mean")
            rows.append({"Method": METHOD_LABELS[method],
                         "seed": str(run["config"]["config"]["seed"]),
                         "cosine to init": "unknown" if cos is None else f"{cos:.4f}",
                         "relative change": _fmt(c.get("relative_change_mean"), 4),
                         "stored-code MSE": _fmt(c.get("stored_mse")),
                         "re-inverted MSE": _fmt(c.get("reinverted_mse")),
                         "codes converged": "-" if "converged" not in c
                         else ("yes" if c["converged"] else "no"),
                         "images": str(c.get("check_n", "-"))})
    return rows


def convergence(results: dict[str, MethodRuns]) -> tuple[list[dict], dict[str, dict], float | None]:
    """Each trained run's curve read back from the store: did its loss plateau, and (GLO-MSE,
    whose training loss is a per-pixel MSE) where would it reach PCA's train MSE. Returns the
    table rows, the curves by label, and PCA's mean train MSE (None without a PCA run)."""
    pca = results.get("pca")
    target = (float(np.mean([r["metrics"]["train"]["mse"] for r in pca.runs]))
              if pca is not None and pca.state == "complete" and pca.runs else None)
    rows, curves = [], {}
    for method, res in results.items():
        for run in res.runs:
            cfg = run["config"]["config"]
            if cfg["family"] == "pca":
                continue
            c = summarize_run(run, target)
            row = {"Method": METHOD_LABELS[method], "seed": str(cfg["seed"]),
                   "epochs": str(cfg["model"].get("epochs", "-")), "steps": "-",
                   "training loss": "none (adversarial: see GAN training)", "last epoch": "-",
                   "last quarter": "-",
                   "plateaued": "unknown", "power-law slope": "-",
                   "projected steps to PCA": "-", "x steps trained": "-"}
            if c is not None:
                curves[f"{METHOD_LABELS[method]} seed {cfg['seed']}"] = {**c, "method": method,
                                                                          "seed": cfg["seed"]}
                last = c["last_improvement"]
                row.update({"epochs": str(len(c["loss"])), "steps": f"{c['step'][-1]:,}",
                            "training loss": {"glo": "MSE" if c["loss_is_mse"] else "Lap1",
                                              "vae": "reconstruction x pixels + KL"}.get(
                                cfg["family"], "-"),
                            "last epoch": "-" if last is None else f"{-last:+.2%}",
                            "last quarter": ("-" if c["tail_improvement"] is None
                                             else f"{-c['tail_improvement']:+.1%}"),
                            "plateaued": "yes" if c["plateaued"] else "no"})
                if c.get("fit") is not None:
                    row["power-law slope"] = f"{c['fit']['k']:.3f}"
                    reach = c.get("projected_step")
                    row["projected steps to PCA"] = "never" if reach is None else f"{reach:,.0f}"
                    if reach is not None:
                        row["x steps trained"] = f"{reach / c['step'][-1]:.1f}"
            rows.append(row)
    return rows, curves, target


def gan_training(results: dict[str, MethodRuns]) -> tuple[list[dict], dict[str, dict]]:
    """Each trained GAN's adversarial balance read back from its curves.csv: the table rows and
    the curves by label. A run that reused another's training (GAN-Lap1 inverts GAN-MSE's
    generator) is named on that run's row, not given a copy of its curve."""
    gans = [(method, run) for method, res in results.items() for run in res.runs
            if run["config"]["config"]["family"] == "gan"]
    reusers: dict[str, list[str]] = {}
    for method, run in gans:
        src = run["metrics"].get("timing", {}).get("training_reused_from")
        if src:
            reusers.setdefault(src, []).append(METHOD_LABELS[method])
    rows, curves = [], {}
    for method, run in gans:
        c = trained_gan_curve(run)
        if c is None:
            continue
        seed = run["config"]["config"]["seed"]
        label = f"{METHOD_LABELS[method]} seed {seed}"
        curves[label] = c
        b = gan_balance(c)
        also = reusers.get(Path(run["path"]).name, [])
        rows.append({"Method": METHOD_LABELS[method] + (f" (reused by {', '.join(also)})"
                                                         if also else ""),
                     "seed": str(seed), "generator steps": f"{b['step']:,}",
                     "D(real) / D(fake)": f"{b['d_real']:.3f} / {b['d_fake']:.3f}",
                     "generated / real std": f"{b['std_ratio']:.3f}",
                     "std ratio peak (step)": (f"{b['std_ratio_peak']:.3f} "
                                               f"({b['std_ratio_peak_step']:,})"),
                     "D margin, last quarter": (f"{b['margin_quarter_start']:.3f} -> "
                                                f"{b['margin_end']:.3f}")})
    return rows, curves


def _glo_methods(claim) -> list[str]:
    return [m for m in (claim.better, *claim.worse) if m.startswith("glo")]


TAIL_FALLING = 0.01  # a loss still falling: >= 1% over the last quarter of the steps


def _mean_metric(results: dict[str, MethodRuns], method: str, metric: str) -> float | None:
    """A method's mean over its runs of a claim metric (``run_value``: e.g. train_lap1,
    codes_reinverted_mse); None where no run has it."""
    vals = [v for r in (results[method].runs if method in results else [])
            if (v := run_value(r["metrics"], metric)) is not None]
    return float(np.mean(vals)) if vals else None


def _curve_mean(curves: dict[str, dict], method: str, key: str, plateaued_too: bool = True
                ) -> float | None:
    """The mean of one convergence value over a method's curves (None where none has it)."""
    vals = [c[key] for c in curves.values() if c["method"] == method and c.get(key) is not None
            and (plateaued_too or not c["plateaued"])]
    return float(np.mean(vals)) if vals else None


def _glo_pair_evidence(claim, results: dict[str, MethodRuns]) -> list[str]:
    """For a failed claim between two GLO rows: whether the generator is behind too (the
    checked images re-inverted with each frozen generator), and how each row scores on Lap1,
    the loss a Lap1 row trains on."""
    if not (claim.better.startswith("glo") and len(claim.worse) == 1
            and claim.worse[0].startswith("glo")):
        return []
    a, b = claim.better, claim.worse[0]
    out = []
    ra, rb = (_mean_metric(results, m, "codes_reinverted_mse") for m in (a, b))
    if ra is not None and rb is not None:
        side = ("so the generator is behind, not only the stored codes" if ra >= rb else
                "so its generator is ahead: the stored codes are what lag")
        out.append(f"re-inverted with each frozen generator (its own loss): {METHOD_LABELS[a]} {ra:.4f}, "
                   f"{METHOD_LABELS[b]} {rb:.4f}, {side}")
    la, lb = (_mean_metric(results, m, "train_lap1") for m in (a, b))
    if la is not None and lb is not None:
        out.append(f"train Lap1: {METHOD_LABELS[a]} {la:.4f}, {METHOD_LABELS[b]} {lb:.4f}"
                   + (" (behind on Lap1 too)" if la > lb else ""))
    return out


def _flatness_caveat(claim, results: dict[str, MethodRuns]) -> str:
    """For a Figure-1 claim: whether GLO's initial codes alone already satisfy it (then the
    spectrum shows the initialisation more than what training did)."""
    runs = results[claim.better].runs if claim.better in results else []
    init = [flatness(r["metrics"]["codes"]["spectrum_init"]) for r in runs
            if "spectrum_init" in r["metrics"].get("codes", {})]
    final = [v for r in runs if (v := run_value(r["metrics"], "flatness")) is not None]
    worse = [v for m in claim.worse if m in results for r in results[m].runs
             if (v := run_value(r["metrics"], "flatness")) is not None]
    if not init or not final or not worse:
        return ""
    i, f, w = float(np.mean(init)), float(np.mean(final)), float(np.min(worse))
    if i < w:
        return (f"caveat: GLO's initial codes already satisfy it (flatness {i:.4f} before "
                f"training, {f:.4f} after; {METHOD_LABELS[claim.worse[0]]} {w:.4f}): the "
                f"spectrum shows the initialisation more than what training did")
    return f"GLO's codes: flatness {i:.4f} before training, {f:.4f} after"


def _unequal_budgets(claim: Claim, results: dict[str, MethodRuns]) -> str:
    """'' when the trained rows a claim compares had one training budget; else each row's
    (a per-row budget, e.g. a GAN that fits one session, makes the comparison unequal)."""
    budgets = {}
    for m in (claim.better, *claim.worse):
        if m == "pca" or m not in results or not results[m].runs:
            continue
        model = results[m].runs[0]["config"]["config"].get("model", {})
        budgets[m] = (f"{model['steps']:,} steps" if model.get("steps")
                      else f"{model.get('epochs', '?')} epochs")
    if len(set(budgets.values())) < 2:
        return ""
    return "unequal training budgets: " + ", ".join(f"{METHOD_LABELS[m]} {b}"
                                                     for m, b in budgets.items())


def claim_evidence(judged: tuple[Claim, ...], claims: list[dict], results: dict[str, MethodRuns],
                   curves: dict[str, dict], target: float | None) -> None:
    """Give each failed claim the measured evidence of why, from the runs it compares: GLO
    codes that are not converged, training losses still falling at the end (in the last
    epoch, or by >= 1% over the last quarter of the steps), for two GLO rows whether the
    generator is behind too (re-inverted codes) and each row's Lap1, and (GLO against PCA)
    where the GLO-MSE-PCA curve would reach PCA's train MSE."""
    for claim, entry in zip(judged, claims, strict=True):
        entry["why"] = ""
        if claim.metric == "flatness" and entry["holds"] is not None:
            entry["why"] = _flatness_caveat(claim, results)
        budgets = _unequal_budgets(claim, results)
        if entry["holds"] is not False:
            entry["why"] = "; ".join(w for w in (entry["why"], budgets) if w)
            continue
        why = [budgets] if budgets else []
        methods = [m for m in (claim.better, *claim.worse) if m in results]
        unconverged = []
        for m in _glo_methods(claim):
            codes = [r["metrics"].get("codes", {}) for r in results[m].runs] if m in results else []
            codes = [c for c in codes if "stored_mse" in c and "reinverted_mse" in c]
            if codes and not all(c.get("converged") for c in codes):
                unconverged.append(f"{METHOD_LABELS[m]} (stored {np.mean([c['stored_mse'] for c in codes]):.4f}"
                                   f" vs re-inverted {np.mean([c['reinverted_mse'] for c in codes]):.4f})")
        if unconverged:
            why.append("GLO codes not converged: " + ", ".join(unconverged))
        last = {m: _curve_mean(curves, m, "last_improvement", plateaued_too=False) for m in methods}
        falling = [f"{METHOD_LABELS[m]} {-v:+.1%}" for m, v in last.items() if v is not None]
        if falling:
            why.append("training loss still falling in the last epoch: " + ", ".join(falling))
        # a step budget's view: per-epoch changes are small over 200 epochs
        tail = {m: _curve_mean(curves, m, "tail_improvement") for m in methods}
        tails = [f"{METHOD_LABELS[m]} {-v:+.1%}" for m, v in tail.items()
                 if v is not None and v >= TAIL_FALLING]
        if tails:
            why.append("training loss over the last quarter of the steps: " + ", ".join(tails)
                       + {1: "", 2: " (neither levelled off)"}.get(len(tails), " (none levelled off)"))
        why += _glo_pair_evidence(claim, results)
        if "pca" in claim.worse and claim.better.startswith("glo") and target is not None:
            proxy = [c for c in curves.values() if c["method"] == "glo-mse-pca" and c.get("fit")]
            if proxy:
                reach = [c.get("projected_step") for c in proxy]
                trained = float(np.mean([c["step"][-1] for c in proxy]))
                if all(r is not None for r in reach):
                    why.append(f"GLO-MSE-PCA's training MSE (the same model trained on MSE, whose "
                               f"loss is comparable with PCA's) falls as step^"
                               f"{np.mean([c['fit']['k'] for c in proxy]):.2f}; extrapolated, it "
                               f"reaches PCA's {target:.4f} at about {np.mean(reach):,.0f} steps, "
                               f"{np.mean(reach) / trained:.1f}x the {trained:,.0f} trained (an "
                               f"extrapolation that comes out early on short curves: "
                               f"docs/convergence.md)")
                else:
                    why.append("GLO-MSE-PCA's training MSE has stopped falling above PCA's "
                               f"{target:.4f}: the extrapolation never reaches it")
        if claim.band is not None and "gan-lap1" in claim.worse:
            runs = results["gan-lap1"].runs if "gan-lap1" in results else []
            used = sorted({lap1_variant_name(r["config"]["config"]["model"].get("loss", {}))
                           for r in runs})
            inverted = ""
            if used:
                hint = "" if "paper" in used else "; `--lap1 paper` is the paper's weighting"
                inverted = f" (these GAN-Lap1 runs invert with the `{'`, `'.join(used)}` Lap1{hint})"
            why.append(f"the ratio moves with how Lap1 weights the pyramid levels{inverted}; "
                       "docs/lap1.md measures it for each weighting")
        entry["why"] = "; ".join(why)


def per_method_metrics(results: dict[str, MethodRuns]) -> dict[str, dict[int, dict]]:
    """method -> seed -> metrics.json, for the complete runs the table reports."""
    return {m: {r["config"]["config"]["seed"]: r["metrics"] for r in res.runs}
            for m, res in results.items() if res.state == "complete"}


def _display_width(path: Path) -> int:
    """The grid's width scaled up by the whole factor that brings it to about GRID_WIDTH
    pixels (at most 8x; a grid already that wide keeps its size)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.width * max(1, min(8, GRID_WIDTH // max(1, im.width)))


def terminal_table(dataset: str, runs_dir: Path) -> str:
    """Table 1 for the terminal, straight from the run store."""
    return to_text(_display_rows(table1(dataset, collect(runs_dir, dataset))))


def _settings(run: dict) -> dict:
    cfg = run["config"]
    c = cfg.get("config", {})
    m = c.get("model", {})
    loss = m.get("loss", {})
    return {"run": Path(run["path"]).name, "method": c.get("method"), "seed": c.get("seed"),
            "profile": c.get("profile"), "epochs": m.get("epochs", "-"),
            "step budget": m.get("steps") or "-",
            "batch": m.get("batch_size", "-"), "d": m.get("d"), "width": m.get("ngf", "-"),
            "loss": loss.get("name", "-") if isinstance(loss, dict) else "-",
            "init": m.get("init", "-"), "subset": c.get("subset") or "all",
            "train images": cfg.get("data", {}).get("train_used"),
            "scored train/test": f"{run['metrics'].get('train', {}).get('n')}/"
                                 f"{run['metrics'].get('test', {}).get('n')}",
            "device": c.get("device"), "precision": c.get("precision"),
            "--set": ", ".join(c.get("overrides", [])) or "-",
            "code": cfg.get("code", {}).get("git_commit", cfg.get("code", {}).get("source_sha256")),
            "data fingerprint": cfg.get("data", {}).get("fingerprint", "")[:16],
            "wall s": run["metrics"].get("timing", {}).get("total_s"),
            "cpu": run_cpu(run),
            "notes": "; ".join([*c.get("notes", []), *_timing_notes(run)])}


#: the settings-table note of a run whose wall seconds miss its earlier processes (cost_summary
#: reads it back from the row to name that run's seconds a lower bound)
LAST_PROCESS_ONLY = "wall s counts only the last process"


def _timing_notes(run: dict) -> list[str]:
    """What a run's wall seconds cover: an adopted sibling's training is excluded; a run that
    resumed counts its earlier processes' training only where its code carried them in the
    checkpoint (the note says which)."""
    timing = run["metrics"].get("timing", {})
    notes = []
    if timing.get("training_reused_from"):
        notes.append(f"training reused from {timing['training_reused_from']} (wall s excludes it)")
    log = Path(run["path"]) / "log.txt"
    resumes = log.read_text().count("resuming from ") if log.is_file() else 0
    if resumes and "fit_s_earlier_processes" in timing:
        notes.append(f"resumed {resumes}x; wall s includes {timing['fit_s_earlier_processes']:,.0f} s "
                     f"of training in earlier processes")
    elif resumes and not timing.get("training_reused_from"):
        notes.append(f"resumed {resumes}x; {LAST_PROCESS_ONLY} (this code version did not carry "
                     f"training seconds across a restart)")
    return notes


def code_spans(text: object) -> str:
    """A sentence for the HTML page: escaped, with its `backticked` commands set as <code>
    (the same sentences go to report.json and the markdown table as they are)."""
    from markupsafe import Markup

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text), quote=False)))


def cost_summary(settings: list[dict]) -> dict:
    """What the page's runs cost in wall-clock seconds, from each run's own timing (training +
    evaluation; the "wall s" column). Seed 0's runs are what `bench run --all` at their
    settings costs for one seed: a GAN-Lap1 that reused GAN-MSE's training counts only its own
    evaluation, so the GAN trains once, as it does in that command. Seconds measured on
    different CPUs are summed per CPU, never into one figure; a configuration without a
    complete seed-0 run, or a run whose seconds cover only its last process, is named, so a
    partial sum is never read as the command's cost."""
    by_cpu: dict[str, dict] = {}
    seed0 = {s["method"]: s for s in settings if s["seed"] == 0}
    for s in settings:
        entry = by_cpu.setdefault(s["cpu"], {"cpu": s["cpu"], "seed0_runs": 0, "seed0_s": 0.0,
                                              "runs": 0, "all_s": 0.0})
        wall = s["wall s"] or 0.0
        entry["runs"] += 1
        entry["all_s"] += wall
        if seed0.get(s["method"]) is s:
            entry["seed0_runs"] += 1
            entry["seed0_s"] += wall
    missing = [m for m in TABLE1_METHODS if m not in seed0]
    partial = sorted(s["run"] for s in settings if s["wall s"] is None
                     or LAST_PROCESS_ONLY in s["notes"])
    cpus = list(by_cpu.values())

    def hours(sec: float) -> str:
        if sec < 60:
            return f"{sec:.0f} s"
        return (f"{sec / 3600:.1f} h" if sec >= 3600 else f"{sec / 60:.1f} min") + f" ({sec:,.0f} s)"

    if not cpus:
        text = "No complete runs, so no cost."
    else:
        per = "; ".join(f"{c['cpu']}: {hours(c['seed0_s'])} for {c['seed0_runs']} run(s)"
                        for c in cpus if c["seed0_runs"])
        text = (f"`bench run --all` at these settings, seed 0: {len(seed0)} of "
                f"{len(TABLE1_METHODS)} configurations, " + (
                    f"{hours(cpus[0]['seed0_s'])} of wall clock on {cpus[0]['cpu']}"
                    if len(cpus) == 1 else
                    f"measured on {len(cpus)} CPUs, so no single figure: {per}")
                + " (each run's training + evaluation seconds, as in the wall s column; they "
                  "include any time its process was paused).")
        if missing:
            text += (" Not the command's whole cost: no complete seed-0 run of "
                     + ", ".join(missing) + ".")
        extra = sum(c["runs"] - c["seed0_runs"] for c in cpus)
        if extra:
            text += (f" All {sum(c['runs'] for c in cpus)} runs on the page: "
                     + "; ".join(f"{c['cpu']}: {hours(c['all_s'])}" for c in cpus) + ".")
        if partial:
            text += (" Lower bounds: the seconds of " + ", ".join(partial)
                     + " cover only their last process.")
    return {"by_cpu": cpus, "seed0_configurations": len(seed0), "missing_seed0": missing,
            "partial_seconds": partial, "text": text}


def make_figures(run: dict, out: Path, data_root: Path | None, dataset: str) -> dict[str, str]:
    """Interpolations, principal walks and arithmetic for one run; returns grid -> file.
    A bundled run (bench.bundle) has no model: its figures, drawn by this function when it was
    bundled, are copied instead."""
    import torch

    from bench.data import get_dataset, load_split
    from bench.data.cache import split_names
    from bench.evaluate import image_grid
    from bench.figures import arithmetic, interpolations, principal_walks
    from bench.models import load_model

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


def scored_images_note(results: dict[str, MethodRuns]) -> str:
    """Whether every reported run was scored on the same training images (per_image.npz's
    train_index): a claim that compares two rows compares them on the same images."""
    seen: dict[bytes, tuple[int, list[str]]] = {}
    for method, res in results.items():
        for run in res.runs:
            path = Path(run["path"]) / "per_image.npz"
            if not path.is_file():
                continue
            idx = np.asarray(np.load(path)["train_index"], dtype=np.int64)
            entry = seen.setdefault(idx.tobytes(), (idx.size, []))
            entry[1].append(f"{method} seed {run['config']['config']['seed']}")
    if not seen:
        return ""
    if len(seen) == 1:
        ((n, runs),) = seen.values()
        return (f"All {len(runs)} reported runs were scored on the same {n} training images "
                f"(their per_image.npz indices compared), so every comparison is image for "
                f"image.")
    groups = "; ".join(f"{n} images: {', '.join(runs)}" for n, runs in seen.values())
    return f"WARNING: the reported runs were scored on different training images ({groups})."


def lap_settings(results: dict[str, MethodRuns]) -> tuple[list[dict], str]:
    """The Lap1 metric settings the reported runs were scored with (the train Lap1 column):
    each distinct setting with its runs, and a warning when there are several (a store that
    mixes `--lap1` variants, e.g. a GAN-MSE run copied beside `--lap1 paper` rows)."""
    groups: dict[str, dict] = {}
    for method, res in results.items():
        for run in res.runs:
            lap = run["metrics"].get("lap")
            if lap is None:
                continue
            key = json.dumps(lap, sort_keys=True)
            groups.setdefault(key, {"lap": lap, "runs": []})["runs"].append(
                f"{method} seed {run['config']['config']['seed']}")
    found = list(groups.values())
    if len(found) <= 1:
        return found, ""
    varying = sorted({k for g in found for k, v in g["lap"].items()
                      if any(o["lap"].get(k) != v for o in found)})
    parts = "; ".join(", ".join(f"{k} {g['lap'].get(k)}" for k in varying) + f" ({', '.join(g['runs'])})"
                      for g in found)
    return found, (f"WARNING: the train Lap1 column mixes {len(found)} Lap1 settings ({parts}): "
                   f"compare Lap1 values only between rows of one setting.")


def code_versions(results: dict[str, MethodRuns]) -> dict[str, list[str]]:
    """Source hash -> the methods whose reported runs were made by that code."""
    out: dict[str, list[str]] = {}
    for method, res in results.items():
        for run in res.runs:
            sha = run["config"].get("code", {}).get("source_sha256", "unknown")
            if method not in out.setdefault(sha, []):
                out[sha].append(method)
    return out


def write_report(dataset: str, runs_dir: Path, out_dir: Path, data_root: Path | None = None,
                 log=print, allow_mixed: bool = False, page: str | None = None
                 ) -> tuple[Path, str]:
    """Write reports/<page>/ (default: the dataset's name) and return (folder, Table 1 as
    terminal text). One table, one code version: runs made by different code are refused
    unless ``allow_mixed``. The dataset's other pages beside it (``<dataset>``,
    ``<dataset>-*``) are linked and shown side by side."""
    from jinja2 import Environment, PackageLoader

    from bench.figures import plot_figure1

    if page is not None and not re.fullmatch(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]*", page):
        raise BenchError(f"--page {page!r}: use letters, digits, '.', '_', '@' and '-' only "
                         f"(e.g. {safe_name(dataset)}-lap1paper)")
    page = page or safe_name(dataset)
    results = collect(runs_dir, dataset)
    versions = code_versions(results)
    if len(versions) > 1:
        detail = "; ".join(f"{sha}: {', '.join(ms)}" for sha, ms in versions.items())
        if not allow_mixed:
            raise BenchError(f"{dataset}: the runs in {runs_dir} come from {len(versions)} code "
                             f"versions ({detail}); re-run them at one version, or pass "
                             f"--allow-mixed to report them anyway (the report then says so)")
        log(f"WARNING: {dataset}: runs from {len(versions)} code versions ({detail})")
    out = Path(out_dir) / page
    (out / "grids").mkdir(parents=True, exist_ok=True)
    df = table1(dataset, results)
    rows = _display_rows(df)
    column = PAPER_COLUMNS.get(dataset, "none (the paper reports CelebA-64, CelebA-128, LSUN-64)")
    laps, lap_warning = lap_settings(results)
    caption = (f"Train-set reconstruction on {dataset}; MSE per pixel in the [-1, 1] pixel range; "
               f"paper column: {column}. CI / seed range: 95% bootstrap interval over the scored "
               f"images for one seed, min-max over seeds for several."
               + (f" {lap_warning}" if lap_warning else ""))
    atomic_write_text(out / "table1.md", f"{caption}\n\n" + to_markdown(rows))
    atomic_write_text(out / "table1.tex", to_latex(rows, caption))
    atomic_write_text(out / "table1.csv", df.to_csv(index=False))
    quality, quality_settings = quality_rows(results)
    qnote = quality_note(quality, quality_settings)
    if any(r["FID"] == "not computed" for r in quality):
        log(f"{dataset}: " + missing_hint())
    judged = claims_for(dataset)
    claims = evaluate_claims(per_method_metrics(results), judged)
    conv_rows, curves, pca_target = convergence(results)
    claim_evidence(judged, claims, results, curves, pca_target)
    curve_files = []
    if curves:
        curve_files = [p.name for p in plot_curves(curves, pca_target, out / "curves",
                                                   f"Training curves on {dataset}")]
    gan_rows, gan_curves = gan_training(results)
    gan_files = []
    if gan_curves:
        gan_files = [p.name for p in plot_gan_curves(gan_curves, out / "gan_training",
                                                     f"GAN training on {dataset}")]
    spectra = {METHOD_LABELS[m]: r.runs[0]["metrics"]["spectrum"] for m, r in results.items()
               if r.state == "complete" and "spectrum" in r.runs[0]["metrics"]}
    initial = {METHOD_LABELS[m]: r.runs[0]["metrics"]["codes"]["spectrum_init"]
               for m, r in results.items() if r.state == "complete"
               and "spectrum_init" in r.runs[0]["metrics"].get("codes", {})}
    figure = []
    if spectra:
        figure = [p.name for p in plot_figure1(spectra, out / "figure1", f"Figure 1 on {dataset}",
                                               initial)]
    codes = code_rows(results)
    grids: dict[str, dict[str, str]] = {}
    settings = []
    for method, res in results.items():
        if res.state != "complete":
            continue
        run = res.runs[0]
        files = {}
        for name in GRID_NAMES:
            src = Path(run["path"]) / "grids" / f"{name}.png"
            if src.is_file():
                shutil.copyfile(src, out / "grids" / f"{method}_{name}.png")
                files[name] = f"grids/{method}_{name}.png"
        try:
            files.update(make_figures(run, out, data_root, dataset))
        except Exception as e:  # a figure must not hide the table; say what failed
            log(f"{method}: figures skipped ({type(e).__name__}: {e})")
            files["error"] = f"{type(e).__name__}: {e}"
        for name in list(files):
            if files[name].endswith(".png"):
                files[f"{name}_width"] = str(_display_width(out / files[name]))
        grids[method] = files
        settings += [_settings(r) for r in res.runs]
    lap = laps[0]["lap"] if len(laps) == 1 else (laps or None)  # several: each with its runs
    same_images = scored_images_note(results)
    others = related_folders(out_dir, safe_name(dataset), page)
    related = [(f.name, f"../{f.name}/index.html") for f in others]
    mixed = ("Mixed code versions (reported with --allow-mixed): "
             + "; ".join(f"{sha}: {', '.join(ms)}" for sha, ms in versions.items())
             if len(versions) > 1 else "")
    report = {"dataset": dataset, "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "code_versions": versions, "mixed_code_versions": bool(mixed),
              "units": "[-1, 1] pixel range; MSE per pixel; Lap1 per image (see lap)",
              "lap": lap, "paper_column": PAPER_COLUMNS.get(dataset), "claims": claims,
              "sample_quality": {"rows": quality, "settings": quality_settings, "note": qnote},
              "codes": codes, "convergence": {"rows": conv_rows, "pca_train_mse": pca_target,
                                              "curves": curves, "figure": curve_files},
              "gan_training": {"rows": gan_rows, "curves": gan_curves, "figure": gan_files},
              "table1": df.to_dict("records"), "figure1": figure, "grids": grids,
              "runs": settings, "cost": cost_summary(settings), "scored_images": same_images,
              "related_pages": [name for name, _ in related]}
    report["side_by_side"] = side_by_side(page, report, load_related(others, dataset))
    atomic_write_json(out / "report.json", report)
    env = Environment(loader=PackageLoader("bench", "templates"), autoescape=True)
    env.filters["code"] = code_spans
    html_page = env.get_template("report.html.j2").render(
        dataset=dataset, caption=caption, rows=rows, figure=figure, grids=grids,
        labels=METHOD_LABELS, settings=settings, lap=json.dumps(lap), mixed=mixed,
        quality=quality, quality_note=qnote, claims=claims, help=COLUMN_HELP, codes=codes,
        convergence=conv_rows, curve_files=curve_files, gan_rows=gan_rows, gan_files=gan_files,
        same_images=same_images, cost=report["cost"]["text"],
        related=related, compare=report["side_by_side"], generated=report["generated"],
        esc=html.escape)
    atomic_write_text(out / "index.html", html_page)
    return out, to_text(rows)
