"""`bench run`, `bench keys`, `bench status`: one typed request (RunSpec) built from the flags,
then handed to bench.api."""

from __future__ import annotations

from pathlib import Path

import click

from bench import api
from bench.cli.common import CACHE_DIR, DATA_ROOT
from bench.config.families import METHODS
from bench.config.overrides import describe_keys
from bench.config.resolve import resolve
from bench.config.spec import ClusterSettings, RunSpec
from bench.data import get_dataset as ds
from bench.report.tables import terminal_table
from bench.runs.launch import parse_minutes, status_rows
from bench.runtime.errors import BenchError


# -------------------------------------------------------------------------------- runs
@click.command("run")
@click.option("--dataset", required=True, help="A name from `bench data list`, or folder:PATH[@RES].")
@click.option("--model", "methods", multiple=True, type=click.Choice(tuple(METHODS)),
              help="A Table-1 method, or one of an installed family (repeatable).")
@click.option("--all", "run_all", is_flag=True, help="All nine Table-1 methods.")
@DATA_ROOT
@CACHE_DIR
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--profile", type=click.Choice(["cpu", "paper"]), default=None,
              help="Settings scale (default: paper on cuda, cpu on cpu).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs to train (default: the profile's).")
@click.option("--steps", type=click.IntRange(min=0), default=None,
              help="A budget of optimiser steps (GAN: generator steps) for GLO, the GAN and the "
                   "VAE; the epochs follow, the last one partial. Default: 31,800 (the paper's) "
                   "in the paper profile, none in the cpu profile; 0: train by epochs.")
