"""The `bench` command line.

bench data list|prepare|verify   datasets: where found, decode into the cache, check it
bench run                        train, evaluate and store Table-1 methods (here or as jobs)
bench status                     submitted jobs: scheduler state, run state, progress
bench keys                       every `--set KEY=VALUE` key of a method, its type and value
bench sweep run|report           a grid of --set values x methods x seeds, its table and plot
bench curves / bench times       a store's training curves / wall time per configuration
bench runs                       the run store as a table
bench report                     Table 1, Figure 1 and the grids beside the paper's numbers
bench regress                    the CI regression check against the committed reference
bench perf                       speed benchmarks, each side by side with the plain way
bench fid fetch|status           the Inception weights for FID/KID: how to get them, where found
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.config import TABLE1_METHODS
from bench.data import REGISTRY, default_cache_dir, default_data_root, get_dataset, load_split
from bench.distributed import Dist
from bench.errors import BenchError
from bench.perf import BENCHMARKS as PERF_BENCHMARKS

DATA_ROOT = click.option("--data-root", type=click.Path(path_type=Path), default=None,
                         help="Folder holding celeba/, lfw/, lsun/ (default: $BENCH_DATA, else ./data).")
CACHE_DIR = click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
                         help="Decoded-image cache (default: $BENCH_CACHE, else ~/.cache/glo-bench).")


def _root(data_root: Path | None) -> Path:
    return data_root if data_root is not None else default_data_root()


class Group(click.Group):
    """Turns BenchError into one line on stderr and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BenchError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=Group)
@click.version_option(package_name="glo-bench")
def main() -> None:
    """glo-bench: PCA, DCGAN, VAE and GLO on the same data and metrics (GLO paper, Table 1)."""


# ------------------------------------------------------------------------------- data
@main.group(cls=Group)
def data() -> None:
    """Datasets: list, decode into the cache, verify."""


@data.command("list")
@DATA_ROOT
def data_list(data_root: Path | None) -> None:
    """Every named dataset: resolution, channels, whether it was found and where."""
    root = _root(data_root)
    click.echo(f"{'name':<14} {'res':>4} {'ch':>3}  {'found':<5}  where / expected layout")
    for ds in REGISTRY.values():
        try:
            where, ok = ds.locate(root), True
        except BenchError:
            where, ok = ds.layout(root), False
        click.echo(f"{ds.name:<14} {ds.resolution:>4} {ds.channels:>3}  {'yes' if ok else 'no':<5}  {where}")
    click.echo(f"{'folder:PATH':<14} {'64':>4} {'3':>3}  {'-':<5}  any image folder (folder:PATH@RES)")
    click.echo(f"data root: {root.resolve()}  cache: {default_cache_dir()}")


def _load_all(name: str, data_root, cache_dir, skip_corrupt: bool, rebuild: bool = False):
    ds = get_dataset(name)
    return ds, {s: load_split(ds, s, _root(data_root), cache_dir, skip_corrupt=skip_corrupt,
                              rebuild=rebuild, log=lambda m: click.echo(m, err=True))
                for s in ds.splits}


@data.command("prepare")
@click.argument("name")
@DATA_ROOT
@CACHE_DIR
@click.option("--skip-corrupt", is_flag=True, help="Skip unreadable images (counted in the manifest).")
@click.option("--rebuild", is_flag=True, help="Decode again even if a valid cache exists.")
def data_prepare(name, data_root, cache_dir, skip_corrupt, rebuild) -> None:
    """Decode a dataset's splits once into the uint8 cache."""
    _ds, splits = _load_all(name, data_root, cache_dir, skip_corrupt, rebuild)
    for split, c in splits.items():
        click.echo(f"{name}/{split}: {c.images.shape[0]} images {tuple(c.images.shape[1:])} -> {c.path}")


