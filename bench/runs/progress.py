"""How far an unfinished run has come: its logged step against its budget, and the training
time left at the median seconds of its last epochs (what `bench runs` shows)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.eval.journal import EvalJournal

_STAMP = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\]")


_EPOCH = re.compile(r"^\[\d\d:\d\d:\d\d\] epoch=(\d+) step=(\d+)")


def epoch_seconds(log: Path) -> dict[int, float]:
    """Seconds since the log's first line at which each logged epoch ended (1 s resolution;
    a clock going backwards is taken as midnight passing)."""
    out: dict[int, float] = {}
    start = last = None
    day = 0
    for line in log.read_text().splitlines():
        stamp = _STAMP.match(line)
        if stamp is None:
            continue
        t = int(stamp[1]) * 3600 + int(stamp[2]) * 60 + int(stamp[3]) + day
        if last is not None and t < last:
            day += 86400
            t += 86400
        last = t
        start = t if start is None else start
        if m := _EPOCH.match(line):
            out[int(m[1])] = float(t - start)
    return out


def progress(run_path: Path, model: dict) -> dict | None:
    """A running run's training progress from its log: last logged step, the budget in steps
    (``steps``, else ``epochs`` x the steps an epoch takes; an upper bound where a plateau stop
    may end it sooner), and the training time left at the median seconds of its last 20
    epochs (a pause or a slow neighbour moves a median little). None before the first epoch."""
    log = Path(run_path) / "log.txt"
    if not log.is_file():
        return None
    lines = [m for line in log.read_text().splitlines() if (m := _EPOCH.match(line))]
    if not lines:
        return None
    epoch, step = int(lines[-1][1]), int(lines[-1][2])
    per_epoch = step / (epoch + 1)  # epochs are logged from 0
    total = model.get("steps") or (round(model["epochs"] * per_epoch) if model.get("epochs")
                                   else None)
    secs = epoch_seconds(log)
    gaps = [secs[e] - secs[e - 1] for e in sorted(secs)[-21:] if e - 1 in secs]
    gaps = [g for g in gaps if g >= 0]
    s_per_epoch = float(np.median(gaps)) if gaps else None
    left = None
    if total is not None and s_per_epoch is not None:
        left = max(0.0, (total - step) / per_epoch * s_per_epoch)

    return {"step": step, "total": total, "s_per_epoch": s_per_epoch,
            "training_s_left": left, "upper_bound": bool(model.get("plateau")),
            "evaluated_images": EvalJournal.measured(run_path)}


def progress_text(p: dict | None) -> tuple[str, str]:
    """("2,983/31,800 steps (9%)", "1 h 23 min") for the runs table; dashes where unknown; an
    evaluation under way adds its measured images ("..., evaluation: 500 images measured")."""
    if p is None:
        return "-", "-"
    if p["total"] is None:
        return f"{p['step']:,} steps", "-"
    bound = "at most " if p["upper_bound"] else ""
    done = f"{p['step']:,}/{bound}{p['total']:,} steps ({p['step'] / p['total']:.0%})"
    if p.get("evaluated_images"):  # training done, the evaluation under way (its journal)
        done += f", evaluation: {p['evaluated_images']:,} images measured"
    if p["training_s_left"] is None:
        return done, "-"
    minutes = round(p["training_s_left"] / 60)
    left = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
    return done, f"{bound}{left} of training"
