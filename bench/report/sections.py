"""The report's sections below Table 1, each a list of rows built from the runs: sample quality,
GLO's code diagnostics, training curves, the GANs' balance, the Lap1 settings and the images
scored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.eval.fidelity import missing_hint
from bench.report.convergence import (
    gan_balance,
    summarize_run,
    trained_gan_curve,
)
from bench.report.gather import MethodRuns
from bench.report.paper import label
from bench.report.tables import _fmt

#: the sample-quality table's columns, in the page's order
QUALITY_COLUMNS = ("Method", "FID", "KID x 1e3", "precision", "recall", "recon FID", "n")


def quality_rows(results: dict[str, MethodRuns]) -> tuple[list[dict], dict | None]:
    """The sample-quality table (first seed's run) and the settings it was measured with;
    "not computed" where a run has no torch-fidelity numbers, and no table at all where none
    has (the note says why in one line)."""
    rows, settings = [], None
    for method, res in results.items():
        if res.state != "complete":
            continue
        fid = res.runs[0]["metrics"].get("fidelity")
        row = {"Method": label(method)}
        if not fid:
            row.update({k: "not computed" for k in QUALITY_COLUMNS[1:]})
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
    return (rows if settings is not None else []), settings


def quality_note(rows: list[dict], settings: dict | None, runs: int) -> str:
    """One line under the sample-quality table: the settings, or why nothing was computed for
    the ``runs`` complete methods. It names no path of the machine that wrote the page."""
    if settings is None:
        return missing_hint(portable=True) + "." if runs else ""
    note = (f"{settings['library']}, feature extractor {settings['feature_extractor']} "
            f"(pool {settings['feature_layer']}-d, weights {settings['weights_file']}, SHA-256 "
            f"{settings['weights_sha256'][:16]}...), KID {settings['kid_subsets']} subsets, "
            f"precision/recall k={settings['prc_neighborhood']}.")
    if not settings.get("standard_weights"):
        note += (" These are NOT torch-fidelity's standard Inception weights: the numbers are "
                 "not comparable with published FIDs.")
    if any(r["FID"] == "not computed" for r in rows):
        note += " Some runs have none: " + missing_hint(portable=True) + "."
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
            rows.append({"Method": label(method),
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
            row = {"Method": label(method), "seed": str(cfg["seed"]),
                   "epochs": str(cfg["model"].get("epochs", "-")), "steps": "-",
                   "training loss": "none (adversarial: see GAN training)", "last epoch": "-",
                   "last quarter": "-",
                   "plateaued": "unknown", "power-law slope": "-",
                   "projected steps to PCA": "-", "x steps trained": "-"}
            if c is not None:
                curves[f"{label(method)} seed {cfg['seed']}"] = {**c, "method": method,
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
            reusers.setdefault(src, []).append(label(method))
    rows, curves = [], {}
    for method, run in gans:
        c = trained_gan_curve(run)
        if c is None:
            continue
        seed = run["config"]["config"]["seed"]
        curves[f"{label(method)} seed {seed}"] = c
        b = gan_balance(c)
        also = reusers.get(Path(run["path"]).name, [])
        rows.append({"Method": label(method) + (f" (reused by {', '.join(also)})"
                                                         if also else ""),
                     "seed": str(seed), "generator steps": f"{b['step']:,}",
                     "D(real) / D(fake)": f"{b['d_real']:.3f} / {b['d_fake']:.3f}",
                     "generated / real std": f"{b['std_ratio']:.3f}",
                     "std ratio peak (step)": (f"{b['std_ratio_peak']:.3f} "
                                               f"({b['std_ratio_peak_step']:,})"),
                     "D margin, last quarter": (f"{b['margin_quarter_start']:.3f} -> "
                                                f"{b['margin_end']:.3f}")})
    return rows, curves


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


def data_note(dataset: str, results: dict[str, MethodRuns]) -> str:
    """What the page's images are not, where a reader could take them for the paper's: an LSUN
    page says plainly that its training images are not the paper's 3 million bedrooms."""
    if not dataset.startswith("lsun"):
        return ""
    counts = sorted({r["config"].get("data", {}).get("train", {}).get("count")
                     for res in results.values() for r in res.runs} - {None})
    n = f"{counts[0]:,}" if len(counts) == 1 else "its"
    return (f"These {n} LSUN bedroom training images are not the paper's 3 million: no number "
            f"on this page reproduces the paper's LSUN-64 column.")
