"""`bench sweep run|report`: a grid of --set values x methods x seeds, its table and plot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from bench.cli.common import CACHE_DIR, DATA_ROOT, Group, _root
from bench.config.families import METHODS
from bench.config.spec import parse_assignments
from bench.runs.sweep import (
    describe,
    load_spec,
    parse_grid,
    run_sweep,
    spec_from_flags,
    write_sweep_report,
)
from bench.runtime.errors import BenchError


# ------------------------------------------------------------------------------- sweeps
def _sweep_options(f):
    for opt in reversed([
        click.argument("spec_file", required=False, type=click.Path(path_type=Path)),
        click.option("--dataset", default=None, help="Without SPEC_FILE: the dataset."),
        click.option("--model", "methods", multiple=True, type=click.Choice(tuple(METHODS)),
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

    if spec_file is not None:
        if dataset or methods or grid or sets:
            raise BenchError("give a SPEC_FILE or --dataset/--model/--grid/--set, not both")
        spec = load_spec(spec_file)
        if data_root is not None or cache_dir is not None:  # where the data is on this machine

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


@click.group(cls=Group)
def sweep() -> None:
    """A grid of --set values x methods x seeds: run it into one store, table and plot it."""


@sweep.command("run")
@_sweep_options
@click.option("--dry-run", is_flag=True, help="Say what would run; run nothing.")
def sweep_run(dry_run, **kw) -> None:
    """Run every grid point not complete in the store (resuming interrupted ones), then write
    the table and the plot. SPEC_FILE: a TOML sweep spec (bench/sweep.py documents it)."""

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

    write_sweep_report(_sweep_spec(**kw), log=click.echo)
