"""The Python API: everything `bench run`, `bench runs` and `bench report` do, from a notebook.

    from bench import api

    spec = api.request("lfw25", ["pca", "glo-mse-pca"], out="runs", sets={"lr_z": 30})
    results = api.run(spec)                      # trains, evaluates, stores (or finds) each run
    run = api.load(results[1].path)              # config, metrics, status; run.model() loads it
    api.table1("lfw25", "runs")                  # Table 1 beside the paper, as a DataFrame
    api.report("lfw25", "runs", "reports")       # reports/lfw25/index.html

The command line is a thin layer over these functions: what it prints, they return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config.families import FAMILIES, METHODS, TABLE1_METHODS
from bench.config.overrides import validate
from bench.config.spec import ClusterSettings, Overrides, RunSpec, parse_assignments
from bench.core.family import Family
from bench.core.model import Model
from bench.data import default_data_root
from bench.report.gather import collect
from bench.report.page import write_report
from bench.report.tables import table1 as _table1
from bench.runs.launch import submit
from bench.runs.launch import wait as wait_for
from bench.runs.plan import load_run_data, plan_run
from bench.runs.registry import load_model
from bench.runs.runner import RunResult, find_fidelity, run_method
from bench.runs.store import RunDir, find_runs, load_run
from bench.runtime.distributed import Dist
from bench.runtime.errors import BenchError

__all__ = ["FAMILIES", "METHODS", "TABLE1_METHODS", "Family", "RunResult", "RunSpec", "StoredRun",
           "Report", "datasets", "families", "launch", "load", "report", "request", "run", "runs",
           "table1"]

Log = Callable[[str], None]


def families() -> dict[str, Family]:
    """The model families the benchmark knows: the four built-in ones, then those installed
    through the ``glo_bench.families`` entry points."""
    return dict(FAMILIES)


def request(dataset: str, methods: str | Sequence[str] = (), *,
            sets: Mapping[str, Any] | Iterable[str] = (), data_root: str | Path | None = None,
            out: str | Path = "runs", cluster: ClusterSettings | None = None,
            log: Log | None = None, **settings: Any) -> RunSpec:
    """One typed run request, as `bench run` builds it from its flags.

    ``methods``: a method name, several, or "all" for Table 1's nine. ``sets``: `--set` values,
    as {"lr_z": 30, "invert.steps": 300} or ["lr_z=30"]; checked against the methods'
    settings (a wrong key or type is a BenchError). ``settings``: any other RunSpec field
    (seed, device, profile, precision, heldout, eval_train_n, ...) or Overrides field (epochs,
    steps, batch_size, subset, invert_steps, plateau, lap1). ``log``: told when a `--set` key
    applies to some of the methods only (the others ignore it)."""
    chosen = TABLE1_METHODS if methods == "all" else \
        (methods,) if isinstance(methods, str) else tuple(methods)
    if not chosen:
        raise BenchError("say which: a method (e.g. glo-mse-pca), several, or 'all'")
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise BenchError(f"unknown method(s) {', '.join(unknown)}; the known ones are: "
                         f"{', '.join(METHODS)}")
    items = [f"{k}={v}" for k, v in sets.items()] if isinstance(sets, Mapping) else list(sets)
    assignments = parse_assignments(items)
    for key, skipped in validate(assignments, chosen).items():
        if skipped and log is not None:
            log(f"note: --set {key} applies to {', '.join(m for m in chosen if m not in skipped)} "
                f"only; {', '.join(skipped)} ignore it")
    over = {k: settings.pop(k) for k in list(settings) if k in Overrides.__dataclass_fields__}
    unknown = sorted(set(settings) - set(RunSpec.__dataclass_fields__))
    if unknown:
        raise BenchError(f"unknown run setting(s) {', '.join(unknown)}; RunSpec has "
                         f"{', '.join(RunSpec.__dataclass_fields__)}")
    return RunSpec(dataset=dataset, methods=chosen,
                   data_root=Path(data_root) if data_root is not None else default_data_root(),
                   out=Path(out), overrides=Overrides(**over, sets=assignments), cluster=cluster,
                   **settings)


def run(spec: RunSpec, log: Log = print,
        on_result: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Train, evaluate and store every method of ``spec`` here (one rank of several under
    torchrun); a run already complete in the store is found, not redone (unless spec.force).
    Returns one RunResult per method (state "diverged" for a run whose loss went non-finite;
    on ranks other than 0, an empty list); ``on_result`` hears of each as it finishes."""
    results = []
    with Dist.from_env(spec.device) as dist:
        say = log if dist.is_main else (lambda _m: None)
        data = load_run_data(spec, log=say, dist=dist)
        fidelity = find_fidelity(spec, say) if dist.is_main else None
        for method in spec.methods:
            result = run_method(spec, method, data=data, dist=dist, log=say, fidelity=fidelity)
            results.append(result)
            if on_result is not None and dist.is_main:
                on_result(result)
    return results if dist.is_main else []