@data.command("verify")
@click.argument("name")
@DATA_ROOT
@CACHE_DIR
@click.option("--skip-corrupt", is_flag=True)
def data_verify(name, data_root, cache_dir, skip_corrupt) -> None:
    """Count per split, fingerprint, unreadable files, cache checksum."""
    from bench.data import verify_split

    ds, splits = _load_all(name, data_root, cache_dir, skip_corrupt)
    click.echo(f"{name}: {ds.describe()['crop']}")
    bad = False
    for split, c in splits.items():
        ok = verify_split(c)
        bad |= not ok
        click.echo(f"  {split:<6} {c.images.shape[0]:>7} images  fingerprint {c.fingerprint[:16]}  "
                   f"unreadable {len(c.manifest.get('skipped', []))}  cache checksum "
                   f"{'ok' if ok else 'MISMATCH'}")
        for s in c.manifest.get("skipped", [])[:5]:
            click.echo(f"    skipped {s['name']}: {s['error']}")
    if bad:
        raise BenchError(f"cache of {name} does not match its checksum: run "
                         f"`bench data prepare {name} --rebuild`")


@data.command("probe-crops")
@DATA_ROOT
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs/preprocessing"),
              show_default=True, help="Base path: writes OUT.json and OUT.png (mean faces).")
@click.option("--size", "sizes", type=int, multiple=True, help="Resolutions (default 64, 128).")
def data_probe_crops(data_root, out, sizes) -> None:
    """PCA's train MSE on CelebA under each candidate crop / resize rule, at 64 and 128 px,
    beside the paper's PCA row (which preparation did the paper use?)."""
    from bench.preprocess import probe

    probe(_root(data_root), out, tuple(sizes) or (64, 128), log=click.echo)


# -------------------------------------------------------------------------------- runs
@main.command("run")
@click.option("--dataset", required=True, help="A name from `bench data list`, or folder:PATH[@RES].")
@click.option("--model", "methods", multiple=True, type=click.Choice(TABLE1_METHODS),
              help="A Table-1 method (repeatable).")
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
@click.option("--ckpt-interval", type=float, default=0.0, show_default=True,
              help="Seconds between checkpoints (0: every epoch); the last epoch always saves.")
