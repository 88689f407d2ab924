"""What a model's fit() gets from the harness: device, seed, logging, loss curves,
checksummed atomic checkpoints, divergence detection, autocast and the process group.

Under torch.distributed (``dist``) every rank holds a RunContext; only rank 0 writes the
log, the curves and the checkpoints, and every decision that leads to a collective (is
the loss finite? is a checkpoint due?) is taken the same way on every rank."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bench.core.precision import autocast
from bench.runtime.distributed import SINGLE, Dist
from bench.runtime.io import (
    atomic_write_bytes,
    atomic_write_json,
    fsync_dir,
    load_tensors,
    sha256_bytes,
)


def progress_disabled(quiet: bool) -> bool | None:
    """tqdm's ``disable`` for a progress bar: off when quiet (--quiet, rank > 0) or in CI;
    None lets tqdm turn itself off when stderr is not a terminal."""
    if quiet or os.environ.get("CI"):
        return True
    return None


class Diverged(RuntimeError):
    def __init__(self, step: int, loss: float, last_finite: float | None) -> None:
        super().__init__(f"loss became {loss} at step {step} (last finite: {last_finite})")
        self.step, self.loss, self.last_finite = step, loss, last_finite


def verified_checkpoint_bytes(path: Path) -> bytes | None:
    """The bytes of checkpoint ``path`` when the .sha256 written beside it holds; None when that
    checksum is missing, unreadable or does not match (a half-written or corrupt checkpoint,
    which no resume accepts)."""
    verified = _verified_checkpoint(path)
    return verified[0] if verified is not None else None


def _verified_checkpoint(path: Path) -> tuple[bytes, dict[str, Any]] | None:
    """verified_checkpoint_bytes, with the side file it was checked against (its .sha256: the
    checksum, and since fit time is counted through it, the fit seconds once it was written)."""
    data = path.read_bytes()
    try:
        side = json.loads(path.with_suffix(".pt.sha256").read_text())
    except (FileNotFoundError, ValueError):
        return None
    ok = isinstance(side, dict) and side.get("sha256") == sha256_bytes(data)
    return (data, side) if ok else None


def _rotate_to_prev(last: Path) -> None:
    """Make prev.pt a copy of last.pt (when last.pt is whole) before last.pt is overwritten.

    A kill at any moment leaves at least one checkpoint whose checksum holds: prev.pt first
    takes last.pt's checksum (last.pt is still whole), then its bytes (a hard link renamed
    into place, or a copy where the file system has no links); last.pt is overwritten only
    after that. A last.pt whose checksum does not hold (killed between its two writes) is not
    rotated: prev.pt stays the checkpoint a resume falls back to."""
    whole = verified_checkpoint_bytes(last) if last.exists() else None
    if whole is None:
        return
    prev = last.with_name("prev.pt")
    atomic_write_bytes(prev.with_suffix(".pt.sha256"),
                       last.with_suffix(".pt.sha256").read_bytes())
    tmp = prev.with_name(f".prev.pt.{os.getpid()}.link")
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.link(last, tmp)
        os.replace(tmp, prev)
        fsync_dir(prev.parent)
    except OSError:  # no hard links here: copy
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        atomic_write_bytes(prev, whole)


class RunContext:
    def __init__(self, path: Path | None, device: str = "cpu", seed: int = 0,
                 precision: str = "fp32", quiet: bool = False, ckpt_min_interval_s: float = 0.0,
                 keep_every: int = 0, dist: Dist = SINGLE):
        self.path = Path(path) if path is not None else None
        self.device = torch.device(device)
        self.seed = seed
        self.precision = precision
        self.dist = dist
        self.quiet = quiet or not dist.is_main
        self.curves: list[dict[str, Any]] = []
        self.last_finite: float | None = None
        self.ckpt_min_interval_s = ckpt_min_interval_s
        self.keep_every = keep_every
        self._last_ckpt = time.monotonic()
        # training seconds of earlier processes of this run (from the checkpoint it resumes),
        # and when this process's fit began (start_fit): checkpoints carry the sum, so a
        # resumed run's fit time counts every process's fit up to the checkpoint it resumed,
        # its set-up (building the model, the PCA init) included
        self.fit_s_earlier = 0.0
        self._fit_t0 = time.monotonic()
        self._log_file = None
        if self.path is not None and dist.is_main:
            self.path.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.path / "log.txt", "a", encoding="utf-8")  # noqa: SIM115

    # --- logging -----------------------------------------------------------------------
    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        if not self.quiet:
            tqdm.write(line, file=sys.stdout)  # above a progress bar, if one is showing
            sys.stdout.flush()
        if self._log_file:
            self._log_file.write(line + "\n")
            self._log_file.flush()

    def close(self) -> None:
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def record(self, **values: Any) -> None:
        """One row of the loss curves (typically per epoch)."""
        self.curves.append(values)
        self.log(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in values.items()))
        if self.path is not None and self.dist.is_main:
            buf = io.StringIO()
            keys = list(dict.fromkeys(k for row in self.curves for k in row))
            w = csv.DictWriter(buf, fieldnames=keys)
            w.writeheader()
            w.writerows(self.curves)
            atomic_write_bytes(self.path / "curves.csv", buf.getvalue().encode())

    def check_finite(self, loss: torch.Tensor | float, step: int) -> float:
        """The loss as a float (under torch.distributed: its mean over ranks, so that every
        rank agrees); Diverged if it is not finite."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        value = self.dist.mean_scalar(value, self.device)
        if not math.isfinite(value):
            raise Diverged(step, value, self.last_finite)
        self.last_finite = value
        return value

    def autocast(self):
        return autocast(self.precision, self.device)

    def epoch_generator(self, epoch: int) -> torch.Generator:
        """The data order of an epoch depends only on (seed, epoch) (and the rank, under
        torch.distributed): resume replays it."""
        rank_offset = 1_000_003 * self.dist.rank if self.dist.enabled else 0
        return torch.Generator().manual_seed(self.seed * 100_003 + epoch + rank_offset)

    # --- checkpoints ---------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path | None:
        return self.path / "ckpt" if self.path is not None else None

    def save_checkpoint(self, state: dict[str, Any] | Callable[[], dict[str, Any]],
                        final: bool = False) -> bool:
        """Write ckpt/last.pt atomically (the previous one becomes prev.pt). Returns whether it
        wrote: between the first and the last epoch, at most one per ckpt_min_interval_s; with
        keep_every N, every Nth epoch (the last recorded curve row's) also writes and is kept
        as ckpt/epochE.pt beside its .sha256 (nothing resumes from it; --force removes it).

        ``state`` may be a function: it is called only when a checkpoint is due, on every
        rank (it may gather sharded state), and rank 0 writes what it returns."""
        if self.ckpt_dir is None:
            return False
        epoch = self.curves[-1].get("epoch") if self.curves else None
        keep = bool(self.keep_every) and epoch is not None and (epoch + 1) % self.keep_every == 0
        due = final or keep or time.monotonic() - self._last_ckpt >= self.ckpt_min_interval_s
        if not self.dist.broadcast_object(due):
            return False
        if callable(state):
            state = state()
        self._last_ckpt = time.monotonic()
        if not self.dist.is_main:
            return False
        buf = io.BytesIO()
        fit_s = self.fit_s_earlier + self.fit_seconds()
        torch.save({**state, "rng_cpu": torch.get_rng_state(), "curves": self.curves,
                    "fit_s": fit_s}, buf)
        data = buf.getvalue()
        last = self.ckpt_dir / "last.pt"
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        _rotate_to_prev(last)
        atomic_write_bytes(last, data)
        # the checksum's side file also carries the fit seconds once the checkpoint is on disk:
        # a resume from it then counts writing it too (in the checkpoint's own "fit_s" it cannot)
        side = {"sha256": sha256_bytes(data),
                "fit_s": round(self.fit_s_earlier + self.fit_seconds(), 3)}
        atomic_write_json(last.with_suffix(".pt.sha256"), side)
        if keep:
            kept = self.ckpt_dir / f"epoch{epoch}.pt"
            atomic_write_bytes(kept, data)
            atomic_write_json(kept.with_suffix(".pt.sha256"), side)
        return True

    def start_fit(self) -> None:
        """This process's fit starts now (set-up included); fit_seconds() counts from here."""
        self._fit_t0 = time.monotonic()

    def fit_seconds(self) -> float:
        """Seconds since start_fit() in this process (earlier processes not included)."""
        return time.monotonic() - self._fit_t0

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The newest checkpoint whose checksum holds, or None; corrupt ones are reported.
        Every rank reads the same file (rank 0 wrote it; the run folder is shared)."""
        if self.ckpt_dir is None:
            return None
        for name in ("last.pt", "prev.pt"):
            p = self.ckpt_dir / name
            if not p.is_file():
                continue
            verified = _verified_checkpoint(p)
            if verified is None:
                self.log(f"checkpoint {p} is corrupt (checksum mismatch): trying the previous one")
                continue
            data, side = verified
            state = load_tensors(io.BytesIO(data), p, map_location=self.device)
            torch.set_rng_state(state.pop("rng_cpu"))
            self.curves = list(state.pop("curves", []))
            # the side file's count includes writing the checkpoint; older ones lack it, and
            # checkpoints written before fit time was kept lack both (0)
            fit_s = float(state.pop("fit_s", 0.0))
            after_write = side.get("fit_s")
            ok = isinstance(after_write, int | float) and not isinstance(after_write, bool)
            self.fit_s_earlier = float(after_write) if ok and after_write >= fit_s else fit_s
            self.log(f"resuming from {p} (epoch {state.get('epoch')})")
            return state
        return None
