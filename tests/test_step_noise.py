"""scripts/glo_step_noise.py: a GLO run's step-to-step spread, measured by training on from one
of its checkpoints with the run's own step, data order and precision. What a reader of its
numbers relies on: the steps it takes are the run's own (from the previous checkpoint, one
epoch lands on the run's last checkpoint), and it refuses what it cannot measure."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.cli import main as bench_main
from tests.conftest import load_script


def _script():
    return load_script("glo_step_noise")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cache = out / "cache"
    for method in ("glo-lap1-pca", "pca"):
        # a checkpoint after every epoch (interval 0): prev.pt is epoch 0's, last.pt epoch 1's
        r = CliRunner().invoke(bench_main, ["run", "--dataset", "lfw25", "--model", method,
                                            "--epochs", "2", "--batch-size", "32", "--quiet",
                                            "--out", str(out), "--cache-dir", str(cache),
                                            "--ckpt-interval", "0", "--set", "eval.train_n=40"])
        assert r.exit_code == 0, r.output
    return {p.name.rsplit("-", 1)[0]: p for p in (out / "lfw25").iterdir()}, cache


def test_one_epoch_from_the_previous_checkpoint_lands_on_the_last(runs, tmp_path):
    found, cache = runs
    run = found["glo-lap1-pca"]
    script = _script()
    replay = script.main([str(run), "--checkpoint", "prev.pt", "--images", "40",
                          "--cache-dir", str(cache), "--json", str(tmp_path / "r.json")])
    last = script.main([str(run), "--checkpoint", "last.pt", "--images", "40",
                        "--cache-dir", str(cache), "--steps", "1"])
    assert replay["checkpoint_epoch"] == 0 and replay["epoch_replayed"] == 1
    assert last["checkpoint_epoch"] == 1
    # 80 training images in batches of 32: the epoch ends with a batch of 16
    assert replay["batch_sizes"] == [32, 32, 16] and replay["last_batch"]["images"] == 16
    # the replayed epoch ends in the state the run itself checkpointed after that epoch
    assert replay["mse_after_step"][-1] == pytest.approx(last["mse_at_checkpoint"], rel=1e-5)
    assert replay["loss_after_step"][-1] == pytest.approx(last["loss_at_checkpoint"], rel=1e-5)
    assert replay["mse_min"] <= replay["mse_median"] <= replay["mse_max"]
    assert (tmp_path / "r.json").is_file()


def test_it_refuses_runs_it_cannot_measure(runs, tmp_path):
    found, cache = runs
    with pytest.raises(SystemExit, match="pca run; this measures GLO runs"):
        _script().main([str(found["pca"]), "--cache-dir", str(cache)])
    with pytest.raises(SystemExit, match="no such checkpoint"):
        _script().main([str(found["glo-lap1-pca"]), "--checkpoint", "nope.pt",
                        "--cache-dir", str(cache)])