@click.option("--keep-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also keep every Nth epoch's checkpoint as ckpt/epochE.pt (E as logged, from "
                   "0): e.g. a GAN's reconstruction MSE over training with scripts/eval_cost.py "
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
def run_cmd(dataset, methods, run_all, data_root, cache_dir, out, seed, device, profile, epochs,
            steps, batch_size, subset, precision, heldout, eval_train_n, eval_test_n, eval_fid_n,
            fid_weights, invert_steps,
            lap1, plateau, ckpt_interval, keep_every, sets, force, skip_corrupt, quiet, launcher, partition,
            gpus_per_job, time_limit, cpus_per_task, mem_gb, wait) -> None:
    """Train, evaluate and store one or more Table-1 methods on a dataset."""
    from bench.overrides import parse_assignments, validate
    from bench.spec import ClusterSettings, Overrides, RunSpec

    chosen = tuple(TABLE1_METHODS) if run_all else tuple(methods)
    if not chosen:
        raise BenchError("say which: --model METHOD (repeatable) or --all")
    assignments = parse_assignments(sets)
    for key, skipped in validate(assignments, chosen).items():
        if skipped:
            click.echo(f"note: --set {key} applies to "
                       f"{', '.join(m for m in chosen if m not in skipped)} only; "
                       f"{', '.join(skipped)} ignore it")
    cluster = None
    if launcher != "none":
        from bench.launch import parse_minutes

        cluster = ClusterSettings(launcher, partition, gpus_per_job, parse_minutes(time_limit),
                                  cpus_per_task, mem_gb)
    spec = RunSpec(dataset=dataset, methods=chosen, data_root=_root(data_root), cache_dir=cache_dir,
                   out=out, seed=seed, device=device, profile=profile, precision=precision,
                   overrides=Overrides(epochs=epochs, steps=steps, batch_size=batch_size, subset=subset,
                                       invert_steps=invert_steps, plateau=plateau, lap1=lap1,
                                       sets=assignments),
                   eval_train_n=eval_train_n, eval_test_n=eval_test_n, heldout=heldout,
                   eval_fid_n=eval_fid_n, fid_weights=fid_weights,
                   skip_corrupt=skip_corrupt, force=force, quiet=quiet,
                   ckpt_interval_s=ckpt_interval, keep_every=keep_every, cluster=cluster)
    if cluster is not None:
        _launch(spec, wait if wait is not None else launcher == "local")
        return
    _run_here(spec, run_all)


def _run_here(spec, run_all: bool) -> None:
    """Every method of the spec in this process (one rank of several under torchrun)."""
    from bench.plan import load_run_data
    from bench.runner import find_fidelity, run_method

    results = []
    # torchrun / a multi-task submitit job: one rank of several
    with Dist.from_env(spec.device) as dist:
        log = click.echo if dist.is_main else (lambda _m: None)
        data = load_run_data(spec, log=log, dist=dist)
        fidelity = find_fidelity(spec, log) if dist.is_main else None
        for method in spec.methods:
            res = run_method(spec, method, data=data, dist=dist, log=log, fidelity=fidelity)
            results.append(res)
            if dist.is_main and len(spec.methods) > 1:
                click.echo(_result_line(res))
    if not dist.is_main:
        return
    if any(r.state == "diverged" for r in results):
        click.echo("some runs diverged: see their status.json", err=True)
    if run_all:
        from bench.report import terminal_table

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
    """Plan every configuration here (data decoded once, run ids known), then submit one job
    per configuration not complete in the store."""
    from bench.launch import submit
    from bench.launch import wait as wait_for
    from bench.plan import load_run_data, plan_run

    spec = spec.absolute()
    data = load_run_data(spec, log=lambda m: click.echo(m, err=True))
    planned = {m: plan_run(data, spec, m, world_size=spec.cluster.gpus_per_job).run
               for m in spec.methods}
    records = submit(spec, planned, log=click.echo)
    if not records:
        click.echo("nothing to submit: every configuration is complete (use --force to redo)")
        return
    if not wait:
        click.echo(f"submitted {len(records)} job(s); follow them with `bench status --runs "
                   f"{spec.out}`, then `bench report --runs {spec.out}`")
        return
    results = wait_for(records, log=click.echo)
    failed = [r for r in results if r["state"] == "failed"]
    if failed:
        raise BenchError(f"{len(failed)} job(s) failed ({', '.join(r['method'] for r in failed)}): "
                         f"see `bench status --runs {spec.out}`; run the same command "
                         f"again to re-submit them (they resume from their checkpoints)")


# ------------------------------------------------------------------------------- sweeps
def _sweep_options(f):
    for opt in reversed([
        click.argument("spec_file", required=False, type=click.Path(path_type=Path)),
        click.option("--dataset", default=None, help="Without SPEC_FILE: the dataset."),
        click.option("--model", "methods", multiple=True, type=click.Choice(TABLE1_METHODS),
                     help="Without SPEC_FILE: a method (repeatable)."),
        click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2,...",
                     help="Without SPEC_FILE: a swept key and its values (repeatable; the "
                          "product is run)."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Without SPEC_FILE: a setting of every point."),
        click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds."),
        click.option("--out", type=click.Path(path_type=Path), default=Path("runs/sweeps"),
                     show_default=True, help="Without SPEC_FILE: the run store."),
        click.option("--report-dir", type=click.Path(path_type=Path), default=None,
                     help="Without SPEC_FILE: where the table and plot go "
                          "(default: reports/sweeps/NAME)."),
        click.option("--name", default=None, help="Without SPEC_FILE: the sweep's name."),
        click.option("--metric", default="train_mse", show_default=True,
                     help="Without SPEC_FILE: the plotted metric (train_mse, test_mse, "
                          "train_lap1, codes.reinverted_mse, fit_s, flatness, ...)."),
        click.option("--x", "x", default=None, help="Without SPEC_FILE: the plot's x key."),
        DATA_ROOT, CACHE_DIR,
        click.option("--profile", type=click.Choice(["cpu", "paper"]), default=None),
        click.option("--eval-train-n", type=click.IntRange(min=0), default=None),
        click.option("--eval-test-n", type=click.IntRange(min=0), default=None),
    ]):
        f = opt(f)
    return f


def _sweep_spec(spec_file, dataset, methods, grid, sets, seeds, out, report_dir, name, metric,
                x, data_root, cache_dir, profile, eval_train_n, eval_test_n):
    from bench.overrides import parse_assignments
    from bench.sweep import load_spec, parse_grid, spec_from_flags

    if spec_file is not None:
        if dataset or methods or grid or sets:
            raise BenchError("give a SPEC_FILE or --dataset/--model/--grid/--set, not both")
        spec = load_spec(spec_file)
        if data_root is not None or cache_dir is not None:  # where the data is on this machine
            from dataclasses import replace

            run = dict(spec.run)
            run.update({k: str(v) for k, v in (("data_root", data_root), ("cache_dir", cache_dir))
                        if v is not None})
            spec = replace(spec, run=run)
        return spec
    if not dataset or not methods or not grid:
        raise BenchError("say what to sweep: a SPEC_FILE (TOML), or --dataset, --model and "
                         "--grid KEY=V1,V2,...")
    name = name or "-".join(parse_grid(grid))
    return spec_from_flags(name, dataset, methods, [int(s) for s in seeds.split(",")], out,
                           report_dir or Path("reports/sweeps") / name, parse_assignments(sets),
                           parse_grid(grid), metric, x,
                           {"data_root": data_root or _root(None), "cache_dir": cache_dir,
                            "profile": profile, "eval_train_n": eval_train_n,
                            "eval_test_n": eval_test_n})


@main.group(cls=Group)
def sweep() -> None:
    """A grid of --set values x methods x seeds: run it into one store, table and plot it."""


@sweep.command("run")
@_sweep_options
@click.option("--dry-run", is_flag=True, help="Say what would run; run nothing.")
def sweep_run(dry_run, **kw) -> None:
    """Run every grid point not complete in the store (resuming interrupted ones), then write
    the table and the plot. SPEC_FILE: a TOML sweep spec (bench/sweep.py documents it)."""
    from bench.sweep import describe, run_sweep, write_sweep_report

    spec = _sweep_spec(**kw)
    click.echo(describe(spec))
    if dry_run:
        for p in spec.expand():
            click.echo(f"  {p.label}: " + " ".join(f"--set {a}" for a in p.assignments))
        return
    run_sweep(spec, log=click.echo)
    write_sweep_report(spec, log=click.echo)


@sweep.command("report")
@_sweep_options
def sweep_report(**kw) -> None:
    """Write the sweep's table (markdown, CSV, JSON with every run's provenance) and plot from
    the runs complete in its store; trains nothing."""
    from bench.sweep import write_sweep_report

    write_sweep_report(_sweep_spec(**kw), log=click.echo)


@main.command("curves")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"),
              show_default=True)
