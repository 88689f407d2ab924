"""Planning a run: load the dataset's splits once, resolve each method's config against them,
and name its folder in the store. Nothing is trained or written here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config.resolve import resolve
from bench.config.settings import RunConfig
from bench.config.spec import RunSpec
from bench.data import get_dataset, load_split
from bench.data.cache import CachedSplit
from bench.runs.provenance import run_id
from bench.runs.registry import CODE_AT_IMPORT
from bench.runs.store import RunDir
from bench.runtime.distributed import SINGLE, Dist
from bench.runtime.errors import BenchError
from bench.runtime.io import safe_name


def eval_split_name(splits: tuple[str, ...]) -> str:
    return "test" if "test" in splits else splits[-1]


@dataclass
class RunData:
    """A dataset's splits as the runs see them (decoded once into the cache, checksummed)."""

    name: str  # as asked for (a registry name or folder:PATH[@RES])
    dataset: Any
    train: CachedSplit
    test: CachedSplit
    held: CachedSplit | None

    @property
    def fingerprint(self) -> str:
        return self.train.fingerprint + ("" if self.held is None else "+" + self.held.fingerprint)


@dataclass
class Plan:
    """A configuration resolved against its data: what would run, and where it is stored."""

    data: RunData
    config: RunConfig
    code: dict
    run: RunDir


def load_run_data(spec: RunSpec, log=print, dist: Dist = SINGLE) -> RunData:
    """The spec's dataset splits (decoded into the cache the first time). Under
    torch.distributed rank 0 decodes first; the other ranks then read its cache."""
    if not dist.is_main:
        dist.barrier()
    data = _load(spec, log)
    if dist.is_main:
        dist.barrier()
    return data


def _load(spec: RunSpec, log) -> RunData:
    dataset = get_dataset(spec.dataset)

    def load(ds, split: str) -> CachedSplit:
        return load_split(ds, split, spec.data_root, spec.cache_dir,
                          skip_corrupt=spec.skip_corrupt, log=log)

    train = load(dataset, "train")
    test = load(dataset, eval_split_name(dataset.splits))
    held: CachedSplit | None = None
    if spec.heldout:
        hds = get_dataset(spec.heldout)
        if (hds.resolution, hds.channels) != (dataset.resolution, dataset.channels):
            raise BenchError(f"held-out dataset {spec.heldout} is {hds.channels}x{hds.resolution}px "
                             f"but {spec.dataset} is {dataset.channels}x{dataset.resolution}px")
        held = load(hds, eval_split_name(hds.splits))
    return RunData(spec.dataset, dataset, train, test, held)


def run_dir(out: Path, dataset_name: str, method: str, rid: str) -> RunDir:
    return RunDir(Path(out) / safe_name(dataset_name) / f"{method}-{rid}")


def plan_run(data: RunData, spec: RunSpec, method: str, world_size: int = 1) -> Plan:
    """Resolve the config of ``method`` on ``data`` and name its run folder."""
    config = resolve(spec, method, data.train.images.shape[0], data.dataset.resolution,
                     world_size=world_size)
    code = CODE_AT_IMPORT
    run = run_dir(spec.out, data.name, method, run_id(config, data.fingerprint, code))
    return Plan(data, config, code, run)