def launch(spec: RunSpec, wait: bool, log: Log = print) -> list[dict]:
    """Submit one submitit job per configuration of ``spec`` not complete in the store
    (spec.cluster says where); with ``wait``, wait for them and return their final records,
    else the submitted ones. Each configuration is planned here first (data decoded once,
    run ids known)."""
    if spec.cluster is None:
        raise BenchError("launch needs spec.cluster (ClusterSettings): where the jobs go")
    spec = spec.absolute()
    data = load_run_data(spec, log=log)
    planned = {m: plan_run(data, spec, m, world_size=spec.cluster.gpus_per_job).run
               for m in spec.methods}
    records = submit(spec, planned, log=log)
    return wait_for(records, log=log) if records and wait else records


@dataclass(frozen=True)
class StoredRun:
    """One run of a store: its config.json, status.json and metrics.json as dicts."""

    path: Path
    config: dict
    status: dict
    metrics: dict

    @property
    def method(self) -> str | None:
        return self.config.get("config", {}).get("method")

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    def model(self, device: str = "cpu") -> Model:
        """The trained model, from model.pt (a bundled run has none: BenchError)."""
        if not (self.path / "model.pt").is_file():
            raise BenchError(f"{self.path} has no model.pt (a bundle keeps the numbers and "
                             f"figures, not the weights)")
        return load_model(self.path, device)[0]


def load(path: str | Path) -> StoredRun:
    """A stored run by its folder."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise BenchError(f"{path} is not a run folder (no config.json): pass a folder that "
                         f"`bench runs` lists")
    info = load_run(RunDir(path))
    return StoredRun(path, info["config"], info["status"], info["metrics"])


def runs(store: str | Path = "runs", dataset: str | None = None) -> list[StoredRun]:
    """Every run under ``store`` (of one dataset, if given), in the store's order."""
    found = [load(r.path) for r in find_runs(Path(store))]
    return [r for r in found if dataset is None or r.config.get("config", {}).get("dataset") == dataset]


def table1(dataset: str, store: str | Path = "runs") -> pd.DataFrame:
    """Table 1 of ``dataset`` from the store: one row per Table-1 method, train MSE beside the
    paper's, train Lap1, test and held-out MSE, seeds (a missing run's cells are empty)."""
    return _table1(dataset, collect(Path(store), dataset))


@dataclass(frozen=True)
class Report:
    """A written report: its folder (index.html, report.json, table1.*, figures) and Table 1
    as terminal text."""

    folder: Path
    text: str


def datasets(store: str | Path = "runs") -> list[str]:
    """The datasets that have runs under ``store``."""
    return sorted({r.config.get("config", {}).get("dataset") for r in runs(store)} - {None})


def report(dataset: str, store: str | Path = "runs", out: str | Path = "reports",
           data_root: str | Path | None = None, *, page: str | None = None,
           allow_mixed: bool = False, log: Log = print) -> Report:
    """Write the report of ``dataset`` (out/<page or dataset>/: index.html, report.json, Table 1
    as md/csv/tex, Figure 1, grids). One table, one code version: runs of several code
    versions are refused (BenchError naming them) unless ``allow_mixed``."""
    folder, text = write_report(dataset, Path(store), Path(out),
                                Path(data_root) if data_root is not None else default_data_root(),
                                log=log, allow_mixed=allow_mixed, page=page)
    return Report(folder, text)
