"""bench sweep: spec parsing and validation, run identity (a point's runs are `bench run --set`'s),
skip and resume on a second call, the table and plot, the ratio column, and a sweep over the
budget that trains each point on from the shorter one's checkpoint, bitwise as a direct run."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.runs.sweep import load_spec
from bench.runtime.errors import BenchError

EVAL = ("--eval-train-n", "8", "--eval-test-n", "8")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def write(tmp_path, text: str):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


SPEC = """
name = "t"
dataset = "lfw25"
methods = ["glo-mse-pca"]
seeds = [0, 1]
out = "{out}"
report = "{rep}"
[set]
steps = 4
[grid]
d = [8, 16]
[[points]]
label = "slow codes"
lr_z = 1.0
[[points]]
lr_z = 30
[run]
eval_train_n = 8
eval_test_n = 8
"""


def test_spec_file_expands_grid_times_points(tmp_path):
    spec = load_spec(write(tmp_path, SPEC.format(out=tmp_path / "r", rep=tmp_path / "p")))
    pts = spec.expand()
    assert [p.label for p in pts] == ["slow codes, d=8", "d=8, lr_z=30", "slow codes, d=16",
                                      "d=16, lr_z=30"]
    assert [str(a) for a in pts[1].assignments] == ["steps=4", "d=8", "lr_z=30"]
    assert spec.source.startswith("bench sweep run ")


def test_labelled_points_across_a_grid_are_separate_rows(tmp_path):
    """A listed point's label is shared by every grid combination it is crossed with: the
    table must still give each combination its own row, not pool them as if they were seeds."""
    text = SPEC.format(out=tmp_path / "r", rep=tmp_path / "p").replace("seeds = [0, 1]", "seeds = [0]")
    r = invoke("sweep", "run", write(tmp_path, text), "--cache-dir", tmp_path / "c")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "p" / "table.csv").open()))
    assert [(row["point"], row["d"], row["seeds"]) for row in rows] == [
        ("slow codes, d=8", "8", "1/1"), ("d=8, lr_z=30", "8", "1/1"),
        ("slow codes, d=16", "16", "1/1"), ("d=16, lr_z=30", "16", "1/1")]
    assert len({row["runs"] for row in rows}) == 4


@pytest.mark.parametrize("change, message", [
    ('name = "t"', "missing key 'name'"),
    ("[grid]", "unknown key(s) grid2"),
    ("d = [8, 16]", "grid key 'd' needs a list"),
    ("lr_z = 30", "lr_z expects float, not 'fast'"),
    ("eval_train_n = 8", "unknown [run] key(s) epochs_x"),
    ('methods = ["glo-mse-pca"]', "unknown method 'glo'"),
    ("d = [8, 16]", "unknown key 'nosuch' for glo"),
])
def test_bad_specs_name_the_file_and_the_key(tmp_path, change, message):
    replacement = {
        'name = "t"': "", "[grid]": "[grid2]", "d = [8, 16]": "d = 8",
        "lr_z = 30": 'lr_z = "fast"', "eval_train_n = 8": "epochs_x = 8",
        'methods = ["glo-mse-pca"]': 'methods = ["glo"]',
    }[change]
    if message.startswith("unknown key 'nosuch'"):
        replacement = "nosuch = [1, 2]"
    text = SPEC.format(out=tmp_path / "r", rep=tmp_path / "p").replace(change, replacement, 1)
    path = write(tmp_path, text)
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        load_spec(path)
    r = invoke("sweep", "run", path, "--dry-run")
    assert r.exit_code == 2 and message in r.output


def test_grid_2x2_with_2_seeds_runs_once_writes_table_and_plot(tmp_path):
    out, rep, cache = tmp_path / "runs", tmp_path / "rep", tmp_path / "cache"
    args = ("sweep", "run", "--dataset", "lfw25", "--model", "glo-mse-pca", "--grid", "d=8,16",
            "--grid", "lr_z=10,30", "--seeds", "0,1", "--set", "steps=4", "--out", out,
            "--report-dir", rep, "--cache-dir", cache, *EVAL)
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert "8 runs, 0 already complete, 8 run now" in r.output
    rows = list(csv.DictReader((rep / "table.csv").open()))
    assert [(row["d"], row["lr_z"], row["seeds"]) for row in rows] == [
        ("8", "10", "2/2"), ("8", "30", "2/2"), ("16", "10", "2/2"), ("16", "30", "2/2")]
    assert (rep / "plot.png").read_bytes()[:4] == b"\x89PNG"
    md = (rep / "table.md").read_text()
    assert ("Regenerate: `bench sweep run --name d-lr_z --dataset lfw25 --model glo-mse-pca "
            "--grid d=8,16 --grid lr_z=10,30 --set steps=4 --seeds 0,1") in md
    sweep = json.loads((rep / "sweep.json").read_text())
    assert len(sweep["runs"]) == 8 and all(r["code"]["source_sha256"] for r in sweep["runs"])
    # each row's mean is the mean of its two runs' stored train MSE
    for row in rows:
        runs = [json.loads(next(out.glob(f"lfw25/{name}/metrics.json")).read_text())
                for name in row["runs"].split()]
        assert float(row["train_mse mean"]) == pytest.approx(
            sum(m["train"]["mse"] for m in runs) / 2, rel=1e-9)
        configs = [json.loads(next(out.glob(f"lfw25/{name}/config.json")).read_text())["config"]
                   for name in row["runs"].split()]
        assert {c["model"]["d"] for c in configs} == {int(row["d"])}
        assert {c["seed"] for c in configs} == {0, 1}
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("lfw25/*/metrics.json")}
    again = invoke(*args)
    assert again.exit_code == 0 and "8 runs, 8 already complete, 0 run now" in again.output
    assert {p: p.stat().st_mtime_ns for p in out.glob("lfw25/*/metrics.json")} == mtimes
    # a point's runs are the runs `bench run --set` makes: the same ids, found complete
    same = invoke("run", "--dataset", "lfw25", "--model", "glo-mse-pca", "--set", "d=16",
                  "--set", "lr_z=30", "--steps", 4, "--seed", 1, "--out", out,
                  "--cache-dir", cache, *EVAL)
    assert same.exit_code == 0 and "already complete" in same.output
    # an interrupted run (its results lost, its checkpoint kept) is resumed, the others skipped
    victim = next(out.glob("lfw25/*/metrics.json"))
    victim.unlink()
    (victim.parent / "status.json").write_text(json.dumps({"state": "running"}))
    third = invoke(*args)
    assert third.exit_code == 0 and "8 runs, 7 already complete, 1 run now" in third.output
    assert "resuming from" in (victim.parent / "log.txt").read_text()


def test_budget_sweep_trains_each_point_on_from_the_shorter_one(tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    # lfw25's 80 images in batches of 40: 2 steps an epoch; 4 and 8 steps end on epoch ends
    r = invoke("sweep", "run", "--dataset", "lfw25", "--model", "glo-mse-pca", "--grid",
               "steps=4,8", "--set", "batch_size=40", "--out", out, "--report-dir",
               tmp_path / "rep", "--cache-dir", cache, *EVAL)
    assert r.exit_code == 0, r.output
    longer = next(d for d in (out / "lfw25").iterdir()
                  if json.loads((d / "config.json").read_text())["config"]["model"]["steps"] == 8)
    assert "training reused from" in (longer / "log.txt").read_text()
    timing = json.loads((longer / "metrics.json").read_text())["timing"]
    assert timing["training_reused_from"] != longer.name
    shorter = out / "lfw25" / timing["training_reused_from"]
    shorter_fit = json.loads((shorter / "metrics.json").read_text())["timing"]["fit_s"]
    # the table's fit_s of the longer point is all the training behind its model: the shorter
    # point's steps it trained on from, plus its own (a session once read 4 epochs' seconds
    # as 10 epochs' from a table that counted only the last stretch)
    rows = {row["steps"]: row for row in csv.DictReader((tmp_path / "rep" / "table.csv").open())}
    assert float(rows["8"]["fit_s"]) == pytest.approx(timing["fit_s"] + shorter_fit, rel=1e-3)
    assert float(rows["4"]["fit_s"]) == pytest.approx(shorter_fit, rel=1e-3)
    direct = invoke("run", "--dataset", "lfw25", "--model", "glo-mse-pca", "--steps", 8,
                    "--set", "batch_size=40", "--out", tmp_path / "direct", "--cache-dir", cache,
                    *EVAL)
    assert direct.exit_code == 0, direct.output
    (alone,) = (tmp_path / "direct" / "lfw25").iterdir()
    assert alone.name == longer.name  # the same run
    a = torch.load(longer / "model.pt", weights_only=True)
    b = torch.load(alone / "model.pt", weights_only=True)
    assert torch.equal(a["codes"], b["codes"])
    for k in a["generator"]:
        assert torch.equal(a["generator"][k], b["generator"][k]), k


def test_ratio_column_divides_by_the_baseline_of_the_same_seed(tmp_path):
    path = write(tmp_path, f"""
name = "ratio"
dataset = "lfw25"
methods = ["gan-lap1"]
ratio_to = "gan-mse"
out = "{tmp_path / 'runs'}"
report = "{tmp_path / 'rep'}"
[set]
steps = 4
"invert.steps" = 5
[[points]]
label = "equal"
[[points]]
label = "w1+0.1"
"loss.name" = "lap1+mse"
"loss.lap.weight_base" = 1.0
"loss.mse_weight" = 0.1
[run]
eval_train_n = 8
eval_test_n = 8
cache_dir = "{tmp_path / 'cache'}"
""")
    r = invoke("sweep", "run", path)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "rep" / "table.csv").open()))
    base = float(rows[0]["train_mse mean"])
    assert rows[0]["point"] == "baseline" and [x["point"] for x in rows[1:]] == ["equal", "w1+0.1"]
    for row in rows[1:]:
        assert float(row["/ gan-mse"]) == pytest.approx(float(row["train_mse mean"]) / base)
    logs = [p.read_text() for p in (tmp_path / "runs" / "lfw25").glob("gan-lap1-*/log.txt")]
    # one GAN trained: the baseline's; every point inverts it (reused from it or a sibling)
    assert len(logs) == 2 and all("training reused from gan-" in t for t in logs)
