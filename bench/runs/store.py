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

from bench.runtime.errors import RunLockedError
from bench.runtime.io import atomic_write_json

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
