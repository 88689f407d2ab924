"""bench run end to end, the results store, checkpoints, locks, divergence."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.core.context import Diverged, RunContext
from bench.runs.listing import runs_table
from bench.runs.store import RunDir
from bench.runtime.errors import RunLockedError

RUN = ["run", "--dataset", "lfw25"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_pca_run_writes_complete_run_dir_and_second_is_noop(tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    r = invoke(*RUN, "--model", "pca", "--out", out, "--cache-dir", cache, "--quiet")
    assert r.exit_code == 0, r.output
    (run_dir,) = list((out / "lfw25").iterdir())
    for name in ("config.json", "metrics.json", "status.json", "z.npy", "per_image.npz",
                 "log.txt", "curves.csv", "model.pt", "grids/recon_train.png", "grids/samples.png"):
        assert (run_dir / name).is_file(), name
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["config"]["method"] == "pca" and cfg["config"]["seed"] == 0
    assert cfg["data"]["fingerprint"] and cfg["code"]["source_sha256"]
    if os.path.isfile("/proc/cpuinfo"):  # the CPU behind its seconds, with its matrix flags
        info = open("/proc/cpuinfo").read()
        assert f": {cfg['environment']['cpu']['model']}\n" in info
        assert all(f" {f}" in info for f in cfg["environment"]["cpu"]["flags"])
    assert run_dir.name.endswith(cfg["run_id"].split("-")[-1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 < metrics["train"]["mse"] < metrics["test"]["mse"] < 1
    assert metrics["train"]["n"] == 80 and metrics["test"]["n"] == 20
    z = np.load(run_dir / "z.npy")
    assert z.shape == (80, 20)  # d = 80 // 4 for the tiny dataset, recorded in notes
    assert any("d=20" in n for n in cfg["config"]["notes"])
    mtime = (run_dir / "metrics.json").stat().st_mtime_ns
    r2 = invoke(*RUN, "--model", "pca", "--out", out, "--cache-dir", cache, "--quiet")
    assert r2.exit_code == 0 and "already complete" in r2.output
    assert (run_dir / "metrics.json").stat().st_mtime_ns == mtime
    table = runs_table(out)
    assert list(table["method"]) == ["pca"] and list(table["state"]) == ["complete"]
    r3 = invoke("runs", "--runs", out)
    assert "pca" in r3.output and "complete" in r3.output
    assert f"{metrics['train']['mse']:.5f}" in r3.output  # errors to 5 decimals
    assert f"{metrics['timing']['fit_s']:.5f}" not in r3.output  # seconds to the second


def test_changed_setting_is_a_new_run(tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    for seed in (0, 1):
        assert invoke(*RUN, "--model", "pca", "--seed", seed, "--out", out, "--cache-dir", cache,
                      "--quiet").exit_code == 0
    assert len(list((out / "lfw25").iterdir())) == 2


def test_missing_dataset_run_exits_2(tmp_path):
    r = invoke("run", "--dataset", "celeba64", "--model", "pca", "--data-root", tmp_path,
               "--out", tmp_path / "runs", "--cache-dir", tmp_path / "c")
    assert r.exit_code == 2 and "celeba" in r.output and "Traceback" not in r.output


def test_lock_refuses_live_holder_and_takes_over_stale(tmp_path):
    run = RunDir(tmp_path / "r")
    run.acquire()
    with pytest.raises(RunLockedError, match=str(os.getpid())):
        RunDir(tmp_path / "r").acquire()
    run.release()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    import socket

    (tmp_path / "r" / "lock").write_text(f"{dead}@{socket.gethostname()}")
    msgs = []
    RunDir(tmp_path / "r").acquire(log=msgs.append)
    assert any("stale lock" in m for m in msgs)


def test_corrupt_checkpoint_falls_back_to_previous(tmp_path):
    ctx = RunContext(tmp_path, quiet=True, ckpt_min_interval_s=0)
    ctx.save_checkpoint({"epoch": 1, "w": torch.ones(3)})
    ctx.save_checkpoint({"epoch": 2, "w": torch.ones(3) * 2})
    last = tmp_path / "ckpt" / "last.pt"
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF
    last.write_bytes(bytes(data))
    state = RunContext(tmp_path, quiet=True).load_checkpoint()
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))
    assert "corrupt" in (tmp_path / "log.txt").read_text()


def test_divergence_is_detected():
    ctx = RunContext(None, quiet=True)
    ctx.check_finite(torch.tensor(0.5), 0)
    with pytest.raises(Diverged) as e:
        ctx.check_finite(torch.tensor(float("nan")), 7)
    assert e.value.step == 7 and e.value.last_finite == 0.5


def test_diverged_run_is_marked_and_all_goes_on(tmp_path, monkeypatch):
    from glo import model as glo_model

    orig = glo_model.ReconLoss.forward

    def nan_loss(self, x, y):
        return orig(self, x, y) * float("nan")

    monkeypatch.setattr(glo_model.ReconLoss, "forward", nan_loss)
    r = invoke(*RUN, "--model", "glo-mse-random", "--model", "pca", "--out", tmp_path / "runs",
               "--cache-dir", tmp_path / "c", "--quiet", "--epochs", "1")
    assert r.exit_code == 0, r.output
    states = {row.method: row.state for row in runs_table(tmp_path / "runs").itertuples()}
    assert states == {"glo-mse-random": "diverged", "pca": "complete"}


def test_atomic_writes_have_ordinary_permissions(tmp_path):
    from bench.runtime.io import atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def _tensors(run_dir) -> dict[str, torch.Tensor]:
    """Every tensor in a run's model.pt, by its path in the (nested) state."""
    out = {}

    def walk(prefix, value):
        if isinstance(value, torch.Tensor):
            out[prefix] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)

    walk("", torch.load(run_dir / "model.pt", weights_only=True))
    return out


