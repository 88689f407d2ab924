"""Training reuse: a run whose training is the same as a finished sibling's (GAN-Lap1 after
GAN-MSE: only the inversion loss differs) resumes that sibling's checkpoint instead of
training again, and records whose training it adopted."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from bench.config.families import FAMILIES
from bench.core.model import steps_per_epoch
from bench.runtime.io import atomic_write_json


def eval_only_fields(family: str) -> tuple[str, ...]:
    """Model settings that change only how a trained model is evaluated, never its training
    (bench.core.family.Family.eval_only): two runs that differ only in these (and in method
    name and evaluation settings) train the same nets from the same seed. GAN-MSE and GAN-Lap1
    are one GAN inverted with two losses."""
    known = FAMILIES.get(family)
    return known.eval_only if known is not None else ()


_NOT_TRAINING = ("method", "eval", "notes", "model", "overrides")  # (their effect is in model)


def training_identity(config_json: dict) -> str:
    """What a run's training depends on, from its config.json: the resolved config less
    evaluation-only settings, the model/harness source hash and the data fingerprint."""
    cfg = config_json["config"]
    skip = eval_only_fields(cfg["family"])
    return json.dumps({"config": {k: v for k, v in cfg.items() if k not in _NOT_TRAINING},
                       "model": {k: v for k, v in cfg["model"].items() if k not in skip},
                       "code": config_json["code"].get("source_sha256"),
                       "data": config_json["data"].get("fingerprint")}, sort_keys=True)


def training_budget(config_json: dict) -> tuple[int, bool] | None:
    """(optimiser steps a run trains, whether they end on an epoch boundary), from its
    config.json; None for PCA and for several processes (their epochs split differently)."""

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