@click.option("--dataset", required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Base path: writes OUT.json and OUT.png / OUT.pdf (e.g. docs/convergence).")
def curves_cmd(runs_dir: Path, dataset: str, out: Path) -> None:
    """Training curves of a store's runs: plateau verdicts, GLO-MSE's power-law projection to
    PCA's train MSE, with every run's provenance, as JSON and a figure."""
    from bench.convergence import export_curves

    res = export_curves(runs_dir, dataset, out)
    for label, c in res["curves"].items():
        reach = c.get("projected_step")
        click.echo(f"{label:<26} {len(c['loss']):>4} epochs  last loss {c['loss'][-1]:.5g}  "
                   f"train MSE {c['train_mse']:.5f}  plateaued {c['plateaued']}"
                   + (f"  reaches PCA at step ~{reach:,.0f} (extrapolated)" if reach else ""))
    for label, g in res["gan"].items():
        b = g["balance"]
        click.echo(f"{label:<26} {len(g['step']):>4} epochs  D(real) {b['d_real']:.3f}  "
                   f"D(fake) {b['d_fake']:.3f}  generated/real std {b['std_ratio']:.3f}  "
                   f"train MSE {g['train_mse']:.5f}")
    click.echo(f"-> {out.with_suffix('.json')}, {out.with_suffix('.png')}"
               + (f", {out.with_name(out.name + '_gan.png')}" if res["gan"] else ""))


@main.command("codes-gap")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@DATA_ROOT
@CACHE_DIR
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def codes_gap_cmd(run_dir: Path, data_root, cache_dir, json_out) -> None:
    """Why a GLO run's stored codes score worse than its logged training loss: replay its last
    epochs exactly and split the gap into the step itself and the generator's later drift."""
    from bench.codegap import measure
    from bench.io import atomic_write_json

    res = measure(run_dir, _root(data_root), cache_dir, log=click.echo)
    if json_out:
        atomic_write_json(json_out, res)
        click.echo(f"-> {json_out}")


@main.command("times")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--compare", "after", type=click.Path(path_type=Path), default=None,
              help="A second store with the same configurations: before (STORE) vs after.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def times_cmd(store: Path, after: Path | None, json_out: Path | None) -> None:
    """Wall time per configuration of a store (fit, evaluation and its stages), or two stores
    side by side; nothing estimated."""
    from bench.io import atomic_write_json
    from bench.timing import compare, store_rows, table

    rows = store_rows(store)
    if after is None:
        click.echo(table(rows))
        payload: dict = {"runs": rows}
    else:
        later = store_rows(after)
        click.echo(compare(rows, later))
        payload = {"before": rows, "after": later}
    if json_out:
        atomic_write_json(json_out, payload)


@main.command("keys")
@click.option("--model", "method", type=click.Choice(TABLE1_METHODS), default="glo-lap1-pca",
              show_default=True, help="Whose keys and values to show.")
@click.option("--dataset", default="celeba64", show_default=True,
              help="The values shown are the ones a run on this dataset resolves to.")
@click.option("--profile", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True)
@click.option("--n-train", type=int, default=10_000, show_default=True,
              help="Training images assumed (small datasets change d and the epochs).")
def keys_cmd(method: str, dataset: str, profile: str, n_train: int) -> None:
    """Every key `--set` accepts for a method, its type and its resolved value."""
    from bench.config import resolve
    from bench.data import get_dataset as ds
    from bench.overrides import describe_keys
    from bench.spec import RunSpec

    cfg = resolve(RunSpec(dataset, profile=profile), method, n_train, ds(dataset).resolution)
    click.echo(f"{'key':<28} {'type':<40} value ({method}, {dataset}, {profile} profile)")
    for line in describe_keys(cfg.family, cfg.model, cfg.eval):
        click.echo(line)


@main.command("status")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--dataset", default=None, help="Only this dataset's jobs.")
def status_cmd(runs_dir: Path, dataset: str | None) -> None:
    """Each submitted job's state (scheduler and run store), progress and error."""
    from bench.launch import status_rows

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


@main.command("report")
@click.option("--dataset", "datasets", multiple=True, help="Dataset(s) to report (default: every dataset in the store).")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
@DATA_ROOT
@click.option("--allow-mixed", is_flag=True,
              help="Report runs made by different code versions (otherwise refused); the "
                   "report then says so at the top.")
@click.option("--page", default=None,
              help="Folder name under --out (default: the dataset's name), for a second page "
                   "of one dataset, e.g. celeba64-lap1paper from another store; the "
                   "dataset's pages link each other and show their rows side by side.")
def report_cmd(datasets, runs_dir: Path, out: Path, data_root: Path | None,
               allow_mixed: bool, page: str | None) -> None:
    """Table 1, Figure 1 and the paper's figures next to the paper's numbers."""
    from bench.report import write_report
    from bench.store import find_runs, load_run

    if not datasets:
        datasets = sorted({load_run(r)["config"].get("config", {}).get("dataset")
                           for r in find_runs(runs_dir)} - {None})
    if not datasets:
        raise BenchError(f"no runs under {runs_dir}: run `bench run --all --dataset lfw25` first")
    if page is not None and len(datasets) != 1:
        raise BenchError("--page names one dataset's page: pass exactly one --dataset with it")
    for name in datasets:
        folder, text = write_report(name, runs_dir, out, _root(data_root),
                                    log=lambda m: click.echo(m, err=True), allow_mixed=allow_mixed,
                                    page=page)
        click.echo(f"\nTable 1 on {name} (train MSE, [-1, 1] pixels) -> {folder}/index.html")
        click.echo(text)


@main.command("regress")
@DATA_ROOT
@CACHE_DIR
@click.option("--reference", type=click.Path(path_type=Path),
              default=Path("reports/regression/reference.json"), show_default=True)
@click.option("--update", is_flag=True, help="Re-measure over --seeds and rewrite the reference.")
@click.option("--add-platform", "add", is_flag=True,
              help="Measure seed 0 (twice) on this machine and add it to the reference as a "
                   "platform entry: this machine then gets the exact same-platform check.")
@click.option("--dataset", type=click.Choice(["auto", "celeba32", "lfw25"]), default="auto",
              show_default=True, help="auto: celeba32 where the shared CelebA is found, else lfw25.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds for --update.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run store for the check (default: a fresh temporary folder).")
def regress_cmd(data_root, cache_dir, reference, update, add, dataset, seeds, out) -> None:
    """Train the nine configurations small and compare with the committed reference."""
    from bench.regress import regress

    code = regress(data_root, reference, update, [int(s) for s in seeds.split(",")], out,
                   cache_dir, dataset=dataset, log=lambda m: click.echo(m), add=add)
    sys.exit(code)


@main.command("perf")
@click.argument("which", nargs=-1, type=click.Choice(PERF_BENCHMARKS))
@DATA_ROOT
@CACHE_DIR
@click.option("--json-out", type=click.Path(path_type=Path), default=None)
def perf_cmd(which, data_root, cache_dir, json_out) -> None:
    """Speed benchmarks, each against the straightforward way, side by side (prints ratios)."""
    from bench.io import atomic_write_json
    from bench.perf import run_all

    results = run_all(list(which) or list(PERF_BENCHMARKS), _root(data_root), cache_dir,
                      log=click.echo)
    for r in results:
        verdict = "recorded" if r["ok"] is None else "met" if r["ok"] else "MISSED"
        click.echo(f"{r['bench']:<10} ratio {r['ratio']:.2f}x  target {r['target']}: {verdict}")
    if json_out:
        atomic_write_json(json_out, results)


@main.group(cls=Group)
def fid() -> None:
    """Sample quality (FID, KID, precision/recall through torch-fidelity): its weights file."""


@fid.command("fetch")
def fid_fetch() -> None:
    """How to get torch-fidelity's Inception weights once (nothing downloads at run time)."""
    from bench.fidelity import fetch_instructions

    click.echo(fetch_instructions())


@fid.command("status")
@click.option("--fid-weights", type=click.Path(path_type=Path), default=None)
def fid_status(fid_weights: Path | None) -> None:
    """Which Inception weights file a run would use, and its SHA-256."""
    from bench.fidelity import Extractor, find_weights, missing_hint

    path = find_weights(fid_weights)
    if path is None:
        click.echo(missing_hint())
        return
    ext = Extractor.load(path)
    click.echo(f"{path}: SHA-256 {ext.sha256} "
               + ("(torch-fidelity's standard weights)" if ext.standard
                  else "(NOT the standard weights: FIDs not comparable with published ones)"))


@main.command("runs")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also merge every complete run's numbers, config, code version and data "
                   "fingerprint into this JSON file (to commit results as they finish).")
