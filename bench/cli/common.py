"""What every `bench` command shares: the data-root and cache options, and the group that turns a
BenchError into one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.data import default_data_root
from bench.runtime.errors import BenchError

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
