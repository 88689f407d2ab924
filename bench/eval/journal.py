"""The evaluation's journal: what an interrupted evaluation had measured, kept per batch.

A run's evaluation can take longer than its training's checkpoint interval: the GAN
inverts every scored image with Adam (500 steps x 2 restarts in the budget reports: up to
about 55 minutes per 500 images at 128 px on a 2-core Xeon, at the 77 image-steps a second of
`bench perf peak-128`, less as images stop early). So each measured batch of images is written
to ``eval_partial/`` in the run folder as soon as it is done, and a resumed run measures only
the batches it does not find there: a kill during evaluation loses at most one batch.

A batch is reused only when everything that decides its numbers is unchanged: the trained
model (the SHA-256 of the final checkpoint, which the evaluation follows), the run's config
(evaluation settings included), the process layout, the batch's own image indices and the
batch size. Every batch is measured independently of the ones before it (the inversion seeds
its restarts per call), so a resumed evaluation ends bitwise where an uninterrupted one ends
(tests/test_journal.py). The folder is removed once the run is complete.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bench.runtime.io import atomic_write_bytes, atomic_write_json, load_tensors

if TYPE_CHECKING:
    from bench.config.settings import RunConfig
    from bench.runtime.distributed import Dist

FOLDER = "eval_partial"
FORMAT = 1


class EvalJournal:
    """Measured batches of one process's evaluation, keyed by split and first position."""

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.folder = folder
        self.reused_s = 0.0  # seconds the reused batches took in earlier processes
        self.reused_images = 0
        key_file = folder / "key.json"
        try:
            same = json.loads(key_file.read_text()) == key
        except (FileNotFoundError, ValueError):
            same = False
        if not same:  # another model or settings: nothing in it applies
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(key_file, key)

    @classmethod
    def open(cls, run_path: Path | None, config: RunConfig, dist: Dist,
             batch: int) -> EvalJournal | None:
        """The journal of a run whose training left a checkpoint (its checksum names the trained
        model); None without one (PCA: a closed form, evaluated in seconds)."""
        if run_path is None:
            return None
        side = run_path / "ckpt" / "last.pt.sha256"
        try:
            checkpoint = json.loads(side.read_text())["sha256"]
        except (FileNotFoundError, ValueError, KeyError):
            return None
        key = {"format": FORMAT, "checkpoint": checkpoint, "config": config.to_dict(),
               "world": dist.world, "rank": dist.rank, "batch": batch}
        sub = f"rank{dist.rank}" if dist.enabled else "."
        return cls(run_path / FOLDER / sub, json.loads(json.dumps(key, default=str)))

    def _path(self, split: str, start: int) -> Path:
        return self.folder / f"{split}-{start:09d}.pt"

    def load(self, split: str, start: int, indices: np.ndarray) -> dict[str, Any] | None:
        """The batch of ``split`` starting at ``start``, if it was measured on exactly these
        images; else None."""
        rec = _read(self._path(split, start))
        if rec is None or not np.array_equal(rec.pop("indices").numpy(), indices):
            return None
        self.reused_s += float(rec.pop("seconds"))
        self.reused_images += int(indices.size)
        return rec

    def save(self, split: str, start: int, indices: np.ndarray, rec: dict[str, Any],
             seconds: float) -> None:
        buf = io.BytesIO()
        # clone: a slice (the first 32 of a batch) would otherwise save its whole batch
        rec = {k: v.clone() if torch.is_tensor(v) else v for k, v in rec.items()}
        torch.save({**rec, "indices": torch.from_numpy(np.ascontiguousarray(indices)),
                    "seconds": float(seconds)}, buf)
        atomic_write_bytes(self._path(split, start), buf.getvalue())

    def value(self, name: str, compute) -> Any:
        """A JSON result computed once (e.g. GLO's codes check): reused if journaled."""
        p = self.folder / f"{name}.json"
        try:
            stored = json.loads(p.read_text())
        except (FileNotFoundError, ValueError):
            stored = None
        if stored is not None:
            self.reused_s += float(stored["seconds"])
            return stored["value"]
        t = time.monotonic()
        value = compute()
        atomic_write_json(p, {"value": value, "seconds": time.monotonic() - t})
        return value

    @staticmethod
    def measured(run_path: Path) -> int:
        """Images an unfinished evaluation has measured so far (every process's journal)."""
        recs = (_read(f) for f in (Path(run_path) / FOLDER).rglob("*-*.pt"))
        return sum(int(r["indices"].numel()) for r in recs if r is not None)

    @staticmethod
    def remove(run_path: Path) -> None:
        """Drop every process's journal (the run is complete, or starts over)."""
        shutil.rmtree(run_path / FOLDER, ignore_errors=True)


def _read(path: Path) -> dict[str, Any] | None:
    """A journaled batch, or None when it is missing, torn or foreign (measured again)."""
    try:
        rec = load_tensors(io.BytesIO(path.read_bytes()), path)
    except Exception:  # FileNotFoundError, and the many kinds torch.load raises on a torn file
        return None
    return rec if isinstance(rec, dict) and {"indices", "seconds"} <= rec.keys() else None
