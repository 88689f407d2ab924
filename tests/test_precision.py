"""Precision: bf16 autocast by default only where it is faster (AMX, or a measured AVX512-BF16
CPU); fp32 always selectable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bench.core.precision as context
from bench.config.resolve import resolve
from bench.config.spec import RunSpec
from bench.core.context import RunContext
from bench.core.losses import LossSpec
from bench.core.model import TrainData
from bench.core.precision import default_precision
from bench.data import get_dataset, load_split
from glo import GLOModel
from glo.settings import GLOSettings


@pytest.mark.parametrize("native", [False, True])
def test_cpu_default_follows_native_bf16_and_fp32_stays_selectable(monkeypatch, native):
    monkeypatch.setattr(context, "cpu_bf16_is_fast", lambda: native)
    assert default_precision("cpu") == ("bf16" if native else "fp32")
    assert default_precision("cuda") == "bf16"
    cfg = resolve(RunSpec("lfw25"), "glo-lap1-pca", 80, 32)
    assert cfg.precision == ("bf16" if native else "fp32")
    assert resolve(RunSpec("lfw25", precision="fp32"), "glo-lap1-pca", 80, 32).precision == "fp32"
    assert resolve(RunSpec("lfw25", precision="bf16"), "glo-lap1-pca", 80, 32).precision == "bf16"


def test_bf16_training_and_inversion_run_in_bf16_and_land_near_fp32(tmp_path):
    faces = TrainData.from_array(np.array(load_split(get_dataset("lfw25"), "train", None,
                                                     tmp_path / "c").images))
    s = GLOSettings(d=8, epochs=3, batch_size=40, ngf=8, loss=LossSpec("lap1"), init="pca")
    seen: dict[str, set] = {"fp32": set(), "bf16": set()}
    out = {}
    for precision in ("fp32", "bf16"):
        model = GLOModel(s, (1, 32, 32))
        model.generator.register_forward_hook(
            lambda m, i, o, precision=precision: seen[precision].add(o.dtype))
        ctx = RunContext(None, quiet=True, precision=precision)
        model.fit(faces, ctx)
        assert model.precision == precision
        x = faces.batch(torch.arange(8))
        x_hat, _ = model.reconstruct(x)  # held-out inversion, in the model's precision
        out[precision] = (ctx.curves[-1]["loss"], float((x_hat - x).pow(2).mean()))
    # each run computed in its own precision: no bf16 in the fp32 run, bf16 in the bf16 one
    # (where its generator ran outside autocast -- batch-norm recalibration -- it is fp32)
    assert seen["fp32"] == {torch.float32}, seen
    assert torch.bfloat16 in seen["bf16"], seen
    assert all(np.isfinite(v) for pair in out.values() for v in pair)
    assert abs(out["bf16"][0] - out["fp32"][0]) < 0.2 * out["fp32"][0], out


def test_the_measured_default_is_kept_per_machine(monkeypatch, tmp_path):
    """Without AMX but with AVX512-BF16 the default comes from a timed generator step, taken
    once and kept in the cache folder: a second call reads it (no second measurement), and a
    machine where bf16 was slower gets fp32."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(context, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    calls = []

    def probe(speedup):
        def run():
            calls.append(1)
            return {"fp32_s": 1.0, "bf16_s": 1.0 / speedup, "speedup": speedup}
        return run

    monkeypatch.setattr(context, "bf16_probe", probe(0.7))  # a Xeon without AMX
    assert context.default_precision("cpu") == "fp32"
    monkeypatch.setattr(context, "bf16_probe", probe(1.6))  # kept: not measured again
    assert context.default_precision("cpu") == "fp32" and len(calls) == 1
    (tmp_path / "cpu_precision.json").unlink()
    assert context.default_precision("cpu") == "bf16" and len(calls) == 2
    monkeypatch.setattr(context, "cpu_flags", lambda: {"avx2"})  # bf16 emulated: never probed
    assert context.default_precision("cpu") == "fp32" and len(calls) == 2


def test_the_real_probe_times_both_precisions():
    out = context.bf16_probe()
    assert out["fp32_s"] > 0 and out["bf16_s"] > 0
    assert out["speedup"] == pytest.approx(out["fp32_s"] / out["bf16_s"])
