"""`bench perf peak`: how close each family's training step gets to what this machine can do.

For the GLO step, the GAN step (D then G), the VAE step and one inversion step, all through
the models' real modules and their own ``train_step`` (inversion: bench.inversion.invert):
images per second, FLOPs per image counted by ``torch.utils.flop_counter`` on one real step
(forward and backward, convolutions and matmuls; batch norm, activations and the optimiser
are not counted, so the fraction is a lower bound on the work done), the FLOP/s reached, and
that over the peak the same process measures: a 2048 x 2048 matmul at the same precision. The
output names the CPU's matrix features, which decide that peak (AMX tiles: bf16 on matrix
units; AVX512-BF16: bf16 dot products in vector registers; AVX2/AVX512F: fp32 FMA).
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from baselines.dcgan.settings import GANSettings
from baselines.vae.settings import VAESettings
from bench.core.context import RunContext
from bench.core.inversion import invert, project_unit_ball
from bench.core.losses import LossSpec, ReconLoss
from bench.core.model import TrainData
from bench.core.nets import Generator
from bench.core.precision import autocast, default_precision
from bench.core.trainer import Batch
from bench.runs.registry import MODELS
from bench.runtime.machine import cpu_info
from glo.settings import GLOSettings


def cpu_features() -> dict:
    """Model name, the matrix-relevant flags of /proc/cpuinfo, torch's SIMD level, threads."""
    info = cpu_info()
    return {"cpu": info["model"], "flags": list(info["flags"]),
            "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, min_seconds: float, warmup: int = 2) -> float:
    """Seconds per call: the median of repeated timings after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times) < 3:
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def matmul_peak(device: torch.device, precision: str, sizes: tuple[int, ...] = (512, 1024, 2048, 4096),
                min_seconds: float = 1.0) -> float:
    """The best FLOP/s of square matmuls at ``precision`` on ``device`` (each size's fastest
    call, the best size): the peak a step is held to. A peak is what the machine can do, so
    the best repeat counts, not the median (a shared host's noise only lowers it)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    g = torch.Generator().manual_seed(0)
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, generator=g).to(device, dtype)
        b = torch.randn(n, n, generator=g).to(device, dtype)
        for _ in range(2):
            a @ b
        _sync(device)
        fastest, start = float("inf"), time.perf_counter()
        while time.perf_counter() - start < min_seconds:
            t = time.perf_counter()
            a @ b
            _sync(device)
            fastest = min(fastest, time.perf_counter() - t)
        best = max(best, 2.0 * n**3 / fastest)
    return best


def count_flops(fn) -> float:
    """FLOPs of one call of ``fn`` (forward and backward), by torch's flop counter."""

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def bench_model(family: str, device: torch.device, precision: str, resolution: int, ngf: int,
                batch: int, n: int = 512):
    """(model, data, context) of ``family`` ready for its real train_step, outside the Trainer:
    n seeded random images, the same weights each call (seeded init), optimisers built."""

    settings = {"glo": GLOSettings(d=256, batch_size=batch, ngf=ngf, init="random",
                                   loss=LossSpec("lap1")),
                "gan": GANSettings(d=256, batch_size=batch, ngf=ngf, ndf=ngf),
                "vae": VAESettings(d=256, batch_size=batch, ngf=ngf, ndf=ngf)}[family]
    torch.manual_seed(0)
    images = torch.randint(0, 256, (n, 3, resolution, resolution), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    data = TrainData.from_array(images.numpy(), device)
    model = MODELS[family](settings, (3, resolution, resolution), str(device))
    ctx = RunContext(None, device=str(device), precision=precision, quiet=True)
    model.train_data, model.precision = data, precision
    model.optimizers = model.make_optimizers()
    model.begin(data, ctx)
    model.train_nets = model.nets()
    return model, data, ctx


def _steppers(family: str, device: torch.device, precision: str, resolution: int, ngf: int,
              batch: int, n: int = 512):
    """(one training step, images per step) of ``family`` through its real train_step."""

    model, data, ctx = bench_model(family, device, precision, resolution, ngf, batch, n)
    gen = torch.Generator().manual_seed(1)
    batches = list(data.epoch_batches(batch, gen))
    state = {"i": 0}

    def step():
        idx = batches[state["i"] % len(batches)]
        state["i"] += 1
        model.train_step(Batch(idx, data.batch(idx), gen, state["i"]), ctx)

    return step, model


INVERSION_STEPS = 4


def _inversion_step(device: torch.device, precision: str, resolution: int, ngf: int,
                    batch: int):
    """(bench.inversion.invert for INVERSION_STEPS Adam steps, both restarts running every
    step; the same work written out as one step, for the flop counter, whose module tracker
    trips over invert's final no-grad decode of codes that require grad)."""

    torch.manual_seed(0)
    g = Generator(256, 3, resolution, ngf).to(device).eval()
    x = torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(0))
    x = (x * 2 - 1).to(device)
    loss = ReconLoss(LossSpec("mse")).to(device)

    def run():
        invert(g, x, loss, lambda m, gen: torch.randn(m, 256, generator=gen), project_unit_ball,
               steps=INVERSION_STEPS, lr=0.05, restarts=2, batch_size=batch, seed=1,
               keep_best_after=1.0, converged_rel=0.0,
               autocast=lambda: autocast(precision, device))

    def one_step():  # what each of those steps computes: both restarts' codes, G frozen
        z = torch.randn(2 * batch, 256, device=device, requires_grad=True)
        with autocast(precision, device):
            value = loss(g(z), x.repeat(2, 1, 1, 1)).sum()
        value.backward()

    return run, one_step


def measure_steps(device: str = "cpu", precisions: tuple[str, ...] | None = None,
                  resolution: int = 64, widths: tuple[int, ...] = (32, 64), batch: int = 64,
                  families: tuple[str, ...] = ("glo", "gan", "vae", "inversion"),
                  min_seconds: float = 3.0, log=print) -> dict:
    """The table: one row per (family, width, precision)."""
    dev = torch.device(device)
    default = default_precision(dev)
    precisions = precisions or tuple(dict.fromkeys((default, "fp32", "bf16")))
    features = cpu_features() if dev.type == "cpu" else {
        "gpu": torch.cuda.get_device_name(dev)}
    log(f"machine: {features}")
    peaks = {p: matmul_peak(dev, p) for p in precisions}
    for p, v in peaks.items():
        log(f"peak ({p} matmul, best of 512-4096): {v / 1e9:,.0f} GFLOP/s")
    rows = []
    for family in families:
        for ngf in widths:
            for p in precisions:
                if family == "inversion":  # an "image" is one image's step, both restarts
                    step, counted = _inversion_step(dev, p, resolution, ngf, batch)
                    per_step = batch * INVERSION_STEPS
                    flops = count_flops(counted) / batch
                else:
                    step, _model = _steppers(family, dev, p, resolution, ngf, batch)
                    per_step = batch
                    flops = count_flops(step) / per_step
                seconds = _timed(step, dev, min_seconds)
                img_s = per_step / seconds
                row = {"family": family, "ngf": ngf, "resolution": resolution, "batch": batch,
                       "precision": p, "default_precision": p == default, "img_s": img_s,
                       "gflop_per_img": flops / 1e9, "gflop_s": img_s * flops / 1e9,
                       "peak_gflop_s": peaks[p] / 1e9,
                       "fraction_of_peak": img_s * flops / peaks[p]}
                rows.append(row)
                log(f"{family:<9} ngf {ngf:<3} {p:<4}: {img_s:7.0f} img/s x "
                    f"{row['gflop_per_img']:.3f} GFLOP = {row['gflop_s']:6.0f} GFLOP/s, "
                    f"{row['fraction_of_peak']:.0%} of the {p} peak "
                    f"({row['peak_gflop_s']:,.0f})" + ("  [default]" if p == default else ""))
    again = {p: matmul_peak(dev, p) for p in precisions}  # the machine may have sped up
    for p in precisions:
        if again[p] > peaks[p]:
            log(f"peak ({p}) measured again after the steps: {again[p] / 1e9:,.0f} GFLOP/s; "
                f"fractions below use the higher")
            for r in rows:
                if r["precision"] == p:
                    r["peak_gflop_s"] = again[p] / 1e9
                    r["fraction_of_peak"] = r["gflop_s"] * 1e9 / again[p]
            peaks[p] = again[p]
    return {"name": "each family's training step (and one inversion step) against this "
                    "machine's matmul peak at the same precision",
            "machine": features, "default_precision": default,
            "peaks_gflop_s": {p: v / 1e9 for p, v in peaks.items()}, "rows": rows}
