"""One run, end to end: data -> model.fit -> evaluate -> results store.

Re-running a finished configuration is a no-op (unless force); an interrupted one resumes
from its last checkpoint; a diverged one is marked so and the next configuration goes on.

Under torch.distributed (``dist``, from `torchrun ... -m bench run`) every rank runs this
same function: rank 0 decodes the data first, takes the lock and alone writes the run
folder; every rank trains on its block and measures its block of the evaluated images.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.config import RunConfig, resolve, run_id
from bench.context import Diverged, RunContext
from bench.data import get_dataset, load_split
from bench.data.cache import CachedSplit
from bench.distributed import SINGLE, Dist
from bench.errors import BenchError
from bench.evaluate import eval_indices, image_grid, interleave, measure, spectrum
from bench.io import atomic_save_npy, atomic_write, atomic_write_json
from bench.model import TrainData
from bench.models import CODE_AT_IMPORT, build_model
from bench.store import RunDir


@dataclass
class RunResult:
    method: str
    path: Path
    state: str  # complete | diverged | failed | skipped (already complete)
    metrics: dict


def eval_split_name(splits: tuple[str, ...]) -> str:
    return "test" if "test" in splits else splits[-1]


def environment(device: str) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "platform": platform.platform(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "argv": sys.argv}
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
    return env


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    img = Image.fromarray(array)
    atomic_write(path, lambda f: img.save(f, format="PNG"))


@dataclass
class RunData:
    """A dataset's splits as the runs see them (decoded once into the cache, checksummed)."""

    name: str  # as asked for (a registry name or folder:PATH[@RES])
    dataset: Any
    train: CachedSplit
    test: CachedSplit
    held: CachedSplit | None

    @property
    def fingerprint(self) -> str:
        return self.train.fingerprint + ("" if self.held is None else "+" + self.held.fingerprint)


@dataclass
class Plan:
    """A configuration resolved against its data: what would run, and where it is stored."""

    data: RunData
    config: RunConfig
    code: dict
    run: RunDir


def load_run_data(dataset_name: str, *, data_root: Path, cache_dir: Path | None,
                  heldout: str | None = None, skip_corrupt: bool = False, log=print) -> RunData:
    """Load the splits (decoding them into the cache the first time)."""
    dataset = get_dataset(dataset_name)
    train = load_split(dataset, "train", data_root, cache_dir, skip_corrupt=skip_corrupt, log=log)
    test = load_split(dataset, eval_split_name(dataset.splits), data_root, cache_dir,
                      skip_corrupt=skip_corrupt, log=log)
    held: CachedSplit | None = None
    if heldout:
        hds = get_dataset(heldout)
        if (hds.resolution, hds.channels) != (dataset.resolution, dataset.channels):
            raise BenchError(f"held-out dataset {heldout} is {hds.channels}x{hds.resolution}px but "
                             f"{dataset_name} is {dataset.channels}x{dataset.resolution}px")
        held = load_split(hds, eval_split_name(hds.splits), data_root, cache_dir,
                          skip_corrupt=skip_corrupt, log=log)
    return RunData(dataset_name, dataset, train, test, held)


def plan_run(data: RunData, method: str, *, out: Path, seed: int = 0, device: str = "cpu",
             profile: str | None = None, epochs: int | None = None,
             batch_size: int | None = None, subset: int | None = None,
             precision: str | None = None, heldout: str | None = None,
             eval_train_n: int | None = -1, eval_test_n: int | None = -1,
             invert_steps: int | None = None, world_size: int = 1) -> Plan:
    """Resolve the config of ``method`` on ``data`` and name its run folder."""
    config = resolve(data.name, method, data.train.images.shape[0], data.dataset.resolution,
                     seed=seed, profile=profile, device=device, epochs=epochs,
                     batch_size=batch_size, subset=subset, precision=precision, heldout=heldout,
                     train_n=eval_train_n, test_n=eval_test_n, invert_steps=invert_steps,
                     world_size=world_size)
    code = CODE_AT_IMPORT
    run = run_dir(out, data.name, method, run_id(config, data.fingerprint, code))
    return Plan(data, config, code, run)


