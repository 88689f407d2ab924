"""`bench regress`, `bench perf`, `bench codes-gap`, `bench eval-cost`, `bench gan-readings`,
`bench gpu-hours`: the studies (bench.studies) from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.cli.common import CACHE_DIR, DATA_ROOT, _root
from bench.runtime.io import atomic_write_json
from bench.studies import eval_cost, gan_readings, gpu_hours
from bench.studies.codegap import measure
from bench.studies.perf import BENCHMARKS as PERF_BENCHMARKS
from bench.studies.perf import run_all
from bench.studies.regress import regress


@click.command("codes-gap")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@DATA_ROOT
@CACHE_DIR
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
def codes_gap_cmd(run_dir: Path, data_root, cache_dir, json_out) -> None:
    """Why a GLO run's stored codes score worse than its logged training loss: replay its last
    epochs exactly and split the gap into the step itself and the generator's later drift."""

    res = measure(run_dir, _root(data_root), cache_dir, log=click.echo)
    if json_out:
        atomic_write_json(json_out, res)
        click.echo(f"-> {json_out}")


@click.command("regress")
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

    code = regress(data_root, reference, update, [int(s) for s in seeds.split(",")], out,
                   cache_dir, dataset=dataset, log=lambda m: click.echo(m), add=add)
    sys.exit(code)


@click.command("perf")
@click.argument("which", nargs=-1, type=click.Choice(PERF_BENCHMARKS))
@DATA_ROOT
@CACHE_DIR
@click.option("--json-out", type=click.Path(path_type=Path), default=None)
def perf_cmd(which, data_root, cache_dir, json_out) -> None:
    """Speed benchmarks, each against the straightforward way, side by side (prints ratios)."""

    results = run_all(list(which) or list(PERF_BENCHMARKS), _root(data_root), cache_dir,
                      log=click.echo)
    for r in results:
        verdict = "recorded" if r["ok"] is None else "met" if r["ok"] else "MISSED"
        click.echo(f"{r['bench']:<10} ratio {r['ratio']:.2f}x  target {r['target']}: {verdict}")
    if json_out:
        atomic_write_json(json_out, results)


def _forward(name: str, study, about: str) -> click.Command:
    """A study with its own argparse command line, as a `bench` subcommand (`bench NAME --help`
    prints the study's own help)."""

    @click.command(name, help=about, add_help_option=False,
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args) -> None:
        study.main(list(args))

    return command


eval_cost_cmd = _forward("eval-cost", eval_cost, "A run's evaluation time, measured before it runs "
                         "(and its reconstructions' MSE against finished runs).")
gan_readings_cmd = _forward("gan-readings", gan_readings, "A GAN's eval-cost readings of several "
                            "checkpoints beside its D balance: MSE over training.")
gpu_hours_cmd = _forward("gpu-hours", gpu_hours, "Expected GPU-hours per Table-1 configuration, "
                         "from FLOPs counted on the real modules (an estimate).")
