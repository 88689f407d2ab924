"""`bench runs`, `bench report`, `bench curves`, `bench times`: what a store holds, as tables,
reports and figures."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from bench import api
from bench.cli.common import DATA_ROOT, _root
from bench.report.bundle import bundle_runs
from bench.report.convergence import export_curves
from bench.report.page import redraw_page
from bench.report.timing import compare, store_rows, table
from bench.runs.listing import export_runs, runs_table
from bench.runtime.errors import BenchError
from bench.runtime.io import atomic_write_json


@click.command("curves")
@click.option("--runs", "runs_dir", type=click.Path(path_type=Path), default=Path("runs"),
              show_default=True)
@click.option("--dataset", required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Base path: writes OUT.json and OUT.png / OUT.pdf (e.g. docs/convergence).")
def curves_cmd(runs_dir: Path, dataset: str, out: Path) -> None:
    """Training curves of a store's runs: plateau verdicts, GLO-MSE's power-law projection to
    PCA's train MSE, with every run's provenance, as JSON and a figure."""

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


@click.command("times")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--compare", "after", type=click.Path(path_type=Path), default=None,
              help="A second store with the same configurations: before (STORE) vs after.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def times_cmd(store: Path, after: Path | None, json_out: Path | None) -> None:
    """Wall time per configuration of a store (fit, evaluation and its stages), or two stores
    side by side; nothing estimated."""

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


@click.command("report")
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
@click.option("--redraw", "redraw", type=click.Path(path_type=Path, file_okay=False),
              multiple=True,
              help="Draw this committed page's (e.g. reports/celeba64) sample-quality "
                   "section and its links to the pages beside it again from its own "
                   "report.json, with today's rules, for a page whose store is gone; every "
                   "number stays as generated and no store is read. Repeatable.")
def report_cmd(datasets, runs_dir: Path, out: Path, data_root: Path | None,
               allow_mixed: bool, page: str | None, redraw: tuple[Path, ...]) -> None:
    """Table 1, Figure 1 and the paper's figures next to the paper's numbers."""

    if redraw:
        if datasets or page is not None:
            raise BenchError("--redraw draws pages from their report.json: leave out "
                             "--dataset and --page")
        for folder in redraw:
            click.echo(f"{redraw_page(folder)}/index.html redrawn from its report.json")
        return
    if not datasets:
        datasets = api.datasets(runs_dir)
    if not datasets:
        raise BenchError(f"no runs under {runs_dir}: run `bench run --all --dataset lfw25` first")
    if page is not None and len(datasets) != 1:
        raise BenchError("--page names one dataset's page: pass exactly one --dataset with it")
    for name in datasets:
        written = api.report(name, runs_dir, out, _root(data_root), page=page,
                             allow_mixed=allow_mixed, log=lambda m: click.echo(m, err=True))
        click.echo(f"\nTable 1 on {name} (train MSE, [-1, 1] pixels) -> {written.folder}/index.html")
        click.echo(written.text)


@click.command("runs")
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

    if json_out is not None:
        new, total = export_runs(runs_dir, json_out)
        click.echo(f"{json_out}: {new} complete run(s) from {runs_dir} merged, {total} in all")
    if bundle_dir is not None:

        written, kept = bundle_runs(runs_dir, bundle_dir, _root(data_root), log=click.echo)
        click.echo(f"{bundle_dir}: {len(written)} run(s) bundled, {len(kept)} already there")

    table = runs_table(runs_dir)
    if table.empty:
        click.echo(f"no runs under {runs_dir}")
        return
    # errors to 5 decimals, seconds to the second
    fmt = {c: (lambda v: f"{v:,.0f}") for c in table.columns if c.endswith("_s")}
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        click.echo(table.to_string(index=False, formatters=fmt, na_rep="-",
                                   float_format=lambda v: f"{v:.5f}"))