def run_method(dataset_name: str, method: str, *, data_root: Path, cache_dir: Path | None,
               out: Path, seed: int = 0, device: str = "cpu", profile: str | None = None,
               epochs: int | None = None, batch_size: int | None = None,
               subset: int | None = None, precision: str | None = None, force: bool = False,
               heldout: str | None = None, skip_corrupt: bool = False, quiet: bool = False,
               eval_train_n: int | None = -1, eval_test_n: int | None = -1,
               ckpt_interval_s: float = 0.0, invert_steps: int | None = None,
               log=print, dist: Dist = SINGLE) -> RunResult:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for but torch sees no CUDA device; "
                         "use --device cpu or install a CUDA build of torch")
    if not dist.is_main:
        log = _silent
        dist.barrier()  # rank 0 decodes into the cache first; the others then read it
    data = load_run_data(dataset_name, data_root=data_root, cache_dir=cache_dir,
                         heldout=heldout, skip_corrupt=skip_corrupt, log=log)
    plan = plan_run(data, method, out=out, seed=seed, device=device, profile=profile,
                    epochs=epochs, batch_size=batch_size, subset=subset, precision=precision,
                    heldout=heldout, eval_train_n=eval_train_n, eval_test_n=eval_test_n,
                    invert_steps=invert_steps, world_size=dist.world)
    if dist.is_main:
        dist.barrier()
    config, run = plan.config, plan.run
    if dist.broadcast_object(run.is_complete() and not force):
        log(f"{method}: already complete at {run.path} (use --force to redo)")
        import json

        return RunResult(method, run.path, "skipped",
                         json.loads((run.path / "metrics.json").read_text()))
    try:
        if dist.is_main:
            run.acquire(log=log)
        ctx = RunContext(run.path, device=dist.device(device), seed=seed, precision=config.precision,
                         quiet=quiet, ckpt_min_interval_s=ckpt_interval_s, dist=dist)
    except OSError as e:
        raise BenchError(f"cannot write the run directory {run.path}: {e.strerror or e}; "
                         f"choose a writable --out") from None
    try:
        if force and run.is_complete() and dist.is_main:
            (run.path / "metrics.json").unlink()
            for p in (run.path / "ckpt").glob("*"):
                p.unlink()
        dist.barrier()  # the others read checkpoints only once rank 0 has cleaned up
        return _execute(config, run, ctx, data.dataset, data.train, data.test, data.held,
                        data.fingerprint, plan.code)
    except OSError as e:  # unwritable or full --out, wherever in the run it struck
        with contextlib.suppress(OSError):
            if not run.is_complete():
                (run.path / "metrics.json").unlink(missing_ok=True)
                run.set_status("failed", error=f"OSError: {e}")
        raise BenchError(f"cannot write results at {e.filename or run.path}: {e.strerror or e}; "
                         f"free space or choose another --out (this run is not marked "
                         f"complete)") from None
    finally:
        ctx.close()
        if dist.is_main:
            run.release()


def _silent(_msg: str) -> None:
    pass


def run_dir(out: Path, dataset_name: str, method: str, rid: str) -> RunDir:
    return RunDir(Path(out) / dataset_name.replace("/", "_").replace(":", "_") / f"{method}-{rid}")


def _execute(config: RunConfig, run: RunDir, ctx: RunContext, dataset, train: CachedSplit,
             test: CachedSplit, held: CachedSplit | None, fingerprint: str,
             code: dict) -> RunResult:
    images = train.images if config.subset is None else train.images[: config.subset]
    dist = ctx.dist
    if dist.is_main:
        _write_config(config, run, dataset, train, test, images, fingerprint, code, dist)
    ctx.log(f"run {run.path.name}: {config.method} on {config.dataset} ({images.shape[0]} train "
            f"images), {config.summary()}, profile {config.profile}, device {config.device}"
            + (f", {dist.world} processes ({dist.backend})" if dist.enabled else ""))
    for note in config.notes:
        ctx.log(f"note: {note}")
    torch.manual_seed(config.seed)
    model = build_model(config, tuple(images.shape[1:]), device=str(ctx.device))
    t0 = time.time()
    try:
        model.fit(TrainData.from_array(images, ctx.device), ctx)
        fit_s = time.time() - t0
        ctx.log(f"fit done in {fit_s:.1f}s; evaluating")
        metrics = evaluate_run(model, config, images, test, held, run.path, ctx)
    except Diverged as e:
        ctx.log(f"DIVERGED: {e}")
        if dist.is_main:
            run.set_status("diverged", step=e.step, loss=str(e.loss), last_finite_loss=e.last_finite)
        return RunResult(config.method, run.path, "diverged", {})
    except (KeyboardInterrupt, SystemExit):
        if dist.is_main:
            run.set_status("failed", error="interrupted")
        raise
    except OSError:
        raise  # run_method turns it into one clear line
    except Exception as e:
        ctx.log("FAILED:\n" + traceback.format_exc())
        if dist.is_main:
            run.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    metrics["timing"] = {"fit_s": round(fit_s, 2), "eval_s": round(time.time() - t0 - fit_s, 2),
                         "total_s": round(time.time() - t0, 2)}
    metrics["curves_final"] = ctx.curves[-1] if ctx.curves else {}
    if dist.is_main:
        atomic_write(run.path / "model.pt", lambda f: torch.save(model.state_dict(), f))
        atomic_write_json(run.path / "metrics.json", metrics)  # before the status says complete
        run.set_status("complete", fit_s=metrics["timing"]["fit_s"])
    ctx.log(f"complete: train MSE {metrics['train']['mse']:.5f}, test MSE "
            f"{metrics['test']['mse']:.5f} ([-1, 1] pixels) in {metrics['timing']['total_s']}s")
    return RunResult(config.method, run.path, "complete", metrics)


