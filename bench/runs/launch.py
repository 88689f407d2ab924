"""The grid on a cluster: one submitit job per configuration (a Slurm job array), or the same
jobs through submitit's local executor.

A job runs one configuration through the same `run_method` as `bench run`, so the run store
stays the single source of truth: a configuration already complete there is not submitted
again, and a job that died (killed, preempted, out of time) is re-submitted by running the
same `bench run --launcher ...` command again; it resumes from the run's last checkpoint.
On Slurm, a preempted or timed-out job is also requeued by submitit itself (`RunJob` is
Checkpointable). Each submission is recorded under ``<out>/_jobs/<dataset>/<method>.json``
for `bench status`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import submitit
import torch

from bench.config.spec import ClusterSettings, RunSpec
from bench.runs.runner import run_method
from bench.runs.store import RunDir, load_run, pid_alive
from bench.runtime.distributed import Dist
from bench.runtime.errors import BenchError
from bench.runtime.io import atomic_write_json, safe_name

JOBS_DIR = "_jobs"


def executor_parameters(cs: ClusterSettings, device: str, name: str) -> dict[str, Any]:
    """submitit update_parameters() for one configuration's job."""
    params: dict[str, Any] = {"name": name, "timeout_min": cs.time_min, "nodes": 1,
                              "tasks_per_node": cs.gpus_per_job}
    if device.startswith("cuda"):
        params["gpus_per_node"] = cs.gpus_per_job
    if cs.cpus_per_task:
        params["cpus_per_task"] = cs.cpus_per_task
    if cs.mem_gb:
        params["mem_gb"] = cs.mem_gb
    if cs.launcher == "slurm":
        params["slurm_array_parallelism"] = cs.array_parallelism
        if cs.partition:
            params["slurm_partition"] = cs.partition
    return params


class RunJob(submitit.helpers.Checkpointable):
    """What one submitit job (each of its tasks) executes: one configuration.

    With several tasks per job it joins a torch.distributed group first (submitit exports
    RANK, WORLD_SIZE, MASTER_ADDR/PORT). On preemption or timeout submitit calls
    ``checkpoint`` (inherited): the same call is requeued and resumes from the run's
    checkpoint."""

    def __init__(self, spec: RunSpec, method: str, threads: int | None = None) -> None:
        self.spec, self.method, self.threads = spec, method, threads

    def __call__(self) -> dict[str, Any]:


        if self.threads:
            torch.set_num_threads(self.threads)
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        with Dist.from_env(self.spec.device) as dist:
            res = run_method(self.spec, self.method, dist=dist)
        if res.state == "diverged":  # a result, not a crash: the job succeeds and says so
            return {"method": self.method, "state": "diverged", "path": str(res.path)}
        return {"method": self.method, "state": res.state, "path": str(res.path),
                "train_mse": res.metrics.get("train", {}).get("mse")}


@dataclass
class JobRecord:
    dataset: str
    method: str
    job_id: str
    launcher: str
    folder: str  # submitit's folder of this job (its pickles, stdout, stderr)
    run_dir: str  # where the run store will hold it
    submitted: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def path(self, out: Path) -> Path:
        return job_record_path(out, self.dataset, self.method)


def job_record_path(out: Path, dataset: str, method: str) -> Path:
    return Path(out) / JOBS_DIR / safe_name(dataset) / f"{method}.json"


def make_executor(cs: ClusterSettings, folder: Path) -> submitit.Executor:
    if cs.launcher not in ("slurm", "local"):
        raise BenchError(f"unknown launcher {cs.launcher!r}: slurm or local")
    if cs.launcher == "slurm" and not _has_slurm():
        raise BenchError("--launcher slurm: no `sbatch`/`srun` on this machine's PATH; run from "
                         "a Slurm login node, or use --launcher local")
    return submitit.AutoExecutor(folder=folder / "%j", cluster=cs.launcher)


def _has_slurm() -> bool:

    return shutil.which("sbatch") is not None and shutil.which("srun") is not None


def parse_minutes(text: str) -> int:
    """'90' -> 90; '1:30' -> 90; '24:00:00' -> 1440."""
    try:
        parts = [int(p) for p in str(text).split(":")]
    except ValueError:
        parts = []
    if not parts or len(parts) > 3 or any(p < 0 for p in parts):
        raise BenchError(f"--time {text!r}: give minutes (90) or H:MM[:SS] (1:30:00)")
    if len(parts) == 1:
        return parts[0]
    h, m, sec = (parts + [0])[:3]
    return h * 60 + m + (1 if sec else 0)


