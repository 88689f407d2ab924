"""The GPU benchmark's code path, run small on the CPU (where no GPU is lent, this is what
keeps it correct)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.core.nets import Generator
from bench.studies.perf_gpu import bench_gpu, generator_flops


def test_analytic_generator_flops_equal_torch_flop_counter():
    for res, ngf in ((32, 16), (64, 64), (128, 64)):
        g = Generator(256, 3, res, ngf)
        z = torch.randn(2, 256, requires_grad=True)
        with FlopCounterMode(display=False) as counter:
            g(z).sum().backward()
        # z requires grad, so every layer has an input gradient and a weight gradient:
        # backward = 2x forward, as the analytic count assumes (batch norm is left out)
        assert abs(counter.get_total_flops() / 2 - generator_flops(256, 3, res, ngf)) \
            <= 0.01 * generator_flops(256, 3, res, ngf)


@pytest.mark.slow
def test_gpu_benchmark_runs_every_family_through_fit_on_cpu():
    out = bench_gpu("cpu", resolutions=(32,), batch=16, n_images=64, log=lambda m: None)
    assert {(r["family"], r["resolution"]) for r in out["rows"]} == \
        {("glo", 32), ("vae", 32), ("gan", 32)}
    for r in out["rows"]:
        assert r["fp32_img_s"] > 0 and r["bf16_channels_last_img_s"] > 0
        assert r["fraction_of_bf16_peak"] is None  # no peak for a CPU
    assert out["device"] == "cpu"