def _write_config(config: RunConfig, run: RunDir, dataset, train: CachedSplit, test: CachedSplit,
                  images, fingerprint: str, code: dict, dist: Dist) -> None:
    atomic_write_json(run.path / "config.json", {
        "config": config.to_dict(), "run_id": run.path.name, "code": code,
        "data": {"fingerprint": fingerprint, "dataset": dataset.describe(),
                 "train": {k: train.manifest[k] for k in ("count", "crop", "fingerprint_method")},
                 "train_used": int(images.shape[0]), "test_count": int(test.images.shape[0]),
                 "skipped_corrupt": len(train.manifest.get("skipped", []))},
        "environment": {**environment(config.device),
                        "distributed": {"world_size": dist.world, "backend": dist.backend}},
        "units": "pixels scaled to [-1, 1]; MSE = mean squared error per pixel; Lap1 = "
                 "sum_j weight_base^j * |L_j diff|_1 (level_norm, see metrics.json 'lap')",
    })
    run.set_status("running", pid=os.getpid())


def evaluate_run(model, config: RunConfig, train_images, test: CachedSplit,
                 held: CachedSplit | None, path: Path, ctx: RunContext) -> dict:
    ev = config.eval
    parts = {"train": (train_images, ev.train_n, True), "test": (test.images, ev.test_n, False)}
    if held is not None:
        parts["heldout"] = (held.images, ev.heldout_n, False)
    size = int(train_images.shape[-1])
    metrics: dict = {"units": "[-1, 1] pixel range",
                     "lap": {**ev.lap.to_dict(), "levels_resolved": ev.lap.resolved_levels(size)}}
    per_image: dict[str, np.ndarray] = {}
    results = {}
    for name, (imgs, limit, is_train) in parts.items():
        t = time.time()
        idx = eval_indices(imgs.shape[0], limit)
        res = measure(model, imgs, idx, ev.lap, train=is_train, dist=ctx.dist)
        results[name] = res
        metrics[name] = {**res.summary(), "seconds": round(time.time() - t, 2)}
        per_image.update({f"{name}_index": idx, f"{name}_mse": res.mse, f"{name}_lap1": res.lap1})
        ctx.log(f"{name}: MSE {metrics[name]['mse']:.5f}, Lap1 {metrics[name]['lap1']:.5f} "
                f"on {idx.size} images ({metrics[name]['seconds']}s)")
        if ctx.dist.is_main:
            _save_png(path / "grids" / f"recon_{name}.png",
                      image_grid(interleave(res.originals, res.recons)))
    if held is not None:
        metrics["heldout"]["dataset"] = ev.heldout
    z = results["train"].codes
    metrics["spectrum"] = spectrum(z)
    if ctx.dist.is_main:
        atomic_save_npy(path / "z.npy", z.numpy())
        atomic_write(path / "per_image.npz", lambda f: np.savez(f, **per_image))
        samples = model.sample(ev.n_samples, torch.Generator().manual_seed(config.seed))
        _save_png(path / "grids" / "samples.png", image_grid([samples.cpu()], nrow=8))
    return metrics
