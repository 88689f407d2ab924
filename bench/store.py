"""The results store: one folder per run, named by the run id, written atomically.

runs/<dataset>/<method>-<run id>/
    config.json     resolved config, data fingerprint + manifest, code version, environment
    status.json     running | complete | failed | diverged (+ step, last finite loss, error)
    metrics.json    train/test/held-out MSE and Lap1 ([-1, 1] pixels), CIs, spectrum, timings
    per_image.npz   per-image metrics and the evaluated indices
    z.npy           codes of the evaluated training images (Figure 1)
    curves.csv      training losses per epoch
    log.txt         everything the run printed
    grids/*.png     reconstructions, samples
    ckpt/           last.pt + prev.pt (with .sha256), deleted for nothing: resume uses them
    lock            pid@host of the process running it
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import RunLockedError
from bench.io import atomic_write_json

STATES = ("running", "complete", "failed", "diverged")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunDir:
    path: Path

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    def status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    def is_complete(self) -> bool:
        return self.status().get("state") == "complete" and (self.path / "metrics.json").is_file()

    def set_status(self, state: str, **extra) -> None:
        assert state in STATES
        atomic_write_json(self.status_path, {"state": state, "updated": time.strftime(
            "%Y-%m-%dT%H:%M:%S%z"), **extra})

    # --- lock ------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path / "lock"

    def acquire(self, log=print) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        me = f"{os.getpid()}@{socket.gethostname()}"
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.lock_path.read_text().strip() if self.lock_path.exists() else ""
                pid_s, _, host = holder.partition("@")
                alive = pid_s.isdigit() and host == socket.gethostname() and pid_alive(int(pid_s))
                if alive or (host and host != socket.gethostname()):
                    raise RunLockedError(
                        f"{self.path} is in use by process {holder} ({self.lock_path}); wait for "
                        f"it to finish, or delete the lock file if that process is gone") from None
                log(f"taking over stale lock {self.lock_path} (process {holder} is gone)")
                self.lock_path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            return
        raise RunLockedError(f"could not lock {self.lock_path}")

    def release(self) -> None:
        self.lock_path.unlink(missing_ok=True)


def find_runs(root: Path) -> list[RunDir]:
    root = Path(root)
    if not root.is_dir():
        return []
    return [RunDir(p.parent) for p in sorted(root.glob("*/*/config.json"))]


def load_run(run: RunDir) -> dict:
    """Config, status and metrics of one run, as plain dicts (missing parts empty)."""
    def read(name: str) -> dict:
        try:
            return json.loads((run.path / name).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    return {"path": str(run.path), "config": read("config.json"), "status": read("status.json"),
            "metrics": read("metrics.json")}


def runs_table(root: Path):
    """A pandas table of every run under ``root``: one row per run, key settings and metrics."""
    import pandas as pd

    rows = []
    for run in find_runs(root):
        info = load_run(run)
        cfg = info["config"].get("config", {})
        m = info["metrics"]
        rows.append({
            "dataset": cfg.get("dataset"), "method": cfg.get("method"), "seed": cfg.get("seed"),
            "profile": cfg.get("profile"), "procs": cfg.get("world_size", 1),
            "state": info["status"].get("state", "unknown"),
            "train_mse": m.get("train", {}).get("mse"), "test_mse": m.get("test", {}).get("mse"),
            "train_lap1": m.get("train", {}).get("lap1"),
            "fit_s": m.get("timing", {}).get("fit_s"), "run": run.path.name,
        })
    return pd.DataFrame(rows)
