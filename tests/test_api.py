"""The public Python API (bench.api), as a notebook uses it: a request, a run, its stored
results, Table 1 and the report, on the embedded LFW faces. What it returns is what the
command line prints from."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from bench import api
from bench.cli import main
from bench.runtime.errors import BenchError


def as_json(value):
    """As stored: tuples become lists."""
    return json.loads(json.dumps(value))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    spec = api.request("lfw25", ["pca", "glo-mse-pca"], out=out / "runs",
                       cache_dir=out / "cache", steps=20, precision="fp32", quiet=True,
                       sets={"eval.train_n": 40})
    return out, spec, api.run(spec, log=lambda _m: None)


def test_a_request_is_the_typed_spec_the_command_line_builds(tmp_path):
    spec = api.request("lfw25", "glo-lap1-pca", out=tmp_path, seed=3, steps=50,
                       sets={"lr_z": 30, "invert.steps": 40})
    assert spec.methods == ("glo-lap1-pca",) and spec.seed == 3
    assert spec.overrides.steps == 50
    assert [str(a) for a in spec.overrides.sets] == ["lr_z=30", "invert.steps=40"]
    assert api.request("lfw25", "all").methods == api.TABLE1_METHODS


@pytest.mark.parametrize("bad", [
    dict(methods="glo-huge"), dict(methods=()), dict(methods="pca", sets={"lr_zz": 1}),
    dict(methods="glo-mse-pca", sets={"lr_z": "fast"}), dict(methods="pca", colour="red")])
def test_a_bad_request_is_one_clear_error(bad):
    methods = bad.pop("methods")
    with pytest.raises(BenchError):
        api.request("lfw25", methods, **bad)


def test_run_returns_one_result_per_method_and_stores_them(store):
    out, spec, results = store
    assert [r.method for r in results] == ["pca", "glo-mse-pca"]
    assert all(r.state == "complete" for r in results)
    glo = results[1]
    assert glo.metrics["train"]["n"] == 40
    assert as_json(glo.metrics) == json.loads((glo.path / "metrics.json").read_text())
    again = api.run(spec, log=lambda _m: None)  # found, not redone
    assert [r.state for r in again] == ["skipped", "skipped"]
    assert [as_json(r.metrics) for r in again] == [as_json(r.metrics) for r in results]


def test_a_stored_run_loads_with_its_model(store):
    out, _spec, results = store
    run = api.load(results[1].path)
    assert run.method == "glo-mse-pca" and run.state == "complete"
    assert run.config["config"]["model"]["steps"] == 20
    model = run.model()
    x = torch.zeros(2, 1, 32, 32)
    x_hat, codes = model.reconstruct(x)
    assert x_hat.shape == x.shape and codes.shape == (2, run.config["config"]["model"]["d"])
    assert {r.method for r in api.runs(out / "runs", "lfw25")} == {"pca", "glo-mse-pca"}
    assert api.runs(out / "runs", "celeba64") == []
    with pytest.raises(BenchError, match="not a run folder"):
        api.load(out)


def test_table1_and_the_report_come_from_the_store(store, tmp_path):
    out, _spec, results = store
    table = api.table1("lfw25", out / "runs")
    assert isinstance(table, pd.DataFrame) and list(table["method"]) == list(api.TABLE1_METHODS)
    row = table.set_index("method").loc["glo-mse-pca"]
    assert row["train_mse"] == pytest.approx(results[1].metrics["train"]["mse"])
    assert table.set_index("method").loc["vae-mse", "state"] == "missing"
    written = api.report("lfw25", out / "runs", tmp_path, log=lambda _m: None)
    assert written.folder == tmp_path / "lfw25" and (written.folder / "index.html").is_file()
    assert "GLO, MSE, PCA init" in written.text
    # the command line prints what the API returns
    cli = CliRunner().invoke(main, ["report", "--dataset", "lfw25", "--runs", str(out / "runs"),
                                    "--out", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    assert written.text in cli.output


def test_the_families_are_the_four_built_in_ones_here():
    assert set(api.families()) >= {"pca", "gan", "vae", "glo"}
    assert api.families()["glo"].methods.keys() == {"glo-mse-random", "glo-mse-pca",
                                                    "glo-lap1-random", "glo-lap1-pca"}
