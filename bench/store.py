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
from dataclasses import dataclass
from datetime import datetime, timezone
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
        # microseconds: two runs of one invocation finish within the same second, and "newest"
        # (the report's row, a sweep's reused run) must not be a tie broken by folder name
        updated = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        atomic_write_json(self.status_path, {"state": state, "updated": updated, **extra})

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
                if _holder_state(holder) in ("alive", "elsewhere"):
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

    def holder_gone(self) -> bool:
        """Whether the run's lock names a process of this machine that no longer runs (a run
        left "running" by a kill or a session's end: rerunning the command resumes it)."""
        try:
            return _holder_state(self.lock_path.read_text().strip()) == "gone"
        except OSError:
            return False


def _holder_state(holder: str) -> str:
    """A lock's "pid@host": "elsewhere" (another machine's process: never taken over),
    "alive" / "gone" (a process of this machine that runs / no longer runs), "unreadable"."""
    pid_s, _, host = holder.partition("@")
    if host and host != socket.gethostname():
        return "elsewhere"
    if not (pid_s.isdigit() and host):
        return "unreadable"
    return "alive" if pid_alive(int(pid_s)) else "gone"


def find_runs(root: Path) -> list[RunDir]:
    root = Path(root)
    if not root.is_dir():
        return []
    return [RunDir(p.parent) for p in sorted(root.glob("*/*/config.json"))]


