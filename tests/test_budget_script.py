"""scripts/report_budget.sh, the multi-session reproduction, with a stand-in `python` on PATH
that records each command: which tree trains, which bundles and reports, each row's steps,
and that a fresh store is seeded from the committed bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIM = """#!/bin/bash
echo "$(pwd)|$*" >> "$CALLS"
case "$*" in *--bundle*) echo "0 run(s) bundled, 1 already there";; esac
case "$*" in *--json*) echo "merged.json: 0 complete run(s) from store merged, 1 in all";; esac
"""


@pytest.fixture
def script(tmp_path):
    if shutil.which("bash") is None or shutil.which("realpath") is None:
        pytest.skip("needs bash and realpath")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(SHIM)
    (shim / "python").chmod(0o755)
    pin = tmp_path / "pin"  # a pinned tree: a clean git checkout
    pin.mkdir()
    subprocess.run(["git", "init", "-q", str(pin)], check=True)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
           "CODE": str(pin)}

    def run(*args, **extra):
        r = subprocess.run(["bash", str(ROOT / "scripts" / "report_budget.sh"), *map(str, args)],
                           env={**env, **{k: str(v) for k, v in extra.items()}}, cwd=tmp_path,
                           capture_output=True, text=True)
        calls = [c.split("|", 1) for c in (tmp_path / "calls").read_text().splitlines()]
        return r, calls
    return run, tmp_path, pin


def test_a_fresh_store_is_seeded_from_the_bundle_and_each_step_bundled(script):
    run, tmp, pin = script
    done = tmp / "bundle" / "celeba128" / "glo-mse-pca-0123456789ab"
    done.mkdir(parents=True)
    (done / "metrics.json").write_text("{}")
    r, calls = run("celeba128", "store", "data", BUNDLE="bundle", GAN_STEPS=9000,
                   GAN_PRECISION="fp32", MERGE="merged.json")
    assert r.returncode == 0, r.stderr
    # the finished run is in the new machine's store before anything trains
    assert (tmp / "store" / "celeba128" / done.name / "metrics.json").is_file()
    trains = [args for cwd, args in calls if args.startswith("-m bench run ")]
    assert [cwd for cwd, args in calls if args.startswith("-m bench run ")] == [str(pin)] * 5
    assert "--steps 31800" in trains[0] and "--model glo-mse-pca" in trains[0]
    assert "--steps 9000" in trains[1] and "--model gan-mse --model gan-lap1" in trains[1]
    assert "--steps 31800" in trains[2] and "--model vae-mse" in trains[2]
    # each row's precision: the GAN pair its own, every other row the common one
    assert [a.split("--precision ")[1].split()[0] for a in trains] == ["bf16", "fp32"] + ["bf16"] * 3
    assert all(f"--out {tmp / 'store'}" in a for a in trains)  # absolute: the script cd's
    # after every training step this tree (not the pin) bundles and merges the finished runs'
    # numbers into MERGE, in one `bench runs`; it also writes the report
    others = [(cwd, args) for cwd, args in calls if not args.startswith("-m bench run ")]
    assert [args.split()[2] for _, args in others] == ["runs"] * 5 + ["report"]
    assert all(cwd == str(ROOT) for cwd, _ in others)
    assert all(f"--bundle {tmp / 'bundle'}" in a for _, a in others[:5])
    assert all(f"--json {tmp / 'merged.json'}" in a for _, a in others[:5])
    kinds = [args.split()[2] for _, args in calls]
    assert kinds == ["run", "runs"] * 5 + ["report"]


def test_without_bundle_nothing_is_bundled_and_a_dirty_pin_is_refused(script):
    run, tmp, pin = script
    r, calls = run("celeba128", "store", "data", STEPS=0)
    assert r.returncode == 0, r.stderr
    assert not any("--bundle" in args or "--json" in args for _, args in calls)
    assert not any("--steps" in args for _, args in calls)  # STEPS=0: the profile's epochs
    (pin / "bench").mkdir()
    (pin / "bench" / "x.py").write_text("")
    r, _ = run("celeba128", "store", "data")
    assert r.returncode == 2 and "uncommitted changes" in r.stderr


def test_rows_runs_only_the_named_steps_and_leaves_the_report(script):
    run, tmp, pin = script
    r, calls = run("celeba128", "store", "data", ROWS="vae seeds", BUNDLE="bundle")
    assert r.returncode == 0, r.stderr
    trains = [args for _, args in calls if args.startswith("-m bench run ")]
    # the VAE pair, then seeds 1 and 2: no GLO seed-0 step, no GAN, each followed by a bundle
    assert len(trains) == 3
    assert "--model vae-mse --model vae-lap1" in trains[0] and "--seed 0" in trains[0]
    assert ["--seed 1" in trains[1], "--seed 2" in trains[2]] == [True, True]
    assert not any("gan-" in a or "glo-lap1-random" in a for a in trains)
    kinds = [args.split()[2] for _, args in calls]
    assert kinds == ["run", "runs"] * 3  # no report from a partial set of steps
    assert "report is written by the run of all steps" in r.stdout
    # every step named, in any order, is the whole script: the report is written
    (tmp / "calls").unlink()
    r, calls = run("celeba128", "store", "data", ROWS="lap1paper seeds vae gan glo")
    assert r.returncode == 0, r.stderr
    assert [args.split()[2] for _, args in calls][-1] == "report"
    # on celeba128 (no lap1paper page) the four real steps are the whole script too
    (tmp / "calls").unlink()
    r, calls = run("celeba128", "store", "data", ROWS="glo gan vae seeds")
    assert r.returncode == 0, r.stderr
    assert [args.split()[2] for _, args in calls][-1] == "report"
    # a misspelt step is refused before anything runs
    (tmp / "calls").write_text("")
    r, calls = run("celeba128", "store", "data", ROWS="vae gans")
    assert r.returncode == 2 and "ROWS: 'gans' is not a step" in r.stderr and calls == []


def test_the_paper_profile_trains_64_wide_and_scores_a_seeded_subset(script):
    run, tmp, pin = script
    r, calls = run("celeba64", "store", "data", PROFILE="paper", ROWS="glo")
    assert r.returncode == 0, r.stderr
    (train,) = [args for cwd, args in calls if args.startswith("-m bench run ")]
    assert "--profile paper" in train and "--steps 31800" in train
    assert "--eval-train-n 1000 --eval-test-n 500 --fid-n 500 --set eval.heldout_n=300" in train
    r, _calls = run("celeba64", "store", "data", PROFILE="gpu")
    assert r.returncode == 2 and "PROFILE must be cpu or paper" in r.stderr
    # its page is its own: the cpu profile's reports/celeba64 is never overwritten
    r, calls = run("celeba64", "store", "data", PROFILE="paper")
    assert r.returncode == 0, r.stderr
    (report,) = [args for _, args in calls if args.split()[2] == "report"]
    assert report.endswith("--page celeba64-paper")
    assert "--lap1 paper" not in " ".join(a for _, a in calls)  # no second -lap1paper page


def test_tuned_rates_train_each_loss_at_its_own_settings_onto_their_own_page(script):
    run, tmp, pin = script
    r, calls = run("celeba64", "store", "data", MSE_SET="lr_z=30 weight_init=default",
                   LAP1_SET="lr_z=3 weight_init=default")
    assert r.returncode == 0, r.stderr
    trains = [args for _, args in calls if args.startswith("-m bench run ")]
    assert len(trains) == 9  # PCA, GLO-MSE-PCA, GLO-Lap1-PCA for seeds 0, 1, 2; nothing else
    for seed, (pca, mse, lap1) in enumerate(zip(trains[::3], trains[1::3], trains[2::3], strict=True)):
        assert all(f"--seed {seed} " in t for t in (pca, mse, lap1))
        assert pca.endswith("--model pca")
        assert "--set lr_z=30 --set weight_init=default --model glo-mse-pca" in mse
        assert "--set lr_z=3 --set weight_init=default --model glo-lap1-pca" in lap1
        assert "--steps 31800" in mse and "--steps 31800" in lap1
    assert not any("random" in t or "gan-" in t or "vae-" in t for t in trains)
    assert calls[-1][1].split()[2] == "report" and calls[-1][1].endswith("--page celeba64-tuned")
    # the GAN is no step of a tuned page
    r, _ = run("celeba64", "store", "data", MSE_SET="lr_z=30", ROWS="gan")
    assert r.returncode == 2 and "ROWS: 'gan' is not a step" in r.stderr
