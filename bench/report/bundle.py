"""Run bundles: a store's complete runs, small enough to commit, from which `bench report`
makes the same page.

A report at the paper's budget takes longer than one working session, and a session may get a
fresh machine whose run store is empty. A bundle keeps what a report reads from each complete
run, so the runs finished on one machine count on the next:

    <dataset>/<run>/  config.json, status.json, metrics.json, per_image.npz, curves.csv, log.txt
                      bundle.json         where it came from, when, what was left out
                      grids/*.png         reconstructions and samples         (figure runs only)
                      grids/<method>_*.png + figures.json
                                          interpolations, walks, arithmetic, drawn here from
                                          model.pt and z.npy, as `bench report` draws them
                                                                              (figure runs only)

Left out: ckpt/ (resume state, tens of MB), model.pt and z.npy (their figures are drawn
instead). Figure runs are the ones a report shows grids for: each method's lowest seed.
A bundle is a store: `bench report --runs BUNDLE` reads it, and `bench run --out` a copy of it
skips its runs as complete (the same config and code give the same run id). A bundled run has
no checkpoint, so a GAN-Lap1 run can reuse a GAN-MSE training only from a live store.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from bench.report.figures import FIGURES, GRID_NAMES, make_figures
from bench.runs.store import find_runs, load_run
from bench.runtime.io import atomic_write_json
from bench.runtime.machine import cpu_info

KEPT = ("config.json", "status.json", "metrics.json", "per_image.npz", "curves.csv", "log.txt")


def _key(info: dict) -> tuple[str, str]:
    cfg = info["config"].get("config", {})
    return cfg.get("dataset", ""), cfg.get("method", "")


def _complete(root: Path) -> list[dict]:
    return [info for info in map(load_run, find_runs(root))
            if info["status"].get("state") == "complete" and info["metrics"]]


def bundle_runs(root: Path, dest: Path, data_root: Path | None = None,
                log=print) -> tuple[list[str], list[str]]:
    """Copy every complete run under ``root`` into the bundle ``dest`` (see the module's
    docstring); a run already bundled with the same metrics is left as it is. Returns
    (runs written, runs already there)."""

    root, dest = Path(root), Path(dest)
    runs = _complete(root)
    lowest: dict[tuple[str, str], int] = {}
    for info in runs + _complete(dest):
        seed = info["config"].get("config", {}).get("seed", 0)
        lowest[_key(info)] = min(seed, lowest.get(_key(info), seed))
    written, kept = [], []
    for info in runs:
        src = Path(info["path"])
        dataset, method = _key(info)
        out = dest / dataset / src.name
        if (out / "metrics.json").is_file() and \
                (out / "metrics.json").read_bytes() == (src / "metrics.json").read_bytes():
            kept.append(src.name)
            continue
        tmp = dest / dataset / f".{src.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        if (src / "bundle.json").is_file():  # already a bundle (a store seeded from one): as is
            shutil.copytree(src, tmp)
            _put(tmp, out)
            written.append(src.name)
            log(f"{out}: copied (already a bundle)")
            continue
        tmp.mkdir(parents=True)
        for name in KEPT:
            if (src / name).is_file():
                shutil.copyfile(src / name, tmp / name)
        figure_run = info["config"]["config"].get("seed", 0) == lowest[(dataset, method)]
        left_out = ["ckpt/", "model.pt", "z.npy"]
        if figure_run:
            (tmp / "grids").mkdir()
            for name in GRID_NAMES:
                if (src / "grids" / f"{name}.png").is_file():
                    shutil.copyfile(src / "grids" / f"{name}.png", tmp / "grids" / f"{name}.png")
            try:
                files = make_figures(info, tmp, data_root, dataset)
            except Exception as e:  # as `bench report` does: the page says what failed
                log(f"{src.name}: figures skipped ({type(e).__name__}: {e})")
                files = {"error": f"{type(e).__name__}: {e}"}
            atomic_write_json(tmp / FIGURES, files)
        else:
            left_out.append("grids/ (not this method's lowest seed: a report shows none)")
        atomic_write_json(tmp / "bundle.json", {
            "from": str(src), "bundled": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "left_out": left_out, "figures": figure_run, "bundled_on": cpu_info()})
        _put(tmp, out)
        written.append(src.name)
        log(f"{out}: bundled" + (" with its figures" if figure_run else ""))
    return written, kept


def _put(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out`` (replacing it), so that ``out`` is never
    half written."""
    if out.exists():
        old = out.parent / f".{out.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