@click.option("--batch-size", type=int, default=None)
@click.option("--subset", type=int, default=None, help="Use the first N training images.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default=None)
@click.option("--heldout", default=None, help="Also reconstruct this dataset's test split (e.g. lfw64).")
@click.option("--eval-train-n", type=click.IntRange(min=0), default=None,
              help="Training images measured (default: the profile's; 0: all).")
@click.option("--eval-test-n", type=click.IntRange(min=0), default=None,
              help="Test images measured (default: the profile's; 0: all).")
@click.option("--fid-n", "eval_fid_n", type=click.IntRange(min=0), default=None,
              help="Samples (and test images) for FID/KID/precision-recall; 0 = as many as "
                   "the test split (default: the profile's).")
@click.option("--fid-weights", type=click.Path(path_type=Path), default=None,
              help="torch-fidelity's Inception weights file (else $BENCH_FID_WEIGHTS, else its "
                   "cache); without it no sample-quality number is computed.")
@click.option("--invert-steps", type=int, default=None, help="Inversion steps (GAN, GLO held-out).")
@click.option("--lap1", type=click.Choice(["equal", "paper"]), default=None,
              help="Which Lap1 the Lap1 rows train / invert with and every row is measured "
                   "with (default: equal, each level's mean with equal weight; paper: the "
                   "paper's fine-weighted pyramid + l2; see docs/lap1.md).")
@click.option("--plateau", type=click.FloatRange(min=0), default=None,
              help="GLO/VAE: stop once the epoch loss improves by less than this fraction "
                   "(e.g. 0.01) two epochs in a row; --epochs is then the most it trains. "
                   "Default: 0.01 in the cpu profile (0 in the paper's); 0 turns it off.")
@click.option("--ckpt-interval", "ckpt_interval_s", type=float, default=0.0, show_default=True,
              help="Seconds between checkpoints (0: every epoch); the last epoch always saves.")
@click.option("--keep-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also keep every Nth epoch's checkpoint as ckpt/epochE.pt (E as logged, from "
                   "0): e.g. a GAN's reconstruction MSE over training with `bench eval-cost` "
                   "--checkpoint. 0: only the last two are kept.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any settings field, e.g. --set lr_z=30 --set ngf=16 --set invert.steps=300 "
                   "--set loss.lap.weight_base=2 --set eval.train_n=500 (repeatable; `bench keys` "
                   "lists them). Applied to the methods that have the key; recorded in "
                   "config.json and the run id.")
@click.option("--force", is_flag=True, help="Redo a complete run.")
@click.option("--skip-corrupt", is_flag=True)
@click.option("--quiet", is_flag=True)
@click.option("--launcher", type=click.Choice(["none", "local", "slurm"]), default="none",
              show_default=True, help="Run here (none), or one submitit job per configuration: "
              "slurm (a job array) or local (submitit's local executor).")
@click.option("--partition", default=None, help="Slurm partition.")
@click.option("--gpus-per-job", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes per job, one GPU each on cuda (torch.distributed); gloo processes on cpu.")
@click.option("--time", "time_limit", default="24:00:00", show_default=True,
              help="Per-job time limit: minutes, or H:MM[:SS].")
@click.option("--cpus-per-task", type=int, default=None, help="Slurm CPUs per task.")
@click.option("--mem-gb", type=float, default=None, help="Memory per job (GB).")
@click.option("--wait/--no-wait", default=None,
              help="Wait for the jobs (default: wait with local, return at once with slurm).")
def run_cmd(methods, run_all, launcher, partition, gpus_per_job, time_limit, cpus_per_task, mem_gb,
            wait, **flags) -> None:
    """Train, evaluate and store one or more Table-1 methods on a dataset."""
    if not run_all and not methods:
        raise BenchError("say which: --model METHOD (repeatable) or --all")
    cluster = None if launcher == "none" else ClusterSettings(
        launcher, partition, gpus_per_job, parse_minutes(time_limit), cpus_per_task, mem_gb)
    spec = api.request(flags.pop("dataset"), "all" if run_all else methods, cluster=cluster,
                       log=click.echo, **flags)
    if cluster is not None:
        _launch(spec, wait if wait is not None else launcher == "local")
        return
    several = len(spec.methods) > 1
    results = api.run(spec, log=click.echo,
                      on_result=(lambda r: click.echo(_result_line(r))) if several else None)
    if not results:  # a rank other than 0 under torchrun
        return
    if any(r.state == "diverged" for r in results):
        click.echo("some runs diverged: see their status.json", err=True)
    if run_all:
        click.echo(f"\nTable 1 on {spec.dataset} (train MSE, [-1, 1] pixels; `bench report` "
                   f"writes the full report):")
        click.echo(terminal_table(spec.dataset, spec.out))
    elif len(results) == 1:
        click.echo(_result_line(results[0]))


def _result_line(r) -> str:
    """One line per finished configuration: state, train and test MSE, where it is stored."""
    def fmt(v) -> str:
        return f"{v:.5f}" if isinstance(v, float) else "-"

    m = r.metrics
    took = m.get("timing", {}).get("total_s")
    return (f"{r.method:<17} {r.state:<9} train MSE {fmt(m.get('train', {}).get('mse')):>8}  "
            f"test MSE {fmt(m.get('test', {}).get('mse')):>8}  "
            f"{'' if took is None else f'{took:.0f}s  '}{r.path}")


def _launch(spec, wait: bool) -> None:
    """Plan every configuration here, then submit one job per configuration not complete in
    the store (bench.api.launch)."""
    records = api.launch(spec, wait, log=click.echo)
    if not records:
        click.echo("nothing to submit: every configuration is complete (use --force to redo)")
        return
    if not wait:
        click.echo(f"submitted {len(records)} job(s); follow them with `bench status --runs "
                   f"{spec.out}`, then `bench report --runs {spec.out}`")
        return
    failed = [r for r in records if r["state"] == "failed"]
    if failed:
        raise BenchError(f"{len(failed)} job(s) failed ({', '.join(r['method'] for r in failed)}): "
                         f"see `bench status --runs {spec.out}`; run the same command "
                         f"again to re-submit them (they resume from their checkpoints)")


@click.command("keys")
@click.option("--model", "method", type=click.Choice(tuple(METHODS)), default="glo-lap1-pca",
              show_default=True, help="Whose keys and values to show.")
@click.option("--dataset", default="celeba64", show_default=True,
              help="The values shown are the ones a run on this dataset resolves to.")
@click.option("--profile", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True)
@click.option("--n-train", type=int, default=10_000, show_default=True,
              help="Training images assumed (small datasets change d and the epochs).")
def keys_cmd(method: str, dataset: str, profile: str, n_train: int) -> None:
    """Every key `--set` accepts for a method, its type and its resolved value."""

    cfg = resolve(RunSpec(dataset, profile=profile), method, n_train, ds(dataset).resolution)
    click.echo(f"{'key':<28} {'type':<40} value ({method}, {dataset}, {profile} profile)")
    for line in describe_keys(cfg.family, cfg.model, cfg.eval):
        click.echo(line)


@click.command("status")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--dataset", default=None, help="Only this dataset's jobs.")
def status_cmd(runs_dir: Path, dataset: str | None) -> None:
    """Each submitted job's state (scheduler and run store), progress and error."""

    rows = status_rows(runs_dir, dataset)
    if not rows:
        click.echo(f"no submitted jobs under {runs_dir} (`bench runs` lists runs made here)")
        return
    click.echo(f"{'dataset':<12} {'method':<17} {'job':<14} {'job state':<17} {'run state':<12} "
               f"{'progress':<18} {'train MSE':>9}  error")
    for r in rows:
        mse = f"{r['train_mse']:.5f}" if isinstance(r["train_mse"], float) else "-"
        click.echo(f"{r['dataset']:<12} {r['method']:<17} {r['job']:<14} {r['job_state']:<17} "
                   f"{r['run_state']:<12} {r['progress']:<18} {mse:>9}  {r['error']}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["run_state"]] = counts.get(r["run_state"], 0) + 1
    click.echo(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
