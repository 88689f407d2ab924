"""Gathering a store's runs for a report: one MethodRuns per Table-1 method (its seeds), and the
per-method, per-seed metrics the claims are judged on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.config.families import TABLE1_METHODS
from bench.report.claims import run_value
from bench.runs.store import find_runs, load_run, updated_at
from bench.runtime.machine import cpu_text


@dataclass
class MethodRuns:
    method: str
    state: str = "missing"  # complete | diverged | failed | running | missing
    runs: list[dict] = field(default_factory=list)  # complete runs of one config, all seeds
    detail: str = ""


def _group_key(info: dict) -> str:
    """Runs that differ only in their seed: same config, code version and data."""
    cfg = info["config"]
    return json.dumps({"config": {k: v for k, v in cfg.get("config", {}).items() if k != "seed"},
                       "code": cfg.get("code", {}).get("source_sha256"),
                       "data": cfg.get("data", {}).get("fingerprint")}, sort_keys=True, default=str)


def collect(runs_dir: Path, dataset: str) -> dict[str, MethodRuns]:
    """Per Table-1 method, then per method of another family that has runs of ``dataset`` (an
    installed family's): the complete runs of its newest (config, code, data) group, one per
    seed, else the state of its newest run."""
    by_method: dict[str, list[dict]] = {m: [] for m in TABLE1_METHODS}
    extra: dict[str, list[dict]] = {}
    for run in find_runs(runs_dir):
        info = load_run(run)
        cfg = info["config"].get("config", {})
        if cfg.get("dataset") != dataset or not cfg.get("method"):
            continue
        (by_method if cfg["method"] in by_method else extra).setdefault(cfg["method"], []).append(info)
    by_method.update(sorted(extra.items()))
    out = {}
    for method, infos in by_method.items():
        res = MethodRuns(method)
        complete = [i for i in infos if i["status"].get("state") == "complete" and i["metrics"]]
        if complete:
            groups: dict[str, list[dict]] = {}
            for i in complete:
                groups.setdefault(_group_key(i), []).append(i)
            newest = max(groups.values(), key=lambda g: max(updated_at(i) for i in g))
            res.state, res.runs = "complete", sorted(newest, key=lambda i: i["config"]["config"]["seed"])
        elif infos:
            latest = max(infos, key=updated_at)
            st = latest["status"]
            res.state = st.get("state", "unknown")
            if res.state == "diverged":
                res.detail = f"step {st.get('step')}, last finite loss {st.get('last_finite_loss')}"
            elif res.state == "failed":
                res.detail = str(st.get("error", ""))
        out[method] = res
    return out


def _mean_metric(results: dict[str, MethodRuns], method: str, metric: str) -> float | None:
    """A method's mean over its runs of a claim metric (``run_value``: e.g. train_lap1,
    codes_reinverted_mse); None where no run has it."""
    vals = [v for r in (results[method].runs if method in results else [])
            if (v := run_value(r["metrics"], metric)) is not None]
    return float(np.mean(vals)) if vals else None


def per_method_metrics(results: dict[str, MethodRuns]) -> dict[str, dict[int, dict]]:
    """method -> seed -> metrics.json, for the complete runs the table reports."""
    return {m: {r["config"]["config"]["seed"]: r["metrics"] for r in res.runs}
            for m, res in results.items() if res.state == "complete"}


def code_versions(results: dict[str, MethodRuns]) -> dict[str, list[str]]:
    """Source hash -> the methods whose reported runs were made by that code."""
    out: dict[str, list[str]] = {}
    for method, res in results.items():
        for run in res.runs:
            sha = run["config"].get("code", {}).get("source_sha256", "unknown")
            if method not in out.setdefault(sha, []):
                out[sha].append(method)
    return out


def run_cpu(run: dict) -> str:
    """The CPU a run's seconds come from: its config's (runs record it since bundles came in),
    else its bundle's machine, marked as such (the budget script bundles where it trained),
    else '-'."""
    env_cpu = run["config"].get("environment", {}).get("cpu")
    if env_cpu:
        return cpu_text(env_cpu)
    try:
        bundled = json.loads((Path(run["path"]) / "bundle.json").read_text())["bundled_on"]
    except (FileNotFoundError, ValueError, KeyError):
        return "-"
    return f"{cpu_text(bundled)}, where bundled"
