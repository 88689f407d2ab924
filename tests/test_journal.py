"""An interrupted evaluation resumes from its measured batches and ends where an
uninterrupted one ends (a GAN's evaluation inverts every scored image: hours at 128 px)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import bench.eval.evaluate as evaluate
from bench.cli import main
from bench.eval.journal import FOLDER, EvalJournal
from bench.runs.progress import progress, progress_text


def _run(out: Path, cache: Path, method: str = "gan-mse"):
    return CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", method, "--epochs",
                                     "2", "--quiet", "--out", str(out), "--cache-dir", str(cache)])


def _numbers(out: Path) -> tuple[dict, bytes, bytes]:
    (run_dir,) = (out / "lfw25").iterdir()
    m = json.loads((run_dir / "metrics.json").read_text())
    per_image = np.load(run_dir / "per_image.npz")
    arrays = {k: per_image[k].tolist() for k in sorted(per_image.files)}
    codes = {k: v for k, v in m.get("codes", {}).items() if k != "seconds"}  # GLO's check
    return arrays, (run_dir / "z.npy").read_bytes(), json.dumps(codes, sort_keys=True)


@pytest.mark.parametrize("method", ["gan-mse", "glo-mse-random"])
def test_evaluation_stopped_between_batches_resumes_and_ends_bitwise_identical(
        tmp_path, monkeypatch, method):
    """The first process fails after two measured batches (an exception in the third; a
    SIGKILL during evaluation is tests/test_reliability.py's); the next measures only the rest
    (and GLO's codes check, if it had not been done) and writes the same per-image numbers
    and codes as a run that was never interrupted. Its eval seconds count both processes."""
    monkeypatch.setattr(evaluate, "MEASURE_BATCH", 16)  # several batches on lfw25's images
    cache = tmp_path / "cache"
    assert _run(tmp_path / "straight", cache, method).exit_code == 0
    straight = _numbers(tmp_path / "straight")

    real = evaluate._measure_batch
    calls: list[int] = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed in the middle of the evaluation")
        return real(*args, **kwargs)

    out = tmp_path / "killed"
    monkeypatch.setattr(evaluate, "_measure_batch", dying)
    first = _run(out, cache, method)
    assert first.exit_code != 0
    (run_dir,) = (out / "lfw25").iterdir()
    journaled = sorted(p.name for p in (run_dir / FOLDER).glob("*.pt"))
    assert journaled == ["train-000000000.pt", "train-000000016.pt"], journaled
    cfg = json.loads((run_dir / "config.json").read_text())["config"]
    done, _left = progress_text(progress(run_dir, cfg["model"]))  # what `bench runs` shows
    assert done.endswith("steps (100%), evaluation: 32 images measured"), done

    calls.clear()
    monkeypatch.setattr(evaluate, "_measure_batch", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    assert _run(out, cache, method).exit_code == 0
    log = (run_dir / "log.txt").read_text()
    assert re.search(r"evaluation resumed: 32 images measured by an earlier process", log), log[-800:]
    n_batches = sum(-(-len(v) // 16) for k, v in straight[0].items() if k.endswith("_index"))
    assert len(calls) == n_batches - 2  # only the batches it had not measured
    assert _numbers(out) == straight  # bitwise: same floats, same codes, same codes check
    timing = json.loads((run_dir / "metrics.json").read_text())["timing"]
    assert 0 < timing["eval_s_earlier_processes"] <= timing["eval_s"]
    assert not (run_dir / FOLDER).exists()  # gone once the run is complete


def _key(checkpoint: str) -> dict:
    return {"format": 1, "checkpoint": checkpoint, "config": {"seed": 0}, "world": 1, "rank": 0,
            "batch": 4}


def test_a_journal_applies_only_to_the_same_model_and_the_same_images(tmp_path):
    idx = np.arange(4)
    rec = {"mse": torch.rand(4), "codes": torch.rand(8, 3)[:4]}  # a slice: saved compactly
    journal = EvalJournal(tmp_path / "j", _key("aaa"))
    journal.save("test", 0, idx, rec, seconds=2.5)
    again = EvalJournal(tmp_path / "j", _key("aaa"))
    got = again.load("test", 0, idx)
    assert torch.equal(got["mse"], rec["mse"]) and torch.equal(got["codes"], rec["codes"])
    assert again.reused_s == 2.5 and again.reused_images == 4
    assert again.load("test", 0, idx + 1) is None  # other images at that position
    assert again.load("train", 0, idx) is None  # another split
    retrained = EvalJournal(tmp_path / "j", _key("bbb"))  # the checkpoint changed
    assert retrained.load("test", 0, idx) is None
    assert not list((tmp_path / "j").glob("*.pt"))  # and the stale batches are gone
    (tmp_path / "j" / "test-000000000.pt").write_bytes(b"half a file")  # torn: measured again
    assert EvalJournal(tmp_path / "j", _key("bbb")).load("test", 0, idx) is None
    torch.save({"mse": torch.rand(4)}, tmp_path / "j" / "test-000000004.pt")  # foreign: no indices
    assert EvalJournal(tmp_path / "j", _key("bbb")).load("test", 4, idx) is None
    EvalJournal(tmp_path / "j", _key("bbb")).save("train", 0, idx, rec, seconds=1.0)
    # `bench runs` counts the measured batch only, not the torn and the foreign file
    assert EvalJournal.measured(tmp_path) == 0  # tmp_path / FOLDER does not exist
    (tmp_path / "j").rename(tmp_path / FOLDER)
    assert EvalJournal.measured(tmp_path) == 4
