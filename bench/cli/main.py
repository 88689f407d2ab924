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
bench eval-cost / gan-readings   a run's evaluation cost before it runs; a GAN's MSE over training
bench gpu-hours                  GPU-hours per configuration, from counted FLOPs (an estimate)
bench codes-gap                  why a GLO run's stored codes score worse than its logged loss
bench fid fetch|status           the Inception weights for FID/KID: how to get them, where found
"""

from __future__ import annotations

import click

from bench.cli.common import Group
from bench.cli.data import data, fid
from bench.cli.results import curves_cmd, report_cmd, runs_cmd, times_cmd
from bench.cli.run import keys_cmd, run_cmd, status_cmd
from bench.cli.studies import (
    codes_gap_cmd,
    eval_cost_cmd,
    gan_readings_cmd,
    gpu_hours_cmd,
    perf_cmd,
    regress_cmd,
)
from bench.cli.sweep import sweep


@click.group(cls=Group)
@click.version_option(package_name="glo-bench")
def main() -> None:
    """glo-bench: PCA, DCGAN, VAE and GLO on the same data and metrics (GLO paper, Table 1)."""


for command in (data, fid, run_cmd, keys_cmd, status_cmd, sweep, curves_cmd, times_cmd, runs_cmd,
                report_cmd, codes_gap_cmd, regress_cmd, perf_cmd, eval_cost_cmd, gan_readings_cmd,
                gpu_hours_cmd):
    main.add_command(command)

if __name__ == "__main__":
    main()