def submit(spec: RunSpec, planned: dict[str, RunDir],
           log=print) -> list[tuple[JobRecord, submitit.Job]]:
    """Submit one job per configuration of the spec not yet complete in the store (one array
    on Slurm)."""
    cs = spec.cluster
    assert cs is not None, "submit() needs a spec with a launcher"
    out, dataset = Path(spec.out), spec.dataset
    todo = [m for m in spec.methods if spec.force or not planned[m].is_complete()]
    for m in spec.methods:
        if m not in todo:
            log(f"{m}: complete in the store ({planned[m].path}); not submitted")
    if not todo:
        return []
    folder = (out / JOBS_DIR / "submitit").resolve()
    executor = make_executor(cs, folder)
    executor.update_parameters(**executor_parameters(cs, spec.device, f"glo-bench-{dataset}"))
    threads = None
    if cs.launcher == "local":  # the local executor starts every job at once: share the cores
        threads = max(1, (os.cpu_count() or 1) // (len(todo) * cs.gpus_per_job))
    jobs = []
    with executor.batch():
        for m in todo:
            jobs.append(executor.submit(RunJob(spec, m, threads)))
    records = []
    for m, job in zip(todo, jobs, strict=True):
        rec = JobRecord(dataset, m, str(job.job_id), cs.launcher, str(job.paths.folder),
                        str(planned[m].path))
        atomic_write_json(rec.path(out), asdict(rec))
        log(f"{m}: submitted job {job.job_id} ({cs.launcher}) -> {planned[m].path}")
        records.append((rec, job))
    return records


def wait(records: list[tuple[JobRecord, submitit.Job]], log=print) -> list[dict[str, Any]]:
    """Block until every job ends; one summary per job (state 'failed' with the reason)."""
    results = []
    for rec, job in records:
        try:
            res = job.results()[0]  # task 0 = rank 0 (every task of a multi-process job)
        except Exception as e:  # noqa: BLE001  killed, out of time, or the run raised (its
            # traceback is in the job's log): one summary line either way
            res = {"method": rec.method, "state": "failed", "error": _last_line(str(e)),
                   "path": rec.run_dir}
        results.append(res)
        log(f"{rec.method}: job {rec.job_id} {res['state']}"
            + (f" ({res['error']})" if res.get("error") else ""))
    return results


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


# ----------------------------------------------------------------------------- status
def load_records(out: Path, dataset: str | None = None) -> list[JobRecord]:
    root = Path(out) / JOBS_DIR
    pattern = "*/*.json" if dataset is None else f"{safe_name(dataset)}/*.json"
    records = []
    for p in sorted(root.glob(pattern)):
        try:
            records.append(JobRecord(**json.loads(p.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return records


def job_state(rec: JobRecord) -> str:
    """The scheduler's view: Slurm's state (sacct), or for local jobs whether they left a
    result (a job that left none and is not running died without one)."""
    cls = submitit.SlurmJob if rec.launcher == "slurm" else submitit.LocalJob
    job = cls(folder=rec.folder, job_id=rec.job_id)
    if job.paths.result_pickle.exists():
        exc = job.exception()
        return "FAILED" if exc is not None else "COMPLETED"
    if rec.launcher == "local":
        return "RUNNING" if _run_alive(Path(rec.run_dir)) else "DIED (no result)"
    return job.state


def _run_alive(run_dir: Path) -> bool:
    status = RunDir(run_dir).status()
    pid = status.get("pid")
    return status.get("state") == "running" and isinstance(pid, int) and pid_alive(pid)


def status_rows(out: Path, dataset: str | None = None) -> list[dict[str, Any]]:
    """One row per submitted configuration: job id and state, run state, progress, error."""
    rows = []
    for rec in load_records(out, dataset):
        run = load_run(RunDir(Path(rec.run_dir)))
        st = run["status"]
        state = st.get("state", "not started")
        if state == "running" and rec.launcher == "local" and not _run_alive(Path(rec.run_dir)):
            state = "interrupted"
        progress = ""
        curves = Path(rec.run_dir) / "curves.csv"
        if curves.is_file():
            lines = curves.read_text().strip().splitlines()
            progress = f"{len(lines) - 1} epochs logged" if len(lines) > 1 else ""
        mse = run["metrics"].get("train", {}).get("mse")
        rows.append({"dataset": rec.dataset, "method": rec.method, "job": rec.job_id,
                     "launcher": rec.launcher, "job_state": job_state(rec), "run_state": state,
                     "progress": progress, "train_mse": mse, "error": st.get("error", ""),
                     "submitted": rec.submitted})
    return rows
