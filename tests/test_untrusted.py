"""Run folders may sit on a shared filesystem: loading model.pt or a checkpoint never runs
code that someone put in it (weights_only loading), and says so in one line."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.core.context import RunContext
from bench.runs.registry import load_model
from bench.runtime.errors import BenchError
from bench.runtime.io import atomic_write_json, sha256_bytes


class _Payload:
    """Unpickling this runs ``touch MARKER`` (what an attacker's file would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _evil_bytes(marker) -> bytes:
    return pickle.dumps({"generator": _Payload(marker)})


def test_plain_pickle_would_run_the_payload(tmp_path):
    """The planted file is live: loading it the unsafe way does run it (so the tests below
    show that the safe loader is what stops it)."""
    marker = tmp_path / "ran"
    pickle.loads(_evil_bytes(marker))
    assert marker.exists()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--out",
                                  str(root / "runs"), "--cache-dir", str(root / "c"), "--quiet"])
    assert r.exit_code == 0, r.output
    (run,) = (root / "runs" / "lfw25").iterdir()
    return run


def test_crafted_model_pt_is_refused_and_never_executed(finished_run, tmp_path):
    marker = tmp_path / "ran"
    (finished_run / "model.pt").write_bytes(_evil_bytes(marker))
    with pytest.raises(BenchError) as e:
        load_model(finished_run)
    msg = str(e.value)
    assert "model.pt" in msg and "refused" in msg and "\n" not in msg
    assert not marker.exists()


def test_crafted_checkpoint_with_a_valid_checksum_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "ran"
    data = _evil_bytes(marker)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "last.pt").write_bytes(data)
    atomic_write_json(tmp_path / "ckpt" / "last.pt.sha256", {"sha256": sha256_bytes(data)})
    with pytest.raises(BenchError) as e:
        RunContext(tmp_path, quiet=True).load_checkpoint()
    assert "last.pt" in str(e.value) and "refused" in str(e.value)
    assert not marker.exists()


def test_real_checkpoints_and_models_still_load(tmp_path):
    ctx = RunContext(tmp_path, quiet=True)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))])
    ctx.record(epoch=0, loss=0.5)
    ctx.save_checkpoint({"epoch": 0, "opt": opt.state_dict(), "w": torch.ones(3)}, final=True)
    state = RunContext(tmp_path, quiet=True).load_checkpoint()
    assert state["epoch"] == 0 and torch.equal(state["w"], torch.ones(3))
    assert json.loads(json.dumps(state["opt"]["param_groups"][0]["betas"])) == [0.9, 0.999]
