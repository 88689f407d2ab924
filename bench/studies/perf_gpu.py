"""`bench perf gpu`: training images/s of GLO, VAE and DCGAN at 64 and 128 px, through the
models' real fit() on data resident on the device, in the straightforward setting (fp32,
NCHW) and ours (bf16 autocast + channels_last: what `bench run --device cuda` uses), side
by side; and the fraction of the chip's
dense bf16 peak that the generator's analytically counted FLOPs reach.

Made for a GPU (about 5 minutes on one H100); on CPU it runs the same code at a small size
(`tests/test_perf_gpu.py` keeps that path correct where no GPU is lent).
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
from torch import nn

from baselines.dcgan.settings import GANSettings
from baselines.vae.settings import VAESettings
from bench.core.context import RunContext
from bench.core.losses import LossSpec
from bench.core.model import TrainData
from bench.core.nets import Generator
from bench.runs.registry import MODELS
from glo.settings import GLOSettings

# dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from the vendors' data sheets
BF16_PEAK = {"H100 80GB HBM3": 989e12, "H100 SXM": 989e12, "H100 PCIe": 756e12,
             "H100 NVL": 835e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def bf16_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in BF16_PEAK.items():
        if key in name:
            return peak
    return None


def generator_flops(d: int, channels: int, resolution: int, ngf: int) -> float:
    """Forward + backward FLOPs per image of the DCGAN generator, counted layer by layer:
    a transposed conv costs 2 * C_in * C_out * k * k * H_in * W_in forward, twice that
    backward (input and weight gradients); batch norm and activations are left out."""
    g = Generator(d, channels, resolution, ngf)
    shapes: list[tuple[nn.ConvTranspose2d, tuple[int, ...]]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((m, tuple(i[0].shape))))
             for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    with torch.no_grad():
        g(torch.zeros(1, d))
    for h in hooks:
        h.remove()
    fwd = 0.0
    for m, (_, c_in, h_in, w_in) in shapes:
        k = m.kernel_size[0] * m.kernel_size[1]
        fwd += 2.0 * c_in * m.out_channels * k * h_in * w_in
    return 3.0 * fwd


def _settings(family: str, resolution: int, batch: int, precision_loss: str):
    loss = LossSpec(precision_loss)
    if family == "glo":
        return GLOSettings(d=256, epochs=1, batch_size=batch, loss=loss, init="random")
    if family == "vae":
        return VAESettings(d=256, epochs=1, batch_size=batch, loss=loss)
    return GANSettings(d=256, epochs=1, batch_size=batch, loss=loss)


class EpochClock(RunContext):
    """A RunContext that timestamps the end of every epoch (after the device is idle)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stamps: list[float] = []

    def record(self, **values) -> None:
        _sync(self.device)
        self.stamps.append(time.perf_counter())
        super().record(**values)


def train_rate(family: str, images: torch.Tensor, batch: int, precision: str,
               channels_last: bool, epochs: int = 4) -> float:
    """Images/s of model.fit, from the median epoch after the first (warm-up) one."""
    data = TrainData(images.contiguous(memory_format=torch.channels_last) if channels_last
                     else images)
    shape = tuple(images.shape[1:])
    s = replace(_settings(family, shape[-1], batch, "mse"), epochs=epochs)
    model = MODELS[family](s, shape, str(images.device))
    layout = torch.channels_last if channels_last else torch.contiguous_format
    for net in vars(model).values():  # the models choose channels_last on GPUs: override
        if isinstance(net, nn.Module):
            net.to(memory_format=layout)
    ctx = EpochClock(None, device=str(images.device), precision=precision, quiet=True)
    model.fit(data, ctx)
    per_epoch = sorted(b - a for a, b in zip(ctx.stamps[:-1], ctx.stamps[1:], strict=True))
    images_per_epoch = (len(data) // batch) * batch  # the last partial batch is one step more
    return images_per_epoch / per_epoch[len(per_epoch) // 2]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_gpu(device: str = "cuda", resolutions: tuple[int, ...] = (64, 128), batch: int = 128,
              n_images: int = 128 * 40, families: tuple[str, ...] = ("glo", "vae", "gan"),
              log=print) -> dict:
    dev = torch.device(device)
    peak = bf16_peak(dev)
    rows = []
    for res in resolutions:
        images = torch.randint(0, 256, (n_images, 3, res, res), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0)).to(dev)
        g_flops = generator_flops(256, 3, res, 64)
        for family in families:
            base = train_rate(family, images, batch, "fp32", channels_last=False)
            ours = train_rate(family, images, batch, "bf16", channels_last=True)
            row = {"family": family, "resolution": res, "batch": batch,
                   "fp32_img_s": base, "bf16_channels_last_img_s": ours, "ratio": ours / base,
                   "generator_gflop_per_img": g_flops / 1e9,
                   "generator_tflop_s": ours * g_flops / 1e12,
                   "fraction_of_bf16_peak": None if peak is None else ours * g_flops / peak}
            rows.append(row)
            log(f"{family} {res}px: fp32 {base:.0f} img/s, bf16+channels_last {ours:.0f} img/s "
                f"({ours / base:.2f}x); generator {row['generator_tflop_s']:.2f} TFLOP/s"
                + ("" if peak is None else f" = {row['fraction_of_bf16_peak']:.1%} of peak"))
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    ratios = [r["ratio"] for r in rows]
    return {"name": f"training images/s on {name}, fp32 NCHW vs bf16 autocast + channels_last",
            "device": name, "bf16_peak_flops": peak, "rows": rows,
            "ours": max(r["bf16_channels_last_img_s"] for r in rows),
            "baseline": max(r["fp32_img_s"] for r in rows),
            "ratio": min(ratios), "target": "bf16 + channels_last >= fp32 everywhere",
            "ok": min(ratios) >= 1.0}
