"""What `bench run` was asked to do: one typed spec, built once from the command line (or by
`bench regress`, a submitit job, a test) and passed down whole, in place of keyword chains.

A RunSpec is the request; bench.config.resolve turns it, for one method and one dataset, into
the fully resolved RunConfig whose hash names the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from bench.runtime.errors import BenchError


@dataclass(frozen=True)
class Assignment:
    """One parsed ``--set KEY=VALUE`` (the value still text: its type depends on the family)."""

    key: str
    text: str

    def __str__(self) -> str:
        return f"{self.key}={self.text}"


def parse_assignments(items: Iterable[str]) -> tuple[Assignment, ...]:
    """``KEY=VALUE`` strings -> Assignments (a later one for the same key wins)."""
    out: dict[str, Assignment] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BenchError(f"--set expects KEY=VALUE (e.g. --set ngf=16), got {item!r}")
        out[key] = Assignment(key, text.strip())
    return tuple(out.values())


@dataclass(frozen=True)
class Overrides:
    """Settings that replace the profile's, for every method they apply to (None: keep)."""

    epochs: int | None = None
    steps: int | None = None  # a step budget (0: train by epochs); the paper profile's is 31,800
    batch_size: int | None = None
    subset: int | None = None  # first N training images only
    invert_steps: int | None = None  # GAN inversion, GLO held-out inversion
    plateau: float | None = None  # stop once the epoch loss improves by less than this
    lap1: str | None = None  # which Lap1 the Lap1 rows use (bench.losses.LAP1_VARIANTS)
    # `--set KEY=VALUE` (bench.overrides): any settings field, for the methods that have it
    sets: tuple[Assignment, ...] = ()


@dataclass(frozen=True)
class ClusterSettings:
    """Where the jobs go when not run here (`--launcher local|slurm`)."""

    launcher: str  # slurm | local
    partition: str | None = None
    gpus_per_job: int = 1  # processes per job (one GPU each on cuda; gloo processes on cpu)
    time_min: int = 24 * 60
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    array_parallelism: int = 16


@dataclass(frozen=True)
class RunSpec:
    """Everything a run request says. Eval counts: None = the profile's default, 0 = every
    image of the split, N = a seeded subset of N images (the one convention everywhere)."""

    dataset: str
    methods: tuple[str, ...] = ()
    data_root: Path = Path("data")
    cache_dir: Path | None = None
    out: Path = Path("runs")
    seed: int = 0
    device: str = "cpu"
    profile: str | None = None  # cpu | paper (None: paper on cuda, cpu on cpu)
    precision: str | None = None  # fp32 | bf16 (None: the device's default)
    overrides: Overrides = Overrides()
    eval_train_n: int | None = None
    eval_test_n: int | None = None
    eval_fid_n: int | None = None  # samples (and test images) for FID/KID/precision-recall
    fid_weights: Path | None = None  # the Inception weights (None: $BENCH_FID_WEIGHTS, the cache)
    heldout: str | None = None  # a dataset reconstructed as held-out (e.g. lfw64)
    skip_corrupt: bool = False
    force: bool = False
    quiet: bool = False
    ckpt_interval_s: float = 0.0  # seconds between checkpoints (0: every epoch)
    keep_every: int = 0  # also keep every Nth epoch's checkpoint as ckpt/epochE.pt (0: none)
    cluster: ClusterSettings | None = None  # None: run here

    def absolute(self) -> RunSpec:
        """The same spec with absolute paths (for jobs that start in another folder)."""
        return replace(self, data_root=Path(self.data_root).resolve(), out=Path(self.out).resolve(),
                       cache_dir=None if self.cache_dir is None else Path(self.cache_dir).resolve(),
                       fid_weights=None if self.fid_weights is None
                       else Path(self.fid_weights).expanduser().resolve())
