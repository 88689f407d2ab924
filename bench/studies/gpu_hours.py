"""Estimated GPU-hours per Table-1 configuration at the paper profile, from counted FLOPs.

FLOPs are counted by torch.utils.flop_counter on the real modules (generator, discriminator,
encoder, Lap1 pyramid; forward + backward) for one image, then multiplied by the images each
stage processes: training (the paper profile's step budget, 31,800 steps of 128 images on any
dataset: 25 epochs of the full CelebA, far less than 25 epochs of LSUN), evaluation inversions (steps x restarts x
images inverted) and decoding. GPU time = FLOPs / an assumed sustained rate (--tflops,
default 40 TFLOP/s: about 4% of an H100's dense bf16 peak. DCGAN-sized convolutions are
small (4x4 kernels, 3-512 channels) and reach a small fraction of peak; 40 is an assumption,
not a measurement -- `bench perf gpu` measures the real rate on your card, and every number
below scales with 1/rate). Python, optimizer and data overheads are not counted.

    bench gpu-hours [--tflops 40]
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from baselines.dcgan.settings import GANSettings
from baselines.vae.model import Encoder
from baselines.vae.settings import VAESettings
from bench.config.resolve import PAPER_STEPS
from bench.core.inversion import InversionSettings
from bench.core.losses import Lap1, LapSettings
from bench.core.nets import Discriminator, Generator
from glo.settings import GLOSettings

# training and evaluated images (train / test / held-out LFW test split) per dataset
DATASETS = {
    "celeba64": (64, 162_770, 19_962, 1_000),
    "celeba128": (128, 162_770, 19_962, 1_000),
    "lsun64": (64, 3_033_042, 300, 0),  # bedroom train; val (300) as test
}
METHODS = ("pca", "gan-mse", "gan-lap1", "vae-mse", "vae-lap1", "glo-mse-random",
           "glo-mse-pca", "glo-lap1-random", "glo-lap1-pca")


def flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def per_image_flops(res: int, batch: int = 8) -> dict[str, float]:
    """fwd+bwd FLOPs per image of each building block at ``res`` px (paper widths)."""
    d = 256
    g, disc, enc = Generator(d, 3, res, 64), Discriminator(3, res, 64), Encoder(3, res, d, 64)
    lap = Lap1(LapSettings())
    z = torch.randn(batch, d, requires_grad=True)
    x = torch.randn(batch, 3, res, res)

    def g_step():
        g(z).square().mean().backward()

    def d_step():
        disc(x).mean().backward()

    def e_step():
        enc(x)[0].mean().backward()

    def lap_step():
        y = x.clone().requires_grad_(True)
        lap(y, x).mean().backward()

    out = {k: flops(f) / batch for k, f in (("g", g_step), ("d", d_step), ("e", e_step),
                                            ("lap", lap_step))}
    z_plain = z.detach()
    out["g_fwd"] = flops(lambda: g(z_plain).detach()) / batch
    return out


def estimate(dataset: str, method: str, f: dict[str, float]) -> dict[str, float]:
    res, n_train, n_test, n_held = DATASETS[dataset]
    lap1 = "lap1" in method
    loss = f["lap"] if lap1 else 0.0
    if method == "pca":
        return {"train": 0.0, "eval": 0.0}
    if method.startswith("gan"):
        s, inv = GANSettings(), InversionSettings()
        # D on real and fake, G forward+backward through D: ~ G + 3 D passes per image
        train = PAPER_STEPS * s.batch_size * (f["g"] + 3 * f["d"])
        evals = inv.steps * inv.restarts * (n_train + n_test + n_held) * (f["g"] + loss)
        return {"train": train, "eval": evals}
    if method.startswith("vae"):
        train = PAPER_STEPS * VAESettings().batch_size * (f["e"] + f["g"] + loss)
        return {"train": train, "eval": (n_train + n_test + n_held) * (f["e"] + f["g_fwd"])}
    s = GLOSettings()
    train = PAPER_STEPS * s.batch_size * (f["g"] + loss)
    inv = s.invert
    evals = inv.steps * inv.restarts * (n_test + n_held) * (f["g"] + loss) + n_train * f["g_fwd"]
    return {"train": train, "eval": evals}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench gpu-hours", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tflops", type=float, default=40.0, help="assumed sustained TFLOP/s")
    args = ap.parse_args(argv)
    rate = args.tflops * 1e12
    per_res = {res: per_image_flops(res) for res in (64, 128)}
    print("GFLOP per image (fwd+bwd, paper widths): "
          + "; ".join(f"{r}px: G {v['g'] / 1e9:.2f}, D {v['d'] / 1e9:.2f}, "
                      f"encoder {v['e'] / 1e9:.2f}, Lap1 {v['lap'] / 1e9:.3f}"
                      for r, v in per_res.items()))
    print(f"assumed sustained rate: {args.tflops:g} TFLOP/s per GPU\n")
    print("| dataset | configuration | train GPU-h | eval GPU-h | total GPU-h |")
    print("| --- | --- | ---: | ---: | ---: |")
    for ds, (res, *_rest) in DATASETS.items():
        total_ds = 0.0
        for m in METHODS:
            e = estimate(ds, m, per_res[res])
            tr, ev = e["train"] / rate / 3600, e["eval"] / rate / 3600
            total_ds += tr + ev
            if m == "pca":
                print(f"| {ds} | pca | CPU (streaming, ~1 h at 128 px) | - | - |")
                continue
            print(f"| {ds} | {m} | {tr:.2f} | {ev:.2f} | {tr + ev:.2f} |")
        print(f"| {ds} | **all nine** | | | **{total_ds:.1f}** |")


if __name__ == "__main__":
    main()