def updated_at(info: dict) -> float:
    """When a run's status was last written, in seconds since the epoch (0 when unknown);
    reads both the second-resolution stamps of older stores and today's microsecond ones."""
    try:
        return datetime.fromisoformat(info["status"]["updated"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


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

    from bench.convergence import progress, progress_text

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
    from bench.claims import flatness

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


#: model settings that change only how a trained model is evaluated, never its training: two
#: runs that differ only in these (and in method name and evaluation settings) train the same
#: nets from the same seed. GAN-MSE and GAN-Lap1 are one GAN inverted with two losses.
EVAL_ONLY_FIELDS = {"gan": ("loss", "invert"), "glo": ("invert",)}
_NOT_TRAINING = ("method", "eval", "notes", "model", "overrides")  # (their effect is in model)


def training_identity(config_json: dict) -> str:
    """What a run's training depends on, from its config.json: the resolved config less
    evaluation-only settings, the model/harness source hash and the data fingerprint."""
    cfg = config_json["config"]
    skip = EVAL_ONLY_FIELDS.get(cfg["family"], ())
    return json.dumps({"config": {k: v for k, v in cfg.items() if k not in _NOT_TRAINING},
                       "model": {k: v for k, v in cfg["model"].items() if k not in skip},
                       "code": config_json["code"].get("source_sha256"),
                       "data": config_json["data"].get("fingerprint")}, sort_keys=True)


def training_budget(config_json: dict) -> tuple[int, bool] | None:
    """(optimiser steps a run trains, whether they end on an epoch boundary), from its
    config.json; None for PCA and for several processes (their epochs split differently)."""
    from bench.config import steps_per_epoch

    cfg = config_json["config"]
    model, n = cfg.get("model", {}), config_json.get("data", {}).get("train_used")
    if "batch_size" not in model or not n or cfg.get("world_size", 1) != 1:
        return None
    per_epoch = max(1, steps_per_epoch(int(n), int(model["batch_size"])))
    if model.get("steps"):
        return int(model["steps"]), model["steps"] % per_epoch == 0
    return int(model["epochs"]) * per_epoch, True


def _prefix_identity(config_json: dict) -> str:
    """training_identity without the budget (epochs, steps): runs equal here train the same
    steps in the same order, one stopping earlier."""
    cfg = config_json["config"]
    model = {k: v for k, v in cfg["model"].items() if k not in ("epochs", "steps")}
    return training_identity({**config_json, "config": {**cfg, "model": model}})


def trained_sibling(path: Path) -> Path | None:
    """A complete run beside ``path`` (same store, same dataset) whose final checkpoint is
    still there and whose training is the one ``path``'s config asks for -- or, failing that,
    its beginning: the same training with a shorter budget that ended on an epoch boundary
    (the longest such). Resuming from that checkpoint trains exactly what an uninterrupted run
    would (the data order of an epoch depends only on seed and epoch; tests/test_sweep.py), so
    a sweep over the number of steps or epochs costs its longest point, not their sum."""
    path = Path(path)
    try:
        mine_json = json.loads((path / "config.json").read_text())
        mine, mine_prefix = training_identity(mine_json), _prefix_identity(mine_json)
        budget = training_budget(mine_json)
    except (FileNotFoundError, ValueError, KeyError):
        return None
    best: tuple[int, Path] | None = None
    for other in sorted(path.parent.glob("*/config.json")):
        src = other.parent
        if src == path or not (src / "ckpt" / "last.pt").is_file():
            continue
        try:
            theirs = json.loads(other.read_text())
            done = json.loads((src / "status.json").read_text()).get("state") == "complete"
            if not done:
                continue
            if training_identity(theirs) == mine:
                return src
            src_budget = training_budget(theirs)
            if (budget is not None and src_budget is not None and src_budget[1]
                    and src_budget[0] < budget[0] and _prefix_identity(theirs) == mine_prefix
                    and (best is None or src_budget[0] > best[0])):
                best = (src_budget[0], src)
        except (FileNotFoundError, ValueError, KeyError):
            continue
    return None if best is None else best[1]


def adopt_training(path: Path) -> Path | None:
    """Give the run at ``path`` the final checkpoint (and training curves) of a trained
    sibling (see trained_sibling), so that its fit resumes at the end of that training instead
    of repeating it (a shorter sibling's: trains on from there). Only when ``path`` has no
    checkpoint of its own. Returns the sibling."""
    import shutil

    path = Path(path)
    if (path / "ckpt" / "last.pt").exists():
        return None
    src = trained_sibling(path)
    if src is None:
        return None
    (path / "ckpt").mkdir(parents=True, exist_ok=True)
    for name in ("last.pt.sha256", "last.pt"):  # the checksum first: a half copy fails it
        if (src / "ckpt" / name).is_file():
            shutil.copyfile(src / "ckpt" / name, path / "ckpt" / f".{name}.tmp")
    for name in ("last.pt.sha256", "last.pt"):
        tmp = path / "ckpt" / f".{name}.tmp"
        if tmp.exists():
            os.replace(tmp, path / "ckpt" / name)
    if (src / "curves.csv").is_file():
        shutil.copyfile(src / "curves.csv", path / "curves.csv")
    atomic_write_json(path / "ckpt" / ADOPTED, {"run": src.name, "fit_s": training_seconds(src)})
    return src


def training_seconds(path: Path) -> float | None:
    """Seconds of training behind a complete run's final checkpoint, whoever ran them: its own
    fit seconds plus those of any training it reused in turn (``timing.training_reused_s``);
    None when its metrics.json does not say."""
    try:
        return timing_training_s(json.loads((Path(path) / "metrics.json").read_text())["timing"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def timing_training_s(timing: dict) -> float | None:
    """A metrics.json ``timing``'s seconds of training behind the model: fit_s plus any
    training it reused (training_reused_s); None without fit_s."""
    if timing.get("fit_s") is None:
        return None
    return float(timing["fit_s"]) + float(timing.get("training_reused_s") or 0.0)


ADOPTED = "adopted_from.json"  # in ckpt/: whose training a run resumed (survives a restart)


def adopted_from(path: Path) -> str | None:
    """The run whose training ``path`` adopted (adopt_training), or None."""
    try:
        return json.loads((Path(path) / "ckpt" / ADOPTED).read_text())["run"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def adopted_seconds(path: Path) -> float | None:
    """Seconds of training the run at ``path`` adopted (adopt_training), or None."""
    try:
        s = json.loads((Path(path) / "ckpt" / ADOPTED).read_text()).get("fit_s")
    except (FileNotFoundError, ValueError, AttributeError):
        return None
    return None if s is None else float(s)
