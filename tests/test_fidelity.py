"""Sample quality through torch-fidelity: what holds for any feature extractor (with a
stand-in weights file made here), what a run stores, and what the report says with and
without the weights. Nothing is downloaded."""

from __future__ import annotations

import html
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.eval.fidelity import WEIGHTS_FILE, Extractor, compare, find_weights, hub_weights_path
from bench.runtime.errors import BenchError
from bench.runtime.io import sha256_file
from tests.conftest import REAL_FID_WEIGHTS


def _faces(n: int = 100) -> torch.Tensor:
    """The 100 real LFW faces shipped with scikit-image, uint8 1 x 32 x 32."""
    from skimage.data import lfw_subset

    x = torch.from_numpy(lfw_subset()[:n]).float()[:, None]
    return (torch.nn.functional.interpolate(x, size=32, mode="bilinear") * 255).round().byte()


def _noise(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 32, 32), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def standin(standin_fid_weights) -> Extractor:
    return Extractor.load(standin_fid_weights)


def test_what_holds_for_any_feature_extractor(standin, tmp_path):
    faces = _faces()
    test, train = faces[:24], faces[24:48]
    cache = tmp_path / "features"
    itself = compare(test, test, standin, cache_root=cache)
    real = compare(train, test, standin, cache_root=cache)
    noise = compare(_noise(24), test, standin, cache_root=cache)
    assert abs(itself["fid"]) < 1e-3
    assert itself["precision"] == itself["recall"] == 1.0
    assert 0 < real["fid"] < noise["fid"]
    assert real["kid_mean"] < noise["kid_mean"]
    assert noise["precision"] < real["precision"] and noise["recall"] < real["recall"]
    # KID: a set against itself is 0 within its interval; noise is far outside its own
    assert abs(itself["kid_mean"]) <= 2 * itself["kid_std"] + 1e-6
    assert noise["kid_mean"] - 2 * noise["kid_std"] > real["kid_mean"] + 2 * real["kid_std"]
    assert real["kid_subset_size"] == 12 and real["n_generated"] == real["n_reference"] == 24
    assert list(cache.rglob("*")), "the reference set's features were not cached"


def test_a_run_stores_the_numbers_with_the_extractor_and_its_hash(standin_fid_weights, tmp_path):
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--out",
                                  str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "c"),
                                  "--quiet", "--fid-n", "16", "--fid-weights",
                                  str(standin_fid_weights)])
    assert r.exit_code == 0, r.output
    assert "not comparable with published" in r.output
    (run,) = (tmp_path / "runs" / "lfw25").glob("pca-*")
    metrics = json.loads((run / "metrics.json").read_text())
    fid = metrics["fidelity"]
    assert fid["settings"]["weights_sha256"] == sha256_file(standin_fid_weights)
    assert fid["settings"]["feature_extractor"] == "inception-v3-compat"
    assert fid["settings"]["standard_weights"] is False
    assert fid["settings"]["library"].startswith("torch-fidelity ")
    s = fid["samples_vs_test"]
    assert s["n_generated"] == s["n_reference"] == 16 and np.isfinite(s["fid"]) and s["fid"] > 0
    assert 0 <= s["precision"] <= 1 and 0 <= s["recall"] <= 1
    assert fid["train_recons_vs_originals"]["n_reference"] == 16
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["eval"]["fid_n"] == 16

    r = CliRunner().invoke(main, ["report", "--runs", str(tmp_path / "runs"), "--out",
                                  str(tmp_path / "reports"), "--dataset", "lfw25"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "reports" / "lfw25" / "report.json").read_text())
    (row,) = report["sample_quality"]["rows"]
    assert row["Method"] == "PCA" and float(row["FID"]) == pytest.approx(s["fid"], abs=0.01)
    assert "NOT torch-fidelity's standard" in report["sample_quality"]["note"]
    page = html.unescape((tmp_path / "reports" / "lfw25" / "index.html").read_text())
    assert "KID x 1e3" in page and row["FID"] in page and "not computed" not in page


def test_without_weights_nothing_is_computed_and_the_report_says_where_to_put_them(tmp_path):
    assert find_weights() is None  # the tests hide any real weights
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--out",
                                  str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "c"),
                                  "--quiet"])
    assert r.exit_code == 0, r.output
    assert sum(WEIGHTS_FILE in line for line in r.output.splitlines()) == 1  # one line, once
    (run,) = (tmp_path / "runs" / "lfw25").glob("pca-*")
    assert "fidelity" not in json.loads((run / "metrics.json").read_text())
    r = CliRunner().invoke(main, ["report", "--runs", str(tmp_path / "runs"), "--out",
                                  str(tmp_path / "reports"), "--dataset", "lfw25"])
    assert r.exit_code == 0, r.output
    assert sum(WEIGHTS_FILE in line for line in r.output.splitlines()) == 1  # bench report says it
    report = json.loads((tmp_path / "reports" / "lfw25" / "report.json").read_text())
    assert report["sample_quality"]["rows"] == []  # one line, no table of "not computed" cells
    note = report["sample_quality"]["note"]
    assert WEIGHTS_FILE in note and "6726825d" in note and "$TORCH_HOME/hub/checkpoints/" in note
    assert "\n" not in note
    # a committed page names no folder of the machine that wrote it (the terminal may)
    page = (tmp_path / "reports" / "lfw25" / "index.html").read_text()
    assert str(hub_weights_path()) not in note and str(Path.home()) not in page
    # the page shows the same sentence, its commands set as code, and no "not computed" cells
    shown = note.replace("`bench fid fetch`", "<code>bench fid fetch</code>").replace(
        "`bench fid status`", "<code>bench fid status</code>")
    assert "`" not in shown and shown in page and "not computed" not in page.replace(shown, "")


def test_weights_path_asked_for_but_absent_is_one_clear_line(tmp_path):
    r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", "pca", "--out",
                                  str(tmp_path / "runs"), "--quiet", "--fid-weights",
                                  str(tmp_path / "nope.pth")])
    assert r.exit_code != 0
    msg = r.output.strip()
    assert "nope.pth" in msg and "no such file" in msg and len(msg.splitlines()) == 1


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_crafted_weights_file_is_refused_before_torch_fidelity_unpickles_it(tmp_path, capsys):
    bad = tmp_path / WEIGHTS_FILE
    bad.write_bytes(pickle.dumps({"fc.weight": _Boom()}))
    with pytest.raises(BenchError, match="not a plain weights file"):
        Extractor.load(bad)
    assert "this must never run" not in capsys.readouterr().out
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(BenchError, match="not an Inception-v3 state dict"):
        Extractor.load(other)


def test_fetch_tells_how_to_get_the_file_once():
    r = CliRunner().invoke(main, ["fid", "fetch"])
    assert r.exit_code == 0, r.output
    assert "https://" in r.output and WEIGHTS_FILE in r.output and "6726825d" in r.output


@pytest.mark.skipif(REAL_FID_WEIGHTS is None,
                    reason=f"the real Inception weights ({WEIGHTS_FILE}) are not on this machine; "
                           f"see `bench fid fetch`")
def test_real_weights(tmp_path):
    ext = Extractor.load(REAL_FID_WEIGHTS)
    assert ext.standard, f"{REAL_FID_WEIGHTS} has SHA-256 {ext.sha256}, not 6726825d..."
    faces = _faces()
    real = compare(faces[50:], faces[:50], ext)
    noise = compare(_noise(50), faces[:50], ext)
    assert 0 < real["fid"] < noise["fid"] and noise["fid"] > 100
