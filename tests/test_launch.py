"""The grid through submitit: the local executor for real (subprocesses), a killed job
reported and re-submitted; the Slurm path up to the sbatch call."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from tests.conftest import ROOT, checkpoint_whole

GRID = ["run", "--dataset", "lfw25", "--model", "pca", "--model", "glo-mse-random",
        "--epochs", "300", "--launcher", "local"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _status(out: Path) -> dict[str, dict]:
    r = CliRunner().invoke(main, ["status", "--runs", str(out)])
    assert r.exit_code == 0, r.output
    from bench.runs.launch import status_rows

    return {row["method"]: row for row in status_rows(out)}


@pytest.mark.slow
def test_local_launcher_reports_a_killed_job_and_resubmits_only_it(tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    cmd = [sys.executable, "-m", "bench", *GRID, "--out", str(out), "--cache-dir", str(cache)]
    first = subprocess.Popen(cmd, env=_env(), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline, victim = time.monotonic() + 300, None
    while time.monotonic() < deadline and first.poll() is None:
        status = list(out.glob("lfw25/glo-mse-random-*/status.json"))
        ckpt = list(out.glob("lfw25/glo-mse-random-*/ckpt/last.pt"))
        if status and ckpt and checkpoint_whole(ckpt[0]):
            victim = json.loads(status[0].read_text()).get("pid")
            break
        time.sleep(0.05)
    assert victim, "the GLO job never checkpointed"
    os.kill(victim, signal.SIGKILL)  # the job's process dies (OOM killer, node failure)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 2, stdout + stderr
    assert "1 job(s) failed (glo-mse-random)" in stderr and "Traceback" not in stderr

    rows = _status(out)
    assert rows["pca"]["run_state"] == "complete" and rows["pca"]["job_state"] == "COMPLETED"
    assert rows["glo-mse-random"]["run_state"] == "interrupted"
    assert rows["glo-mse-random"]["job_state"] == "DIED (no result)"
    first_job = rows["glo-mse-random"]["job"]

    again = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "pca: complete in the store" in again.stdout and "glo-mse-random: submitted" in again.stdout
    rows = _status(out)
    assert {r["run_state"] for r in rows.values()} == {"complete"}
    assert rows["glo-mse-random"]["job"] != first_job
    (run,) = out.glob("lfw25/glo-mse-random-*")
    log = (run / "log.txt").read_text()
    assert "resuming from" in log, log
    assert json.loads((run / "metrics.json").read_text())["train"]["mse"] > 0


def test_slurm_launcher_submits_one_job_array_with_the_asked_resources(tmp_path):
    """Up to the scheduler: a stand-in `sbatch` records the script submitit hands it (and
    an `srun` exists, as on a login node)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("sbatch", f"cp \"$1\" {tmp_path}/submitted.sh\n"
                                  "echo 'Submitted batch job 4242'\n"), ("srun", "exit 0\n")):
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\n" + body)
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "runs"
    env = {**_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--dataset", "lfw25", "--all",
                        "--launcher", "slurm", "--partition", "gpu-a100", "--gpus-per-job", "2",
                        "--time", "3:00:00", "--device", "cuda", "--out", str(out),
                        "--cache-dir", str(tmp_path / "cache")],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    script = (tmp_path / "submitted.sh").read_text()
    for line in ("#SBATCH --array=0-8%9", "#SBATCH --partition=gpu-a100",
                 "#SBATCH --gpus-per-node=2", "#SBATCH --ntasks-per-node=2",
                 "#SBATCH --time=180"):
        assert line in script, script
    records = sorted(p.stem for p in (out / "_jobs" / "lfw25").glob("*.json"))
    assert len(records) == 9
    assert {json.loads(p.read_text())["job_id"] for p in (out / "_jobs" / "lfw25").glob("*.json")} \
        == {f"4242_{i}" for i in range(9)}
    assert "bench status" in r.stdout


def test_slurm_launcher_without_slurm_is_one_clear_line(tmp_path):
    env = {**_env(), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--dataset", "lfw25",
                        "--model", "pca", "--launcher", "slurm", "--out", str(tmp_path / "r"),
                        "--cache-dir", str(tmp_path / "cache")],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: --launcher slurm: no `sbatch`/`srun`")


@pytest.mark.slow
def test_local_launcher_runs_a_two_process_job_as_one_torch_distributed_group(tmp_path):
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--dataset", "lfw25", "--model",
                        "glo-mse-random", "--epochs", "20", "--launcher", "local",
                        "--gpus-per-job", "2", "--out", str(out), "--cache-dir",
                        str(tmp_path / "cache")],
                       env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (run,) = out.glob("lfw25/glo-mse-random-*")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["environment"]["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert json.loads((run / "status.json").read_text())["state"] == "complete"
    assert _status(out)["glo-mse-random"]["job_state"] == "COMPLETED"
