"""What needs a CUDA device (skipped, saying so, where there is none; the prepared GPU check,
bench/gpu_check.py, runs this file on a GPU): a run on cuda trains in bf16 with the data
resident on the device, lands near the CPU's fp32 run, and resumes from its checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from bench.cli import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _run(tmp_path, device: str, *extra):
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "glo-mse-pca",
                                  "--device", device, "--profile", "cpu", "--steps", "200",
                                  "--out", str(tmp_path / device), "--cache-dir",
                                  str(tmp_path / "cache"), "--quiet", *extra])
    assert r.exit_code == 0, r.output
    (run,) = (tmp_path / device / "lfw25").iterdir()
    return run, json.loads((run / "metrics.json").read_text())


def test_cuda_run_is_bf16_and_lands_near_the_cpu_fp32_run(tmp_path):
    run, gpu = _run(tmp_path, "cuda")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["precision"] == "bf16" and "gpu" in cfg["environment"]
    _, cpu = _run(tmp_path, "cpu", "--precision", "fp32")
    for split in ("train", "test"):
        assert gpu[split]["mse"] == pytest.approx(cpu[split]["mse"], rel=0.25), split


def test_cuda_run_resumes_from_its_checkpoint(tmp_path):
    run, first = _run(tmp_path, "cuda")
    (run / "metrics.json").unlink()
    (run / "status.json").write_text(json.dumps({"state": "running"}))
    _, again = _run(tmp_path, "cuda")
    assert "resuming from" in (run / "log.txt").read_text()
    assert again["train"]["mse"] == pytest.approx(first["train"]["mse"], rel=1e-3)
