"""`--set KEY=VALUE`: typed and validated from the settings dataclasses, applied to the methods
that have the key, recorded in config.json and the run id, shown in the report."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from bench.cli import main
from bench.config.overrides import validate
from bench.config.resolve import resolve
from bench.config.spec import Overrides, RunSpec, parse_assignments
from bench.runtime.errors import BenchError


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def cfg(method: str, *sets: str, **ov):
    return resolve(RunSpec("celeba64", overrides=Overrides(sets=parse_assignments(sets), **ov)),
                   method, 10_000, 64)


def test_values_reach_nested_fields_with_their_types():
    c = cfg("glo-lap1-pca", "lr_z=30", "ngf=16", "invert.steps=40", "loss.lap.weight_base=2",
            "init=random", "eval.train_n=123", "eval.lap.level_norm=mean")
    assert c.model.lr_z == 30.0 and isinstance(c.model.lr_z, float)
    assert c.model.ngf == 16 and c.model.invert.steps == 40 and c.model.init == "random"
    assert c.model.loss.lap.weight_base == 2.0 and c.model.loss.name == "lap1"
    assert c.eval.train_n == 123 and c.eval.lap.level_norm == "mean"
    # recorded typed, so lr_z=30 and lr_z=30.0 are one run; invert.steps stands for a flag
    # (--invert-steps) and is not listed: its value is in the config like the flag's
    assert c.overrides == ("eval.lap.level_norm=mean", "eval.train_n=123", "init=random",
                           "loss.lap.weight_base=2.0", "lr_z=30.0", "ngf=16")
    assert cfg("glo-lap1-pca", "lr_z=30.0").overrides == cfg("glo-lap1-pca", "lr_z=3e1").overrides
    # the same settings in another order are the same run (a sweep spec's grid keys reordered
    # must not train its finished points again); a key given twice: the last value wins
    assert cfg("glo-mse-pca", "weight_init=default", "lr_g=0.3", "lr_z=30").to_dict() \
        == cfg("glo-mse-pca", "lr_z=30", "lr_g=0.3", "weight_init=default").to_dict()
    assert cfg("glo-mse-pca", "lr_z=3", "lr_g=0.3", "lr_z=30").overrides == ("lr_g=0.3", "lr_z=30.0")
    assert cfg("vae-mse", "kl_weight=0.5").model.kl_weight == 0.5


def test_shorthand_keys_behave_like_their_flags():
    by_set, by_flag = cfg("glo-mse-pca", "steps=500"), cfg("glo-mse-pca", steps=500)
    assert by_set == by_flag and by_set.model.plateau == 0.0  # the same run
    assert cfg("gan-mse", "invert.steps=33").model.invert.steps == 33
    assert cfg("glo-mse-pca", "epochs=3", epochs=9).model.epochs == 3  # --set wins over the flag
    with pytest.raises(BenchError, match="not both"):
        cfg("glo-mse-pca", "epochs=3", "steps=10")


@pytest.mark.parametrize("item, message", [
    ("nosuch=1", "unknown key 'nosuch' for glo; valid keys: batch_size, d, epochs"),
    ("ngf=abc", "ngf expects int, not 'abc'"),
    ("lr_z=fast", "lr_z expects float"),
    ("init=zeros", "init expects one of random, pca"),
    ("ngf", "--set expects KEY=VALUE"),
    ("eval.heldout=lfw64", "use --heldout"),
])
def test_bad_assignments_are_one_line_errors(item, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(")):
        validate(parse_assignments([item]), ["glo-mse-pca"])
    r = invoke("run", "--dataset", "lfw25", "--model", "glo-mse-pca", "--set", item)
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1


def test_a_key_some_methods_lack_applies_to_the_others_only():
    a = parse_assignments(["lr_z=30", "ngf=16"])
    assert validate(a, ["pca", "glo-mse-pca", "gan-mse"]) == {
        "lr_z": ("pca", "gan-mse"), "ngf": ("pca",)}
    assert cfg("pca", "lr_z=30", "ngf=16").overrides == ()
    assert cfg("gan-mse", "lr_z=30", "ngf=16").overrides == ("ngf=16",)
    with pytest.raises(BenchError, match="unknown key 'lr_z' for pca"):
        validate(parse_assignments(["lr_z=3"]), ["pca"])


def test_run_trains_with_the_values_records_them_and_gets_its_own_id(tmp_path):
    out, cache = tmp_path / "runs", tmp_path / "cache"
    common = ("run", "--dataset", "lfw25", "--out", out, "--cache-dir", cache, "--quiet",
              "--steps", 4, "--eval-train-n", 8, "--eval-test-n", 8)
    assert invoke(*common, "--model", "glo-mse-pca").exit_code == 0
    r = invoke(*common, "--model", "glo-mse-pca", "--model", "pca",
               "--set", "lr_z=30", "--set", "ngf=16")
    assert r.exit_code == 0, r.output
    assert "--set lr_z applies to glo-mse-pca only; pca ignore it" in r.output
    glo = sorted((out / "lfw25").glob("glo-mse-pca-*"))
    assert len(glo) == 2  # the default run and the overridden one have different ids
    configs = {d: json.loads((d / "config.json").read_text())["config"] for d in glo}
    (changed,) = [d for d, c in configs.items() if c["overrides"]]
    c = configs[changed]
    assert c["overrides"] == ["lr_z=30.0", "ngf=16"] and c["model"]["lr_z"] == 30.0
    assert c["model"]["ngf"] == 16
    (default,) = [d for d in glo if d != changed]

    def first_width(run) -> int:  # output channels of the generator's first layer
        state = torch.load(run / "model.pt", weights_only=True)["generator"]
        return next(v for k, v in state.items() if k.endswith("weight")).shape[1]

    # the generator really is 16 wide: half the cpu profile's 32 (4 x ngf at 32 px)
    assert first_width(changed) == 4 * 16 and first_width(default) == 4 * 32
    assert "--set: lr_z=30.0, ngf=16" in (changed / "log.txt").read_text()
    pca_log = next((out / "lfw25").glob("pca-*/log.txt")).read_text()
    assert "--set lr_z=30 does not apply to pca" in pca_log
    # the report (of the newest run of each method) shows them in its settings table
    assert invoke("report", "--runs", out, "--out", tmp_path / "rep", "--dataset", "lfw25",
                  "--allow-mixed").exit_code == 0
    page = (tmp_path / "rep" / "lfw25" / "index.html").read_text()
    assert "lr_z=30.0, ngf=16" in page


def test_keys_lists_every_key_with_type_and_value():
    r = invoke("keys", "--model", "vae-lap1")
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("kl_weight"))
    assert "float" in line and "1.0" in line
    assert any(x.startswith("eval.codes_check_n") for x in r.output.splitlines())
