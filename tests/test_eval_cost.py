"""`bench eval-cost` (bench/studies/eval_cost.py): a run's evaluation cost measured before it runs. Its projection must
count the reconstructions the real evaluation then makes, from the run's own checkpoint."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main as bench_main
from bench.studies import eval_cost, gan_readings


def _script():
    return eval_cost


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cache = out / "cache"
    for method in ("gan-mse", "glo-mse-random", "pca"):
        # 30 of the 80 training images scored: a seeded subset, not the first 30
        r = CliRunner().invoke(bench_main, ["run", "--dataset", "lfw25", "--model", method,
                                            "--epochs", "2", "--quiet", "--out", str(out),
                                            "--cache-dir", str(cache), "--set", "eval.train_n=30"])
        assert r.exit_code == 0, r.output
    return {p.name.rsplit("-", 1)[0]: p for p in (out / "lfw25").iterdir()}, cache


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_gan_projection_counts_what_its_evaluation_inverted(runs, tmp_path):
    found, cache = runs
    run = found["gan-mse"]
    out = tmp_path / "cost.json"
    result = _script().main([str(run), "--images", "4", "--cache-dir", str(cache),
                             "--json", str(out)])
    m = _metrics(run)
    # every scored training and test image is inverted by a GAN's evaluation
    assert result["eval_reconstructions"] == m["train"]["n"] + m["test"]["n"]
    assert result["checkpoint"] == "ckpt/last.pt" and result["checkpoint_epoch"] == 1
    assert result["images_timed"] == 4 and result["seconds"] > 0
    assert math.isfinite(result["mse_of_timed"]) and result["mse_of_timed"] < 1.0
    config = json.loads((run / "config.json").read_text())["config"]
    assert result["precision"] == config["precision"]
    assert result["invert"]["steps"] == config["model"]["invert"]["steps"]
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))


def test_it_times_the_images_the_evaluation_scored_and_compares_like_for_like(runs):
    """Timed on all the scored training images with the final generator, the GAN's
    reconstructions are those its evaluation scored: against its own per_image.npz the ratio is
    1, the indices the same; against PCA the ratio is this GAN's MSE over PCA's on them."""
    import numpy as np

    found, cache = runs
    gan, pca = found["gan-mse"], found["pca"]
    result = _script().main([str(gan), "--images", "1000", "--cache-dir", str(cache),
                             "--against", str(gan), "--against", str(pca)])
    own, vs_pca = result["against"]
    with np.load(gan / "per_image.npz") as f:
        assert result["timed_indices"] == f["train_index"].tolist() != list(range(30))
    assert own["method"] == "gan-mse" and own["ratio"] == pytest.approx(1.0, rel=1e-4), own
    assert own["mse_on_timed"] == pytest.approx(_metrics(gan)["train"]["mse"], rel=1e-4)
    assert vs_pca["method"] == "pca"
    assert vs_pca["mse_on_timed"] == pytest.approx(_metrics(pca)["train"]["mse"], rel=1e-4)
    assert vs_pca["ratio"] == pytest.approx(result["mse_of_timed"] / vs_pca["mse_on_timed"])


def test_glo_projection_counts_test_images_and_the_codes_check(runs, tmp_path):
    found, cache = runs
    run = found["glo-mse-random"]
    result = _script().main([str(run), "--images", "4", "--cache-dir", str(cache)])
    m = _metrics(run)
    # training images keep their stored codes; the test images and the codes check invert
    assert result["eval_reconstructions"] == m["test"]["n"] + m["codes"]["check_n"]
    assert "codes check" in result["which"]


@pytest.mark.parametrize("method", ["gan-mse", "glo-mse-random"])
def test_without_a_checkpoint_the_final_model_is_timed(runs, tmp_path, method):
    found, cache = runs
    run = tmp_path / found[method].name
    shutil.copytree(found[method], run, ignore=shutil.ignore_patterns("ckpt"))
    result = _script().main([str(run), "--images", "2", "--cache-dir", str(cache),
                             "--eval-images", "1000"])
    assert result["checkpoint"] == "model.pt" and result["eval_reconstructions"] == 1000
    assert result["projected_eval_s"] == pytest.approx(result["seconds_per_image"] * 1000)


def test_bad_input_says_what_to_pass(runs, tmp_path):
    found, cache = runs
    with pytest.raises(SystemExit, match="projection, nothing to time"):
        _script().main([str(found["pca"]), "--cache-dir", str(cache)])
    with pytest.raises(SystemExit, match="config.json"):
        _script().main([str(tmp_path / "nope"), "--cache-dir", str(cache)])
    with pytest.raises(SystemExit, match="per_image.npz: no such file"):
        _script().main([str(found["gan-mse"]), "--images", "1", "--cache-dir", str(cache),
                        "--against", str(tmp_path)])
    other = tmp_path / "other"
    shutil.copytree(found["pca"], other)
    config = json.loads((other / "config.json").read_text())
    config["config"]["dataset"] = "celeba64"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="a celeba64 run, not lfw25"):
        _script().main([str(found["gan-mse"]), "--images", "1", "--cache-dir", str(cache),
                        "--against", str(other)])
    untrained = tmp_path / "untrained"
    untrained.mkdir()
    shutil.copy(found["gan-mse"] / "config.json", untrained / "config.json")
    with pytest.raises(SystemExit, match="nothing trained to time yet"):
        _script().main([str(untrained), "--cache-dir", str(cache)])


def test_a_kept_earlier_checkpoint_is_read_as_that_epochs_generator(runs, tmp_path):
    """--checkpoint: a copy of an earlier ckpt kept outside the run (prev.pt: epoch 0) is loaded
    as that epoch's generator: its epoch, another MSE on the same images than the latest one's;
    a file that is not this run's checkpoint is a one-line error."""
    found, cache = runs
    run = found["gan-mse"]
    kept = tmp_path / "epoch0.pt"
    shutil.copy(run / "ckpt" / "prev.pt", kept)
    latest = _script().main([str(run), "--images", "3", "--cache-dir", str(cache)])
    early = _script().main([str(run), "--images", "3", "--cache-dir", str(cache),
                            "--checkpoint", str(kept)])
    assert (latest["checkpoint_epoch"], early["checkpoint_epoch"]) == (1, 0)
    assert early["checkpoint"] == str(kept) and early["timed_indices"] == latest["timed_indices"]
    assert early["mse_of_timed"] != latest["mse_of_timed"]
    inside = _script().main([str(run), "--images", "3", "--cache-dir", str(cache),
                             "--checkpoint", str(run / "ckpt" / "last.pt")])
    assert inside["checkpoint"] == "ckpt/last.pt"
    assert inside["mse_of_timed"] == latest["mse_of_timed"]
    with pytest.raises(SystemExit, match="no such file; --checkpoint takes"):
        _script().main([str(run), "--cache-dir", str(cache), "--checkpoint", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="not a checkpoint of a gan-mse run"):
        _script().main([str(run), "--images", "1", "--cache-dir", str(cache), "--checkpoint",
                        str(found["glo-mse-random"] / "ckpt" / "last.pt")])


def _readings_script():
    return gan_readings


def test_readings_of_kept_checkpoints_make_one_curve_over_training(runs, tmp_path):
    """`bench gan-readings` (bench/studies/gan_readings.py): eval-cost readings of two checkpoints of one real GAN, given
    out of order, come back in epoch order at the steps its curves.csv logged, with their MSE
    and ratio to PCA as read; readings on other images or of another run are refused."""
    import csv

    found, cache = runs
    gan, pca = found["gan-mse"], found["pca"]
    shutil.copy(gan / "ckpt" / "prev.pt", tmp_path / "epoch0.pt")
    args = [str(gan), "--images", "3", "--cache-dir", str(cache), "--against", str(pca)]
    late = _script().main([*args, "--json", str(tmp_path / "late.json")])
    early = _script().main([*args, "--checkpoint", str(tmp_path / "epoch0.pt"),
                            "--json", str(tmp_path / "early.json")])
    out = tmp_path / "docs" / "gan_readings"
    data = _readings_script().main([str(gan), str(tmp_path / "late.json"),
                                    str(tmp_path / "early.json"), "--out", str(out)])
    with (gan / "curves.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert [(r["epoch"], r["step"]) for r in data["readings"]] == [(0, steps[0]), (1, steps[1])]
    assert [r["mse"] for r in data["readings"]] == [early["mse_of_timed"], late["mse_of_timed"]]
    assert data["readings"][1]["against"]["pca"]["ratio"] == late["against"][0]["ratio"]
    assert json.loads(out.with_suffix(".json").read_text())["run"] == gan.name
    assert out.with_suffix(".png").is_file()
    _script().main([str(gan), "--images", "2", "--cache-dir", str(cache),
                    "--json", str(tmp_path / "two.json")])
    with pytest.raises(SystemExit, match="other images, inversion or precision"):
        _readings_script().main([str(gan), str(tmp_path / "late.json"), str(tmp_path / "two.json"),
                                 "--out", str(out)])
    with pytest.raises(SystemExit, match=f"not {found['glo-mse-random'].name}"):
        _readings_script().main([str(found["glo-mse-random"]), str(tmp_path / "late.json"),
                                 "--out", str(out)])


def test_keep_every_keeps_those_epochs_checkpoints_and_changes_no_result(tmp_path):
    """`bench run --keep-every 2` on a real GAN: epochs 1 and 3 of 5 (logged from 0) kept as
    ckpt/epochE.pt with a checksum that holds, even where --ckpt-interval would skip them;
    each loads as its epoch's generator in eval_cost.py; the run's numbers are those of the
    same run without it."""
    import hashlib

    cache = tmp_path / "cache"
    common = ["run", "--dataset", "lfw25", "--model", "gan-mse", "--epochs", "5", "--quiet",
              "--cache-dir", str(cache), "--set", "eval.train_n=8", "--eval-test-n", "4",
              "--invert-steps", "5", "--ckpt-interval", "1000"]
    for out, extra in ((tmp_path / "kept", ["--keep-every", "2"]), (tmp_path / "plain", [])):
        r = CliRunner().invoke(bench_main, [*common, "--out", str(out), *extra])
        assert r.exit_code == 0, r.output
    kept = next((tmp_path / "kept" / "lfw25").iterdir())
    plain = next((tmp_path / "plain" / "lfw25").iterdir())
    assert sorted(p.name for p in (kept / "ckpt").glob("epoch*")) == [
        "epoch1.pt", "epoch1.pt.sha256", "epoch3.pt", "epoch3.pt.sha256"]
    assert not list((plain / "ckpt").glob("epoch*"))
    for name in ("epoch1.pt", "epoch3.pt"):
        side = json.loads((kept / "ckpt" / f"{name}.sha256").read_text())["sha256"]
        assert hashlib.sha256((kept / "ckpt" / name).read_bytes()).hexdigest() == side
    for epoch in (1, 3):
        r = _script().main([str(kept), "--images", "2", "--cache-dir", str(cache),
                            "--checkpoint", str(kept / "ckpt" / f"epoch{epoch}.pt")])
        assert r["checkpoint"] == f"ckpt/epoch{epoch}.pt" and r["checkpoint_epoch"] == epoch
    m_kept, m_plain = _metrics(kept), _metrics(plain)
    for split in ("train", "test"):
        assert m_kept[split]["mse"] == m_plain[split]["mse"]
