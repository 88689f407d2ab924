"""The `bench` command line: a thin layer over bench.api and the studies."""

from bench.cli.main import main

__all__ = ["main"]
