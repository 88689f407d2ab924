"""Executing one run: plan -> model.fit -> evaluate -> artifacts in the results store.

Re-running a finished configuration is a no-op (unless the spec says force); an interrupted
one resumes from its last checkpoint; a diverged one is marked so and the next configuration
goes on.

Under torch.distributed (``dist``, from `torchrun ... -m bench run`) every rank runs this
same function: rank 0 decodes the data first, takes the lock and alone writes the run
folder; every rank trains on its block and measures its block of the evaluated images.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.config.resolve import SHORTHANDS
from bench.config.spec import RunSpec
from bench.core.context import Diverged, RunContext
from bench.core.model import TrainData
from bench.data import default_cache_dir
from bench.eval.evaluate import evaluate_run
from bench.eval.fidelity import WEIGHTS_FILE, FidelityJob, missing_hint
from bench.eval.journal import EvalJournal
from bench.runs import artifacts
from bench.runs.plan import Plan, RunData, load_run_data, plan_run
from bench.runs.registry import build_model
from bench.runs.reuse import adopt_training, adopted_from, adopted_seconds
from bench.runtime.distributed import SINGLE, Dist
from bench.runtime.errors import BenchError

FIND = "find"  # run_method's default: look for the Inception weights itself


@dataclass
class RunResult:
    method: str
    path: Path
    state: str  # complete | diverged | skipped (already complete); failures raise
    metrics: dict


def run_method(spec: RunSpec, method: str, *, data: RunData | None = None, log=print,
               dist: Dist = SINGLE, fidelity: FidelityJob | None | str = FIND) -> RunResult:
    """Run ``method`` as ``spec`` says (``data``: splits already loaded for the spec;
    ``fidelity``: the sample-quality measurement, None for none, FIND to look for it)."""
    if spec.device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for but torch sees no CUDA device; "
                         "use --device cpu or install a CUDA build of torch")
    if not dist.is_main:
        log = _silent
    if data is None:
        data = load_run_data(spec, log=log, dist=dist)
    plan = plan_run(data, spec, method, world_size=dist.world)
    run = plan.run
    if dist.broadcast_object(run.is_complete() and not spec.force):
        log(f"{method}: already complete at {run.path} (use --force to redo)")
        return RunResult(method, run.path, "skipped",
                         json.loads((run.path / "metrics.json").read_text()))
    try:
        if dist.is_main:
            run.acquire(log=log)
        ctx = RunContext(run.path, device=dist.device(spec.device), seed=spec.seed,
                         precision=plan.config.precision, quiet=spec.quiet,
                         ckpt_min_interval_s=spec.ckpt_interval_s, keep_every=spec.keep_every,
                         dist=dist)
    except OSError as e:
        raise BenchError(f"cannot write the run directory {run.path}: {e.strerror or e}; "
                         f"choose a writable --out") from None
    try:
        if spec.force and run.is_complete() and dist.is_main:
            (run.path / "metrics.json").unlink()
            for p in (run.path / "ckpt").glob("*"):
                p.unlink()
            EvalJournal.remove(run.path)
        dist.barrier()  # the others read checkpoints only once rank 0 has cleaned up
        if fidelity == FIND:
            fidelity = find_fidelity(spec, log) if dist.is_main else None
        applied = {o.partition("=")[0] for o in plan.config.overrides}
        for a in spec.overrides.sets:
            if a.key not in applied and a.key not in SHORTHANDS:
                ctx.log(f"note: --set {a} does not apply to {method} (no such setting); ignored")
        return _execute(plan, ctx, fidelity, reuse_training=not spec.force)
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


def find_fidelity(spec: RunSpec, log=print) -> FidelityJob | None:
    """The sample-quality measurement, when the Inception weights are found; else None, and
    one line saying which file to put where (a caller running several methods asks once)."""
    job = FidelityJob.find(spec.fid_weights, (spec.cache_dir or default_cache_dir()) / "fidelity")
    line = None
    if job is None:
        line = missing_hint()
    elif not job.extractor.standard:
        line = (f"note: {job.extractor.path} is not torch-fidelity's {WEIGHTS_FILE} (SHA-256 "
            f"{job.extractor.sha256[:16]}...): its FIDs are not comparable with published ones")
    if line is not None:
        log(line)
    return job


def _execute(plan: Plan, ctx: RunContext, fidelity: FidelityJob | None = None,
             reuse_training: bool = True) -> RunResult:
    config, run, data = plan.config, plan.run, plan.data
    images = data.train.images if config.subset is None else data.train.images[: config.subset]
    dist = ctx.dist
    if dist.is_main:
        artifacts.write_config(run, config, data, int(images.shape[0]), plan.code, dist)
    ctx.log(f"run {run.path.name}: {config.method} on {config.dataset} ({images.shape[0]} train "
            f"images), {config.summary()}, profile {config.profile}, device {config.device}"
            + (f", {dist.world} processes ({dist.backend})" if dist.enabled else ""))
    for note in config.notes:
        ctx.log(f"note: {note}")
    if config.overrides:
        ctx.log(f"--set: {', '.join(config.overrides)}")
    reused = None
    if reuse_training and dist.is_main:
        src = adopt_training(run.path)
        reused = adopted_from(run.path)
        if src is not None:
            ctx.log(f"training reused from {src.name}: same training settings, code and data "
                    f"(only evaluation settings or a shorter budget differ); its final "
                    f"checkpoint is resumed")
    reused = dist.broadcast_object(reused)
    torch.manual_seed(config.seed)
    model = build_model(config, tuple(images.shape[1:]), device=str(ctx.device))
    t0 = time.time()
    ctx.start_fit()
    try:
        model.fit(TrainData.from_array(images, ctx.device), ctx)
        fit_s = ctx.fit_seconds()
        # a resumed run's training also ran in earlier processes (up to the checkpoint it
        # resumed); an adopted sibling's training is the sibling's, not this run's
        earlier = ctx.fit_s_earlier if reused is None else 0.0
        ctx.log(f"fit done in {fit_s:.1f}s" + (f" (+{earlier:.1f}s in earlier processes of this "
                                               f"run)" if earlier else "") + "; evaluating")
        ev = evaluate_run(model, config, images, data.test.images,
                          None if data.held is None else data.held.images, ctx, fidelity)
        if dist.is_main:
            artifacts.write_evaluation(run.path, ev)
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
    metrics = ev.metrics
    # an evaluation resumed from the journal also ran in the process that was interrupted
    eval_s = time.time() - t0 - fit_s + ev.resumed_s
    metrics["timing"] = {"fit_s": round(earlier + fit_s, 2), "eval_s": round(eval_s, 2),
                         "total_s": round(earlier + fit_s + eval_s, 2)}
    if earlier:
        metrics["timing"]["fit_s_earlier_processes"] = round(earlier, 2)
    if ev.resumed_s:
        metrics["timing"]["eval_s_earlier_processes"] = round(ev.resumed_s, 2)
    if reused is not None:
        metrics["timing"]["training_reused_from"] = reused
        reused_s = adopted_seconds(run.path) if dist.is_main else None
        if reused_s is not None:  # not in fit_s: the sibling's training, not this run's
            metrics["timing"]["training_reused_s"] = round(reused_s, 2)
    metrics["curves_final"] = ctx.curves[-1] if ctx.curves else {}
    if dist.is_main:
        artifacts.write_result(run, model.state_dict(), metrics)  # status complete comes last
        EvalJournal.remove(run.path)
    ctx.log(f"complete: train MSE {metrics['train']['mse']:.5f}, test MSE "
            f"{metrics['test']['mse']:.5f} ([-1, 1] pixels) in {metrics['timing']['total_s']}s")
    return RunResult(config.method, run.path, "complete", metrics)
