"""A model family from outside this repository joins the benchmark through the
`glo_bench.families` entry point: after `pip install` of a package that declares one
(tests/plugin: a DCGAN autoencoder, method `ae-mse`), `bench run --model ae-mse`, `bench report`
and the conformance suite treat it like the four built-in families. The package is installed
into a folder of its own and put on PYTHONPATH of child processes, so this test session's own
interpreter (and every other test) sees the four families only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """tests/plugin pip-installed (a copy: the build leaves no files in the tree)."""
    src = tmp_path_factory.mktemp("src") / "plugin"
    shutil.copytree(ROOT / "tests" / "plugin", src)
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(target.glob("glo_bench_autoencoder-*.dist-info"))
    return target


def bench(site: Path | None, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [*([str(site)] if site else []), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def test_without_the_package_the_method_is_unknown(tmp_path):
    r = bench(None, "keys", "--model", "ae-mse", cwd=tmp_path)
    assert r.returncode == 2 and "ae-mse" in r.stderr


def test_an_installed_family_runs_and_is_reported_like_a_built_in_one(site, tmp_path):
    keys = bench(site, "keys", "--model", "ae-mse", "--dataset", "lfw25", cwd=tmp_path)
    assert keys.returncode == 0, keys.stderr
    assert "lr " in keys.stdout and "ngf" in keys.stdout
    run = bench(site, "run", "--dataset", "lfw25", "--model", "pca", "--model", "ae-mse",
                "--steps", "30", "--precision", "fp32", "--out", "runs", "--cache-dir", "cache",
                "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    (folder,) = (tmp_path / "runs" / "lfw25").glob("ae-mse-*")
    config = json.loads((folder / "config.json").read_text())["config"]
    assert config["family"] == "autoencoder" and config["model"]["ngf"] == 32  # its cpu profile
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 < metrics["train"]["mse"] < 1
    rep = bench(site, "report", "--dataset", "lfw25", "--runs", "runs", "--out", "reports",
                cwd=tmp_path)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    rows = {r["method"]: r for r in json.loads(
        (tmp_path / "reports" / "lfw25" / "report.json").read_text())["table1"]}
    assert rows["ae-mse"]["train_mse"] == pytest.approx(metrics["train"]["mse"])
    assert rows["ae-mse"]["paper_mse"] is None and rows["pca"]["state"] == "complete"
    assert list(rows)[:9] == ["pca", "gan-mse", "gan-lap1", "vae-mse", "vae-lap1",
                              "glo-mse-random", "glo-mse-pca", "glo-lap1-random", "glo-lap1-pca"]


def test_the_conformance_suite_checks_an_installed_family(site, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "tests" / "test_conformance.py"), "-k", "autoencoder"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "4 passed" in r.stdout, r.stdout[-2000:]  # outputs, round trip, determinism, resume


def test_a_broken_plugin_is_named_and_left_out(tmp_path):
    """An entry point whose module is missing: one line naming it, and the built-in families
    still run."""
    dist = tmp_path / "site" / "broken_family-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-family\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[glo_bench.families]\nbroken = no_such_module:FAMILY\n")
    r = bench(tmp_path / "site", "keys", "--model", "pca", "--dataset", "lfw25", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if "broken" in ln]
    assert "no_such_module" in line and "left out" in line and "uninstall" in line