def test_gan_lap1_reuses_the_gan_mse_training_and_gets_the_same_generator(tmp_path):
    """GAN-MSE and GAN-Lap1 are one GAN inverted with two losses: after GAN-MSE, GAN-Lap1 of
    the same seed resumes GAN-MSE's final checkpoint instead of training again, and its
    generator is exactly the one it would have trained itself; another seed trains."""
    cache, common = tmp_path / "cache", ["--epochs", "2", "--invert-steps", "5", "--quiet"]
    shared = tmp_path / "shared"
    for model in ("gan-mse", "gan-lap1"):
        r = invoke(*RUN, "--model", model, "--out", shared, "--cache-dir", cache, *common)
        assert r.exit_code == 0, r.output
    r = invoke(*RUN, "--model", "gan-lap1", "--out", tmp_path / "alone", "--cache-dir", cache,
               *common)
    assert r.exit_code == 0, r.output
    (mse,) = (shared / "lfw25").glob("gan-mse-*")
    (lap1,) = (shared / "lfw25").glob("gan-lap1-*")
    (alone,) = (tmp_path / "alone" / "lfw25").glob("gan-lap1-*")
    assert f"training reused from {mse.name}" in (lap1 / "log.txt").read_text()
    metrics = json.loads((lap1 / "metrics.json").read_text())
    assert metrics["timing"]["training_reused_from"] == mse.name
    # the reused training's seconds are recorded beside, not in, GAN-Lap1's own fit seconds
    mse_fit = json.loads((mse / "metrics.json").read_text())["timing"]["fit_s"]
    assert metrics["timing"]["training_reused_s"] == pytest.approx(mse_fit, abs=0.01)
    assert metrics["timing"]["fit_s"] < mse_fit
    assert "training_reused_from" not in json.loads((alone / "metrics.json").read_text())["timing"]
    reused, trained = _tensors(lap1), _tensors(alone)
    assert reused.keys() == trained.keys() and any("generator" in k for k in reused)
    for k in trained:
        assert torch.equal(reused[k], trained[k]), k
    # the two rows still differ where they should: the inversion loss
    assert (json.loads((lap1 / "metrics.json").read_text())["train"]["mse"]
            != json.loads((mse / "metrics.json").read_text())["train"]["mse"])
    r = invoke(*RUN, "--model", "gan-lap1", "--seed", "1", "--out", shared, "--cache-dir", cache,
               *common)
    assert r.exit_code == 0, r.output
    (seed1,) = [p for p in (shared / "lfw25").glob("gan-lap1-*") if p != lap1]
    assert "training reused" not in (seed1 / "log.txt").read_text()


def test_runs_json_exports_complete_runs_and_keeps_entries_of_lost_stores(tmp_path):
    out, cache, dump = tmp_path / "runs", tmp_path / "cache", tmp_path / "docs" / "runs.json"
    assert invoke(*RUN, "--model", "pca", "--out", out, "--cache-dir", cache, "--quiet").exit_code == 0
    r = invoke("runs", "--runs", out, "--json", dump)
    assert r.exit_code == 0 and "1 complete run(s)" in r.output, r.output
    (entry,) = json.loads(dump.read_text())
    metrics = json.loads(next((out / "lfw25").glob("pca-*/metrics.json")).read_text())
    assert entry["train"]["mse"] == metrics["train"]["mse"]
    assert entry["config"]["method"] == "pca" and entry["code"]["source_sha256"]
    assert entry["data"]["fingerprint"] and entry["environment"]["torch"]
    assert 0 < entry["flatness"] < 1
    # the store is gone (a fresh machine): exporting another store keeps the old entry
    assert invoke("runs", "--runs", tmp_path / "elsewhere", "--json", dump).exit_code == 0
    assert [e["run"] for e in json.loads(dump.read_text())] == [entry["run"]]