@click.option("--bundle", "bundle_dir", type=click.Path(path_type=Path), default=None,
              help="Also copy every complete run into this bundle: what `bench report` reads, "
                   "with its figures drawn now, less checkpoints and weights (small enough to "
                   "commit, so that a fresh machine reports runs finished on another).")
@DATA_ROOT
def runs_cmd(runs_dir: Path, json_out: Path | None, bundle_dir: Path | None,
             data_root: Path | None) -> None:
    """List the runs in the store: settings, state, key metrics."""
    from bench.store import export_runs, runs_table

    if json_out is not None:
        new, total = export_runs(runs_dir, json_out)
        click.echo(f"{json_out}: {new} complete run(s) from {runs_dir} merged, {total} in all")
    if bundle_dir is not None:
        from bench.bundle import bundle_runs

        written, kept = bundle_runs(runs_dir, bundle_dir, _root(data_root), log=click.echo)
        click.echo(f"{bundle_dir}: {len(written)} run(s) bundled, {len(kept)} already there")

    table = runs_table(runs_dir)
    if table.empty:
        click.echo(f"no runs under {runs_dir}")
        return
    # errors to 5 decimals, seconds to the second
    fmt = {c: (lambda v: f"{v:,.0f}") for c in table.columns if c.endswith("_s")}
    with __import__("pandas").option_context("display.width", 200, "display.max_columns", 20):
        click.echo(table.to_string(index=False, formatters=fmt, na_rep="-",
                                   float_format=lambda v: f"{v:.5f}"))


if __name__ == "__main__":
    main()
