"""`bench codes-gap RUN`: why a GLO run's stored codes score worse than its training loss.

The loop logs, for every batch, the loss *before* its step: generator G_t on the batch's codes
z^t (batch norm on the batch's statistics). Table 1 scores the *stored* pairs: the final
generator G_T on each image's last code, written when its batch was last visited, in
evaluation mode. Between the two lie (a) the step itself: the batch's codes and G move
together on the same residual (pre -> post), and (b) drift: G takes every later step for
other batches, so a code fitted to G at its last visit is decoded by G_T (post -> end).

This replays the run's last epochs from its previous checkpoint -- exactly: an epoch's data
order depends only on seed and epoch and a GLO step draws no noise; the replay's final codes
and generator are compared with the run's own -- and records, for each training image's last
visit: its loss before the step (what the loop logs), right after it (G_{t+1}, z^{t+1}), and
at the end (G_T, its stored code, batch statistics of the same batch), then its MSE in
evaluation mode after batch-norm recalibration (Table 1's measure). Drift is read against
the number of generator steps since that visit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bench.config.resolve import config_from_dict
from bench.core.context import RunContext
from bench.core.losses import mse_per_image
from bench.core.model import TrainData, to_float
from bench.core.trainer import Batch
from bench.data import get_dataset, load_split
from bench.runs.registry import build_model
from bench.runtime.io import load_tensors


def _per_image(model, z: torch.Tensor, x: torch.Tensor, run: RunContext) -> torch.Tensor:
    """Each image's training loss with the generator in train mode (batch statistics), under
    the run's autocast; batch norm's running statistics are put back (state unchanged)."""
    g = model.generator
    saved = {k: v.clone() for k, v in g.state_dict().items() if "running" in k or "num_batches" in k}
    g.train()
    with torch.no_grad(), run.autocast():
        value = model.loss_fn(g(z), x).float()
    g.load_state_dict({**g.state_dict(), **saved})
    return value


def measure(run_dir: Path, data_root: Path | None, cache_dir: Path | None = None,
            log=print) -> dict:

    run_dir = Path(run_dir)
    info = json.loads((run_dir / "config.json").read_text())
    config = config_from_dict(info["config"])
    if config.family != "glo":
        raise SystemExit(f"{run_dir}: a {config.family} run; the code gap is GLO's")
    split = load_split(get_dataset(config.dataset), "train", data_root, cache_dir,
                       log=lambda m: None)
    if not info["data"]["fingerprint"].startswith(split.fingerprint):
        raise SystemExit(f"{run_dir} was trained on other data (fingerprint "
                         f"{info['data']['fingerprint'][:16]}, found {split.fingerprint[:16]})")
    images = np.asarray(split.images)[: config.subset or None]
    data = TrainData.from_array(images)
    ckpt = {n: load_tensors(run_dir / "ckpt" / n, run_dir / "ckpt" / n)
            for n in ("prev.pt", "last.pt")}
    start_state, final_state = ckpt["prev.pt"], ckpt["last.pt"]
    model = build_model(config, tuple(images.shape[1:]))
    run = RunContext(None, seed=config.seed, precision=config.precision, quiet=True)
    model.train_data, model.precision = data, config.precision
    model.optimizers = model.make_optimizers()
    model.generator.load_state_dict(start_state["generator"])
    model.optimizers["opt"].load_state_dict(start_state["opt"])
    model.load_extra_state(start_state, data, run)
    model.train_nets = model.nets()
    model.generator.train()
    rule = model.stop_rule()
    bs = config.model.batch_size
    per_epoch = data.steps_per_epoch(bs)
    n_epochs = rule.epochs_for(per_epoch)
    first = start_state["epoch"] + 1
    step = first * per_epoch
    record_from = max(first, n_epochs - 2)  # every image's last visit lies in the last two
    n = len(data)
    last_step = np.full(n, -1)
    pre, post = np.zeros(n), np.zeros(n)
    batch_of: dict[int, torch.Tensor] = {}
    logged: dict[int, list[tuple[float, int]]] = {}
    log(f"replaying epochs {first}-{n_epochs - 1} of {run_dir.name} from ckpt/prev.pt "
        f"({per_epoch} steps an epoch)")
    for epoch in range(first, n_epochs):
        gen = run.epoch_generator(epoch)
        for idx in data.epoch_batches(bs, gen):
            if rule.steps and step >= rule.steps:
                break
            x = data.batch(idx)
            if epoch >= record_from:
                before = _per_image(model, model.codes[idx], x, run)
            out = model.train_step(Batch(idx, x, gen, step), run)
            logged.setdefault(epoch, []).append((float(out["loss"]), idx.numel()))
            if epoch >= record_from:
                i = idx.numpy()
                pre[i] = before.numpy()
                post[i] = _per_image(model, model.codes[idx], x, run).numpy()
                last_step[i] = step
                batch_of[step] = idx
            step += 1
    total = step
    exact_codes = bool(torch.equal(model.codes, final_state["codes"]))
    gen_diff = max(float((a - b).abs().max()) for a, b in zip(
        model.generator.state_dict().values(), final_state["generator"].values(), strict=True))
    end = np.zeros(n)
    for s, idx in batch_of.items():  # each batch as it was, now with G_T and the stored codes
        mine = idx[torch.from_numpy(last_step[idx.numpy()] == s)]
        vals = _per_image(model, model.codes[idx], data.batch(idx), run)
        keep = torch.from_numpy(last_step[idx.numpy()] == s)
        end[mine.numpy()] = vals[keep].numpy()
    model.finish(data, run)  # batch-norm recalibration over all codes, as the run ended
    stored = np.zeros(n)
    for b in range(0, n, 1000):
        idx = torch.arange(b, min(n, b + 1000))
        stored[idx.numpy()] = mse_per_image(model.decode(model.codes[idx]),
                                            to_float(data.images[idx])).numpy()
    seen = last_step >= 0
    age = (total - 1 - last_step)[seen]
    drift = (end - post)[seen]
    deciles = np.quantile(age, np.linspace(0, 1, 11))
    bins = []
    for lo, hi in zip(deciles[:-1], deciles[1:], strict=True):
        sel = (age >= lo) & (age <= hi)
        bins.append({"age_from": int(lo), "age_to": int(hi), "images": int(sel.sum()),
                     "post": float(post[seen][sel].mean()), "end": float(end[seen][sel].mean()),
                     "drift": float(drift[sel].mean())})
    spread = np.unique(age).size > 1  # one visit age only (a one-step epoch): no fit
    slope = float(np.polyfit(age, drift, 1)[0]) if spread else float("nan")
    metrics = json.loads((run_dir / "metrics.json").read_text()) \
        if (run_dir / "metrics.json").is_file() else {}
    curves = final_state.get("curves") or []
    loss_name = config.model.loss.name
    res = {
        "run": run_dir.name, "method": config.method, "seed": config.seed,
        "code": info["code"], "data_fingerprint": info["data"]["fingerprint"],
        "loss": loss_name, "steps": total, "steps_per_epoch": per_epoch,
        "replayed_epochs": [first, n_epochs - 1],
        "replay_exact": {"codes_bitwise": exact_codes, "generator_max_abs_diff": gen_diff},
        "logged_last_epoch_loss": curves[-1]["loss"] if curves else None,
        # weighted by images, as the trainer's GLO curve is
        "replayed_last_epoch_loss": float(sum(v * k for v, k in logged[n_epochs - 1])
                                          / sum(k for _v, k in logged[n_epochs - 1])),
        "images": int(seen.sum()),  # those last visited in the replayed, recorded epochs
        "images_total": n,
        "mean": {"pre_step": float(pre[seen].mean()), "post_step": float(post[seen].mean()),
                 "end_train_mode": float(end[seen].mean()),
                 "stored_eval_mode_mse_same_images": float(stored[seen].mean()),
                 "stored_eval_mode_mse": float(stored.mean()),
                 "stored_eval_mode_mse_scored": (metrics.get("train") or {}).get("mse"),
                 "reinverted_mse": (metrics.get("codes") or {}).get("reinverted_mse")},
        "drift_vs_age": {"slope_per_step": slope, "deciles": bins,
                         "corr": float(np.corrcoef(age, drift)[0, 1]) if spread else None},
        "units": f"per-pixel {loss_name} (training loss; stored_*: MSE), [-1, 1] pixels",
    }
    m = res["mean"]
    log(f"replay exact: codes {exact_codes}, generator max |diff| {gen_diff:.2e}; logged last "
        f"epoch loss {res['logged_last_epoch_loss']}, replayed {res['replayed_last_epoch_loss']:.6f}")
    log(f"per image at its last visit: pre-step {m['pre_step']:.5f} -> post-step "
        f"{m['post_step']:.5f} -> end (G_T, train mode) {m['end_train_mode']:.5f} -> stored, "
        f"eval mode (MSE) {m['stored_eval_mode_mse_same_images']:.5f} ({res['images']} images "
        f"last visited in the replay; all {n}: {m['stored_eval_mode_mse']:.5f}); "
        f"re-inverted {m['reinverted_mse']}")
    log(f"drift vs steps since the last visit: slope {slope:.3e} per step, corr "
        f"{res['drift_vs_age']['corr']}; by decile of age: "
        + ", ".join(f"{b['age_from']}-{b['age_to']}: {b['drift']:+.5f}" for b in bins))
    return res
