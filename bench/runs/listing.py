"""The store as tables: `bench runs` (one row per run, with an unfinished run's progress), and
the record of a complete run that `bench runs --json` merges into a committed file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.core.spectrum import flatness
from bench.runs.progress import progress, progress_text
from bench.runs.store import find_runs, load_run
from bench.runtime.io import atomic_write_json


def runs_table(root: Path):
    """A pandas table of every run under ``root``: one row per run, key settings and metrics."""


    rows = []
    for run in find_runs(root):
        info = load_run(run)
        cfg = info["config"].get("config", {})
        m = info["metrics"]
        state = info["status"].get("state", "unknown")
        if state == "running" and run.holder_gone():
            state = "interrupted"  # its process is gone; the same command resumes it
        done, left = (progress_text(progress(run.path, cfg.get("model", {})))
                      if state in ("running", "interrupted") else ("-", "-"))
        rows.append({
            "dataset": cfg.get("dataset"), "method": cfg.get("method"), "seed": cfg.get("seed"),
            "profile": cfg.get("profile"), "procs": cfg.get("world_size", 1),
            "state": state, "progress": done, "left": left,
            "train_mse": m.get("train", {}).get("mse"), "test_mse": m.get("test", {}).get("mse"),
            "train_lap1": m.get("train", {}).get("lap1"),
            "fit_s": m.get("timing", {}).get("fit_s"), "run": run.path.name,
        })
    return pd.DataFrame(rows)


def run_record(info: dict) -> dict:
    """One complete run's numbers with everything needed to trust them, small enough to
    commit (the spectrum reduced to its flatness): config, seed, code version, data
    fingerprint, machine, metrics, GLO's code diagnostics, timings and the last curve row."""

    m, cfg_json = info["metrics"], info["config"]
    keep = ("n", "mse", "mse_ci95", "lap1", "lap1_ci95", "dataset")
    record = {
        "run": Path(info["path"]).name, "state": info["status"].get("state"),
        "config": cfg_json.get("config", {}), "code": cfg_json.get("code", {}),
        "data": cfg_json.get("data", {}), "environment": cfg_json.get("environment", {}),
        "units": m.get("units"),
        **{split: {k: v for k, v in m[split].items() if k in keep}
           for split in ("train", "test", "heldout") if split in m},
        "flatness": flatness(m.get("spectrum", {})),
        "timing": m.get("timing", {}), "curves_final": m.get("curves_final", {}),
    }
    if "codes" in m:
        record["codes"] = {k: v for k, v in m["codes"].items() if k != "spectrum_init"}
        init = m["codes"].get("spectrum_init")
        if init:
            record["codes"]["flatness_init"] = flatness(init)
    return record


def export_runs(root: Path, path: Path) -> tuple[int, int]:
    """Merge every complete run under ``root`` into the JSON list at ``path`` (keyed by run
    folder name; entries of runs no longer in the store are kept, so a file committed from
    one machine grows on the next). Returns (runs written or updated, entries in the file)."""

    path = Path(path)
    entries: dict[str, dict] = {}
    if path.is_file():
        entries = {e["run"]: e for e in json.loads(path.read_text())}
    new = 0
    for run in find_runs(root):
        info = load_run(run)
        if info["status"].get("state") == "complete" and info["metrics"]:
            entries[run.path.name] = run_record(info)
            new += 1
    atomic_write_json(path, sorted(entries.values(), key=lambda e: (
        e["config"].get("dataset", ""), e["config"].get("seed", 0), e["run"])))
    return new, len(entries)
