"""Numeric precision on this machine: whether bf16 autocast is faster than fp32 here (AMX,
or AVX512-BF16 where a timed generator step says so; measured once per CPU model and kept),
and the autocast context a run trains in."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

import torch

from bench.core.nets import Generator
from bench.runtime.io import (
    atomic_write_json,
)
from bench.runtime.machine import cpu_flags, cpu_info

#: bf16 autocast becomes the CPU default where a generator step runs at least this much faster
BF16_MIN_SPEEDUP = 1.15


def bf16_probe() -> dict:
    """Time a DCGAN generator step (32 px, ngf 32, batch 64, forward + backward + SGD) in fp32
    and in bf16 autocast, interleaved, and return the medians and their ratio."""


    torch.manual_seed(0)
    g = Generator(64, 3, 32, 32)
    opt = torch.optim.SGD(g.parameters(), lr=1e-3)
    z, x = torch.randn(64, 64), torch.rand(64, 3, 32, 32) * 2 - 1
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for rep in range(14):
        for precision in ("fp32", "bf16"):
            t = time.perf_counter()
            with autocast(precision, torch.device("cpu")):
                loss = (g(z).float() - x).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if rep >= 4:  # the first calls warm up both paths
                times[precision].append(time.perf_counter() - t)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    return {"fp32_s": med["fp32"], "bf16_s": med["bf16"], "speedup": med["fp32"] / med["bf16"]}


def cpu_bf16_is_fast() -> bool:
    """Whether bf16 autocast is faster than fp32 on this CPU. With AMX tiles: yes. Without
    AVX512-BF16 or AMX: no (torch emulates bf16, 20-30x slower than fp32). With AVX512-BF16 but
    no AMX it depends on the chip -- a 2-core Xeon ran a DCGAN generator step 0.68-0.82x fp32's
    speed, a 2-core AMD EPYC 1.4-1.7x (docs/performance.md) -- so it is measured once per CPU
    model, torch build and thread count (bf16_probe, about a second), and the answer is kept
    in the decode cache's folder (cpu_precision.json), so every run on the machine agrees."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        if probe is not None and probe():
            return True
    except RuntimeError:
        pass
    flags = cpu_flags()
    if "avx512_bf16" not in flags:
        return False
    return cached_bf16_probe()["speedup"] >= BF16_MIN_SPEEDUP


def cached_bf16_probe() -> dict:
    """bf16_probe's answer for this machine, measured once and kept (see cpu_bf16_is_fast)."""


    base = Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "glo-bench")
    model = cpu_info()["model"]
    key = hashlib.sha256(json.dumps([model, sorted(cpu_flags()), torch.__version__,
                                     torch.get_num_threads()]).encode()).hexdigest()[:16]
    path = base / "cpu_precision.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = {**bf16_probe(), "cpu": model, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "min_speedup": BF16_MIN_SPEEDUP}
        try:
            atomic_write_json(path, known)
        except OSError:
            pass  # an unwritable cache: measured again next time
    return known[key]


def default_precision(device: str | torch.device) -> str:
    """bf16 autocast on CUDA and on CPUs where it is faster (AMX; AVX512-BF16 where measured
    faster, cpu_bf16_is_fast); fp32 elsewhere."""
    kind = torch.device(device).type
    if kind == "cuda" or (kind == "cpu" and cpu_bf16_is_fast()):
        return "bf16"
    return "fp32"


def autocast(precision: str, device: torch.device):
    """bf16 autocast for precision "bf16", else nothing (fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
